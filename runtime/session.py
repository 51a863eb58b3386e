"""The runtime's entry points for the CLI: `run` (train a spec, or resume) and `test` (a checkpoint).

They compose the front end (`alexspec.pipeline.loads`), the compiler (`build`), the data and the
loop, and talk to the user only through the `Reporter` they are given.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alexspec.errors import RunError, SpecError
from alexspec.net import Net
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.augment import Augment, DataStats
from alexspec.runtime.data.base import DataSource, TensorSplit, open_data, subset_indices
from alexspec.runtime.evaluate import Scores, evaluate
from alexspec.runtime.report import NullReporter, Reporter
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


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        import alexspec

        alexspec.load(path)  # raises the front end's located SpecError for the same problem
        raise RunError(f"cannot read the {what} file", where=path) from None


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
    return RunConfig(
        mini=pick(opts.mini, s.mini), epochs=pick(opts.epochs, s.epochs), img_size=img, inner_size=inner,
        max_batches=pick(opts.max_batches, s.max_batches), test_freq=pick(opts.test_freq, s.test_freq),
        test_subset=opts.test_subset, multiview_test=pick(opts.multiview_test, s.multiview_test),
        color_noise=pick(opts.color_noise, s.color_noise), flip=s.flip, mean=s.mean,
        seed=pick(opts.seed, s.seed), keep_checkpoints=s.keep_checkpoints, save_path=save_path,
        log_every=opts.log_every)


def _set_aside(save_path: Path, reporter: Reporter) -> None:
    """A fresh run into a directory holding an earlier run's checkpoints moves them to
    `earlier-<k>/` (never deletes them): otherwise 'keep the last N' would mix two runs."""
    old = ckpt.list_checkpoints(save_path)
    if not old:
        return
    k = 1
    while (save_path / f"earlier-{k}").exists():
        k += 1
    dest = save_path / f"earlier-{k}"
    dest.mkdir()
    for p in old + [save_path / "metrics.jsonl", save_path / "cost.png"]:
        if p.exists():
            shutil.move(str(p), dest / p.name)
    reporter.warn(f"{save_path} held an earlier run's checkpoints; moved them to {dest}")


def _check_classes(model: Any, data: DataSource) -> None:
    if len(data.classes) > model.num_classes:
        raise RunError(f"the data has {len(data.classes)} classes but the net has {model.num_classes} "
                       "outputs", where=data.location, hint="set the last fc layer's outputs")


def run(opts: RunOptions, reporter: Reporter) -> RunResult:
    """Train `opts.spec` (resuming from `opts.load_file` when given). Raises SpecError, RunError,
    or `Interrupted` (after a save) on Ctrl-C."""
    from alexspec.compiler.distributed import setup, teardown

    spec_text = _read(opts.spec, "layer definition")
    params_text = _read(opts.layer_params, "layer params") if opts.layer_params else None
    # The params file is re-read now, also on resume, as cuda-convnet did.
    net = _net(spec_text, opts.spec, params_text, opts.layer_params, opts.inner_size, opts.allow_code)
    resume, resume_path = None, None
    if opts.load_file:
        resume_path, resume = ckpt.resolve(Path(opts.load_file), reporter.warn)
        ckpt.check_architecture(resume, net, str(resume_path))
    save_path = Path(opts.save_path) if opts.save_path else (
        resume_path.parent if resume_path else Path("runs") / Path(opts.spec).stem)
    ctx = setup(net, opts.gpu)  # torchrun's environment, if any: one process per model pair
    try:
        return _run(net, opts, ctx, spec_text, params_text, resume, resume_path, save_path,
                    reporter if ctx.is_main else NullReporter())
    finally:
        teardown(ctx)


def _run(net: Net, opts: RunOptions, ctx: Any, spec_text: str, params_text: str | None,
         resume: dict[str, Any] | None, resume_path: Path | None, save_path: Path,
         reporter: Reporter) -> RunResult:
    from alexspec.compiler import build

    seed = opts.seed if opts.seed is not None else net.settings.seed
    model = build(net, ctx.devices, seed=seed)
    inner = model.input_shape[1]
    cfg = _config(net, opts, inner, save_path)
    if resume is None and ctx.is_main:
        save_path.mkdir(parents=True, exist_ok=True)
        _set_aside(save_path, reporter)
    if ctx.is_main and not os.access(save_path, os.W_OK):
        raise RunError("cannot write checkpoints here", where=str(save_path))

    data = open_data(opts.data, cfg.img_size, pack=opts.pack_data and ctx.is_main,
                     on_skip=lambda f, why: reporter.warn(f"skipped corrupt image {f}: {why}"))
    _check_classes(model, data)
    train_split = data.train
    keep = subset_indices(len(train_split), opts.train_subset or net.settings.train_subset, cfg.seed)
    if keep is not None:
        train_split = _subset(train_split, keep)
    reporter.info(data.describe() + (f"; training on a subset of {len(train_split):,}" if keep is not None else ""))
    reporter.info(ctx.summary or model.placement_summary)
    steps_per_epoch = max(1, len(train_split) // min(cfg.mini, len(train_split)))
    reporter.info(
        f"net {net.path}: {net.params:,} parameters, input {inner}x{inner} crops of {cfg.img_size}x{cfg.img_size}; "
        f"minibatch {min(cfg.mini, len(train_split))}, {cfg.epochs:g} epochs of {steps_per_epoch} steps"
        + (f", at most {cfg.max_batches} steps" if cfg.max_batches else "")
        + (f"; resuming {resume_path} at step {resume['step']}" if resume else "")
        + f"; checkpoints in {save_path}")
    prov = Provenance(spec_text, opts.spec, params_text, opts.layer_params, data.name, data.location)
    trainer = Trainer(model, data, train_split, cfg, reporter, prov, resume=resume, dist=ctx)
    return trainer.run()


def _subset(split: Any, keep: torch.Tensor) -> Any:
    if isinstance(split, TensorSplit):
        return split.subset(keep)
    images, labels = split.get(keep)  # decoded once: a subset is small
    return TensorSplit(images, labels)


@dataclass(frozen=True)
class TestResult:
    checkpoint: str
    step: int
    data: str
    scores: Scores


def test(checkpoint: str, reporter: Reporter, *, multiview: bool = False, data: str | None = None,
         gpu: str = "auto", limit: int | None = None) -> TestResult:
    """Rebuild the net from the spec text stored in `checkpoint`, load its weights and report
    log-prob, top-1 and top-5 error on the validation/test set (centre crop or ten views)."""
    from alexspec.compiler import build

    path, c = ckpt.resolve(Path(checkpoint), reporter.warn)
    try:
        net = _net(c["spec_text"], c["spec_path"], c["params_text"], c["params_path"],
                   c["settings"]["inner_size"], True)
    except SpecError as e:
        raise RunError(f"the spec stored in the checkpoint no longer loads:\n{e}", where=str(path)) from None
    model = build(net, gpu, seed=0, init=False)
    model.load_state_dict(c["model"])
    s = c["settings"]
    source = data
    if source is None and (Path(c["data"]["location"]).is_dir() or c["data"]["name"] != "fashion-mnist"):
        source = c["data"]["location"]  # where it trained (the embedded default wherever it is)
    ds = open_data(source, s["img_size"], on_skip=lambda f, why: reporter.warn(f"skipped corrupt image {f}: {why}"))
    _check_classes(model, ds)
    reporter.info(f"checkpoint {path} (step {c['step']}); " + ds.describe())
    reporter.info(model.placement_summary)
    aug = Augment(s["img_size"], s["inner_size"], s["flip"], 0.0)
    n = len(ds.val) if limit is None else min(limit, len(ds.val))
    reporter.testing(n)
    scores = evaluate(model, ds.val, aug, DataStats.from_state(c["stats"]), multiview=multiview,
                      batch=max(int(s["mini"]), 128), limit=limit, progress=reporter.test_progress)
    reporter.finish()
    return TestResult(str(path), int(c["step"]), ds.describe(), scores)
