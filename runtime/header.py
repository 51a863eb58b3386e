"""What a run says before it trains: the header lines (what it will do) and the warnings (where
it will not learn well), each warning naming the option that fixes it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from alexspec.words import count
from alexspec.net import Net
from alexspec.runtime.data.base import DataSource
from alexspec.settings import Resolved, RunSettings, option_name

FEW_UPDATES = 400  # fewer optimizer updates than this rarely train a net from scratch
SIZE_RATIO = 2.0  # stored images this many times smaller or larger than the working size


@dataclass(frozen=True)
class RunPlan:
    """The facts the header and the warnings are made of."""

    net: Net
    settings: RunSettings  # resolved (img_size, inner_size set)
    data: DataSource  # after the subsets
    n_classes_out: int  # the output layer's size
    batch: int
    steps_per_epoch: int
    total: int  # optimizer updates this run will make (to the end, or --max-batches)


def _onoff(v: bool) -> str:
    return "on" if v else "off"


def augmentation_line(s: RunSettings, stored: int) -> str:
    """`input: stored 32x32 scaled to 28x28 (x0.88); random 24x24 crops, flips on, ...`."""
    img, inner = s.img_size, s.inner_size
    scale = f"stored {stored}x{stored} scaled to {img}x{img} (x{img / stored:.3g})" if stored != img \
        else f"stored at the working size {img}x{img}"
    if inner == img:
        crop = f"the whole {inner}x{inner} image (no crops: innerSize = imgSize)"
    elif s.crop:
        crop = f"random {inner}x{inner} crops (--no-crop: the centre one)"
    else:
        crop = f"the centre {inner}x{inner} crop (--crop: random ones)"
    flips = f"flips {_onoff(s.flip)} ({'--no-flip' if s.flip else '--flip'})"
    noise = f"colour noise std {s.color_noise:g}" if s.color_noise > 0 else "colour noise off"
    test = "ten views" if s.multiview_test else "centre crop"
    return (f"input: {scale}; {crop}; {flips}; {noise}; mean {s.mean} subtracted; testing on the {test}")


def header_lines(plan: RunPlan, *, data_line: str, devices: str, resolved: Resolved,
                 other_data: str | None, resume: str | None, save_path: str) -> list[str]:
    """The run header, one fact per line."""
    s, net = plan.settings, plan.net
    lines = [data_line, devices]
    updates = (f"{count(plan.total, 'optimizer update')} ({count(s.epochs, 'epoch', 'g')} of "
               f"{count(plan.steps_per_epoch, 'step')}")
    updates += f", at most {count(s.max_batches, 'step')})" if s.max_batches else ")"
    lines.append(f"net {net.path}: {net.params:,} parameters; minibatch {plan.batch}, {updates}"
                 + (f"; {resume}" if resume else "") + f"; checkpoints in {save_path}")
    lines.append(augmentation_line(s, plan.data.native_size or plan.data.stored_size))
    lines.append(f"classes: {len(plan.data.classes)} in the data, {plan.n_classes_out} outputs in the net")
    if resume:
        if resolved.restored:
            lines.append("restored from the checkpoint: " + ", ".join(
                f"{option_name(f)} {getattr(s, f)}" for f in resolved.restored))
        if resolved.overridden:
            lines.append("the command line overrides the checkpoint's " + resolved.describe_overrides())
    if other_data:
        lines.append(other_data)
    return lines


def _suggest(n: int, s: RunSettings) -> str:
    """The epochs that give at least FEW_UPDATES updates on `n` images at the spec's minibatch
    (its learning rates were set for that size: a smaller batch at the same rates may not learn)."""
    steps = max(1, n // min(s.mini, n))
    epochs = max(math.ceil(s.epochs), math.ceil(FEW_UPDATES / steps))
    return f"--epochs {epochs} gives {count(steps * epochs, 'update')} at minibatch {s.mini}"


def warnings(plan: RunPlan, *, spec_path: str) -> list[str]:
    """One line per way this run may not learn, each naming what fixes it."""
    s, out = plan.settings, []
    n = len(plan.data.train)
    full = max(1, math.ceil(s.epochs * plan.steps_per_epoch))  # the whole run, --max-batches aside
    if full < FEW_UPDATES:
        out.append(f"only {count(full, 'optimizer update')} ({count(plan.steps_per_epoch, 'step')} per epoch over "
                   f"{n:,} images x {s.epochs:g} epochs): too few to train a net; {_suggest(n, s)}")
    k = len(plan.data.classes)
    if plan.n_classes_out > k:
        out.append(f"the net has {plan.n_classes_out} outputs for {k} classes: it trains, but the extra "
                   f"outputs only learn to be never chosen; set outputs={k} in the last fc layer of {spec_path}")
    stored = plan.data.native_size or plan.data.stored_size
    if stored and (s.img_size / stored > SIZE_RATIO or stored / s.img_size > SIZE_RATIO):
        out.append(f"the images are {stored}x{stored} and the net works at {s.img_size}x{s.img_size} "
                   f"(x{s.img_size / stored:.2g}): set imgSize and innerSize in [net] of {spec_path}, or "
                   f"{option_name('inner_size')} N, near the images' size")
    return out
