"""The runtime's entry points for the CLI: `run` (train a spec, or resume) and `test` (a checkpoint).

They compose the front end (`alexspec.pipeline.loads`), the compiler (`build`), the data and the
loop, and talk to the user only through the `Reporter` they are given.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from alexspec.errors import RunError
from alexspec.ir import RunSettings
from alexspec.net import Net
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.data.base import TensorSplit, open_data, subset_indices
from alexspec.runtime.evaluate import Scores, evaluate
from alexspec.runtime.report import NullReporter, Reporter
from alexspec.runtime.restore import check_classes, open_restored_data, restore
from alexspec.runtime.train import Provenance, RunConfig, RunResult, Trainer


@dataclass(frozen=True)
class RunOptions:
    """`alexspec run`'s options; None means "the spec's [net] value (or its default)"."""

    spec: str
    layer_params: str | None = None
    inner_size: int | None = None
    allow_code: bool = False
    data: str | None = None
    gpu: str = "auto"
    epochs: float | None = None
    mini: int | None = None
    max_batches: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    save_path: str | None = None
    load_file: str | None = None
    test_freq: int | None = None
    multiview_test: bool | None = None
    color_noise: float | None = None
    seed: int | None = None
    pack_data: bool = False
    log_every: int | None = None  # None: about 50 records per run, at most every 50 steps


# RunOptions field -> (its option, the RunSettings field with the bounds it must obey)
_BOUNDED = {"mini": ("--mini", "mini"), "epochs": ("--epochs", "epochs"),
            "test_freq": ("--test-freq", "test_freq"), "max_batches": ("--max-batches", "max_batches"),
            "train_subset": ("--train-subset", "train_subset"), "color_noise": ("--color-noise", "color_noise"),
            "inner_size": ("--inner-size", "inner_size")}
_POSITIVE = {"test_subset": "--test-subset", "log_every": "--log-every"}


def check_options(opts: RunOptions) -> None:
    """Command-line overrides obey the bounds of the [net] keys they override (RunSettings);
    a bad one is a RunError naming the option."""
    for name, (option, field) in _BOUNDED.items():
        value = getattr(opts, name)
        if value is None:
            continue
        try:
            RunSettings.model_validate({field: value})
        except ValidationError as e:
            raise RunError(f"{e.errors()[0]['msg'].lower()} (got {value})", where=option) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise RunError(f"must be a finite number (got {value})", where=option)
    for name, option in _POSITIVE.items():
        value = getattr(opts, name)
        if value is not None and value <= 0:
            raise RunError(f"must be a positive number (got {value})", where=option)


def _net(text: str, path: str, params_text: str | None, params_path: str | None,
         inner_size: int | None, allow_code: bool) -> Net:
    from alexspec.pipeline import loads

    return loads(text, path, params_text, params_path, inner_size=inner_size, allow_code=allow_code)


def working_size(net: Net, inner: int) -> int:
    """imgSize from the spec, else in the paper's proportion 256:224."""
    return net.settings.img_size or max(inner, round(inner * 256 / 224))


def _config(net: Net, opts: RunOptions, inner: int, save_path: Path) -> RunConfig:
    s = net.settings
    pick = lambda v, d: d if v is None else v  # noqa: E731
    img = working_size(net, inner)
    if img < inner:
        raise RunError(f"imgSize {img} is smaller than the net's input {inner}", where=net.path)
    if opts.epochs is None and not math.isfinite(s.epochs):
        raise RunError(f"[net] epochs must be a finite number (got {s.epochs})", where=net.path)
    return RunConfig(
        mini=pick(opts.mini, s.mini), epochs=pick(opts.epochs, s.epochs), img_size=img, inner_size=inner,
        max_batches=pick(opts.max_batches, s.max_batches), test_freq=pick(opts.test_freq, s.test_freq),
        test_subset=opts.test_subset, multiview_test=pick(opts.multiview_test, s.multiview_test),
        color_noise=pick(opts.color_noise, s.color_noise), flip=s.flip, mean=s.mean,
        seed=pick(opts.seed, s.seed), keep_checkpoints=s.keep_checkpoints, save_path=save_path,
        log_every=opts.log_every)


def _set_aside(save_path: Path, reporter: Reporter, after: int | None = None) -> None:
    """Move an earlier run's checkpoints (with `after`: only those past step `after`, the
    abandoned future of a resumed timeline) from `save_path` to `earlier-<k>/`, never deleting
    them: otherwise 'keep the last N' would mix two runs, and a later `--load-file DIR` would pick
    up the abandoned timeline."""
    old = [p for p in ckpt.list_checkpoints(save_path)
           if after is None or (ckpt.checkpoint_step(p) or 0) > after]
    if not old:
        return
    k = 1
    while (save_path / f"earlier-{k}").exists():
        k += 1
    dest = save_path / f"earlier-{k}"
    dest.mkdir()
    extra = [save_path / "metrics.jsonl", save_path / "cost.png"]
    for p in old + [e for e in extra if e.exists()]:
        # a resume rewrites metrics.jsonl from its history: keep a copy of the abandoned one
        (shutil.copy2 if after is not None and p in extra else shutil.move)(str(p), dest / p.name)
    what = "an earlier run's checkpoints" if after is None else f"checkpoints past step {after}"
    reporter.warn(f"{save_path} held {what}; moved them to {dest}")


def _data_source(opts: RunOptions, net: Net) -> str | None:
    """--data, else the spec's dataPath (relative to the spec file), else dataProvider's name."""
    s = net.settings
    if s.data_provider is not None:
        _provider_kind(net)  # an unknown name is refused before any data is read
    if opts.data is not None:
        return opts.data
    if s.data_path is not None:
        p = Path(s.data_path).expanduser()
        return str(p if p.is_absolute() else Path(opts.spec).parent / p)
    return None  # the embedded default (a dataProvider other than it is refused once opened)


def run(opts: RunOptions, reporter: Reporter) -> RunResult:
    """Train `opts.spec` (resuming from `opts.load_file` when given). Raises SpecError, RunError,
    or `Interrupted` (after a save) on Ctrl-C."""
    from alexspec.compiler.distributed import setup, teardown
    from alexspec.pipeline import read_source

    check_options(opts)
    spec_text = read_source(opts.spec, "layer definition")
    params_text = read_source(opts.layer_params, "layer params") if opts.layer_params else None
    # The params file is re-read now, also on resume, as cuda-convnet did.
    net = _net(spec_text, opts.spec, params_text, opts.layer_params, opts.inner_size, opts.allow_code)
    resume, resume_path = None, None
    if opts.load_file:
        resume_path, resume = ckpt.resolve(Path(opts.load_file), reporter.warn)
        ckpt.check_architecture(resume, net, str(resume_path))
    save_path = Path(opts.save_path) if opts.save_path else (
        resume_path.parent if resume_path else Path("runs") / Path(opts.spec).stem)
    ctx = setup(net, opts.gpu)  # torchrun's environment, if any: one process per model pair
    finished = False
    try:
        result = _run(net, opts, ctx, spec_text, params_text, resume, resume_path, save_path,
                      reporter if ctx.is_main else NullReporter())
        finished = True
        return result
    finally:
        teardown(ctx, leave_together=finished)


def _run(net: Net, opts: RunOptions, ctx: Any, spec_text: str, params_text: str | None,
         resume: ckpt.Checkpoint | None, resume_path: Path | None, save_path: Path,
         reporter: Reporter) -> RunResult:
    from alexspec.compiler.distributed import check_batch, model_for

    seed = opts.seed if opts.seed is not None else net.settings.seed
    model = model_for(net, ctx, seed=seed)  # this process's model (its GPU's part if hybrid)
    inner = model.input_shape[1]
    cfg = _config(net, opts, inner, save_path)
    if ctx.is_main:
        save_path.mkdir(parents=True, exist_ok=True)
        if resume is None:
            _set_aside(save_path, reporter)
        elif resume_path is not None and save_path.resolve() != resume_path.parent.resolve():
            _set_aside(save_path, reporter)  # another directory's checkpoints are another run's
        else:
            _set_aside(save_path, reporter, after=resume.step)
    if ctx.is_main and not os.access(save_path, os.W_OK):
        raise RunError("cannot write checkpoints here", where=str(save_path))

    data = open_data(_data_source(opts, net), cfg.img_size, pack=opts.pack_data and ctx.is_main,
                     on_skip=lambda f, why: reporter.warn(f"skipped corrupt image {f}: {why}"))
    if net.settings.data_provider is not None and opts.data is None:
        _check_provider(net, data.name)
    check_classes(model, data)
    train_split = data.train
    subset = opts.train_subset if opts.train_subset is not None else net.settings.train_subset
    keep = subset_indices(len(train_split), subset, cfg.seed)
    if keep is not None:
        train_split = _subset(train_split, keep)
    reporter.info(data.describe() + (f"; training on a subset of {len(train_split):,}" if keep is not None else ""))
    reporter.info(ctx.summary or model.placement_summary)
    if ctx.distributed:
        check_batch(min(cfg.mini, max(len(train_split), 1)), ctx)
    prov = Provenance(spec_text, opts.spec, params_text, opts.layer_params, data.name, data.location)
    trainer = Trainer(model, data, train_split, cfg, reporter, prov, resume=resume, dist=ctx)
    reporter.info(
        f"net {net.path}: {net.params:,} parameters, input {inner}x{inner} crops of {cfg.img_size}x{cfg.img_size}; "
        f"minibatch {trainer.batch}, {cfg.epochs:g} epochs of {trainer.steps_per_epoch} steps"
        + (f", at most {cfg.max_batches} steps" if cfg.max_batches else "")
        + (f"; resuming {resume_path} at step {resume.step}" if resume else "")
        + f"; checkpoints in {save_path}")
    return trainer.run()


_PROVIDERS = {"fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist",
              "cifar": "cifar-10", "cifar-10": "cifar-10", "cifar10": "cifar-10",
              "folder": "folder", "image-folder": "folder", "imagenet": "folder"}


def _provider_kind(net: Net) -> str:
    want = net.settings.data_provider or ""
    kind = _PROVIDERS.get(want.lower())
    if kind is None:
        raise RunError(f"unknown dataProvider {want!r}", where=net.path,
                       hint="one of " + ", ".join(sorted(_PROVIDERS)))
    return kind


def _check_provider(net: Net, found: str) -> None:
    """The spec's dataProvider names the kind of data it expects; refuse other data."""
    want = net.settings.data_provider
    if _provider_kind(net) != found:
        raise RunError(f"dataProvider={want} but the data found is {found}", where=net.path,
                       hint="set dataPath (or --data) to a matching dataset")


def _subset(split: Any, keep: torch.Tensor) -> Any:
    if isinstance(split, TensorSplit):
        return split.subset(keep)
    images, labels = split.get(keep)  # decoded once: a subset is small
    return TensorSplit(images, labels)


@dataclass(frozen=True)
class TestResult:
    """What `alexspec test` reports: the checkpoint, its step, the data line and the scores."""

    checkpoint: str
    step: int
    data: str
    scores: Scores


def test(checkpoint: str, reporter: Reporter, *, multiview: bool = False, data: str | None = None,
         gpu: str = "auto", limit: int | None = None) -> TestResult:
    """Rebuild the net from the spec text stored in `checkpoint`, load its weights and report
    log-prob, top-1 and top-5 error on the validation/test set (centre crop or ten views)."""
    if limit is not None and limit <= 0:
        raise RunError(f"must be a positive number of images (got {limit})", where="--test-subset")
    r = restore(checkpoint, gpu, reporter.warn)
    ds = open_restored_data(r, data, reporter.warn)
    reporter.info(f"checkpoint {r.path} (step {r.step}); " + ds.describe())
    reporter.info(r.model.placement_summary)
    n = len(ds.val) if limit is None else min(limit, len(ds.val))
    reporter.testing(n)
    scores = evaluate(r.model, ds.val, r.augment, r.stats, multiview=multiview,
                      batch=max(r.checkpoint.settings.mini, 128), limit=limit, progress=reporter.test_progress)
    reporter.finish()
    return TestResult(str(r.path), r.step, ds.describe(), scores)
