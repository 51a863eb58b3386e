"""The runtime's entry points for the CLI: `run` (train a spec, or resume) and `test` (a checkpoint).

They compose the front end (`alexspec.pipeline.loads`), the compiler (`build`), the data and the
loop, and talk to the user only through the `Reporter` they are given.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from alexspec.errors import RunError
from alexspec.net import Net
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.data.base import DataSource, SubsetSplit, TensorSplit, covered, open_data, subset_indices
from alexspec.runtime.evaluate import Scores, evaluate
from alexspec.runtime.header import RunPlan, header_lines, warnings
from alexspec.runtime.lock import SavePathLock
from alexspec.runtime.report import NullReporter, Reporter
from alexspec.runtime.signals import Interrupted
from alexspec.runtime.restore import check_classes, open_restored_data, restore
from alexspec.runtime.train import Provenance, RunResult, Trainer
from alexspec.settings import Resolved, RunSettings, check_value, field_names, option_name, resolve


@dataclass(frozen=True)
class RunOptions:
    """`alexspec run`'s options. The run-setting fields (those named like a `RunSettings` field)
    override the spec's `[net]` value and the checkpoint's when not None; `overrides` gives any
    other `RunSettings` field by name (the CLI passes every setting through it)."""

    spec: str | None
    layer_params: str | None = None
    inner_size: int | None = None
    allow_code: bool = False
    lenient: bool = False  # ignore, with warnings, the keys cuda-convnet ignored (alexspec.load)
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
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def command_line(self) -> dict[str, Any]:
        """The settings given on the command line: field name -> value (not None)."""
        given = {k: getattr(self, k) for k in field_names() if hasattr(self, k)}
        given.update(self.overrides)
        return {k: v for k, v in given.items() if v is not None}


def check_options(opts: RunOptions) -> None:
    """Command-line overrides obey the bounds of the settings they override (RunSettings); a
    bad one is a RunError naming the option. So does --gpu."""
    for name, value in opts.command_line().items():
        why = check_value(name, value)
        if why is not None:
            raise RunError(f"{why} (got {value})", where=option_name(name))
    check_gpu(opts.gpu)


_DEVICE = re.compile(r"^(auto|cpu|\d+|cuda(:\d+)?)$")


def check_gpu(gpu: str) -> None:
    """--gpu is auto, or a comma list of cpu / N / cuda / cuda:N (other torch device types,
    such as mps, are not supported by the compiler)."""
    items = [g.strip().lower() for g in str(gpu).split(",")]
    bad = [g for g in items if not _DEVICE.match(g)]
    if bad or ("auto" in items and len(items) > 1):
        raise RunError(f"not a device list: {gpu!r}", where="--gpu",
                       hint="auto, cpu, or CUDA device numbers such as 0,1")


def _net(text: str, path: str, params_text: str | None, params_path: str | None,
         inner_size: int | None, allow_code: bool, lenient: bool = False) -> Net:
    from alexspec.pipeline import loads

    return loads(text, path, params_text, params_path, inner_size=inner_size, allow_code=allow_code,
                 lenient=lenient)


def working_size(settings: RunSettings, inner: int) -> int:
    """imgSize from the settings, else in the paper's proportion 256:224."""
    return settings.img_size or max(inner, round(inner * 256 / 224))


def _final(settings: RunSettings, inner: int, where: str) -> RunSettings:
    """The settings with the working and input sizes filled in (from the built model)."""
    img = working_size(settings, inner)
    if img < inner:
        raise RunError(f"imgSize {img} is smaller than the net's input {inner}", where=where)
    try:
        return settings.updated({"img_size": img, "inner_size": inner})
    except ValidationError as e:
        raise RunError(f"the working size {img} is out of range: {e.errors()[0]['msg'].lower()}",
                       where=where) from None


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


@dataclass(frozen=True)
class _Source:
    """Where a run's spec and params come from, and the checkpoint it resumes."""

    spec_text: str
    spec_path: str
    params_text: str | None
    params_path: str | None
    resume: ckpt.Checkpoint | None
    resume_path: Path | None


def _load_for_resume(path: Path) -> ckpt.Checkpoint:
    """A checkpoint a run may start from: loadable, and not from a non-finite validation."""
    c = ckpt.load_file(path)
    if not c.validation_finite:
        raise RunError("this checkpoint was written after a validation that was not finite; a run "
                       "does not start from it", where=str(path), hint="resume an earlier checkpoint")
    return c


def _sources(opts: RunOptions, reporter: Reporter) -> _Source:
    """The checkpoint (if resuming), the spec (the given file, else the checkpoint's text) and
    the params file (given, else the checkpoint's params file re-read, as cuda-convnet did)."""
    from alexspec.pipeline import read_source

    resume, resume_path = None, None
    if opts.load_file:
        resume_path, resume = ckpt.resolve(Path(opts.load_file), reporter.warn, load=_load_for_resume)
    if opts.spec is not None:
        spec_text, spec_path = read_source(opts.spec, "layer definition"), opts.spec
    elif resume is not None:
        spec_text, spec_path = resume.spec_text, resume.spec_path
    else:
        raise RunError("no spec to train", where="alexspec run",
                       hint="give a spec file, or --load-file CKPT to resume a run")
    params_path = opts.layer_params or (resume.params_path if resume is not None else None)
    params_text = None
    if params_path is not None:
        if opts.layer_params is None and not Path(params_path).is_file():
            params_text = resume.params_text  # type: ignore[union-attr]
            reporter.warn(f"the params file {params_path} is gone; using the copy in the checkpoint")
        else:
            params_text = read_source(params_path, "layer params")
    return _Source(spec_text, spec_path, params_text, params_path, resume, resume_path)


def _data_source(opts: RunOptions, net: Net, resume: ckpt.Checkpoint | None,
                 spec_path: str) -> str | None:
    """--data, else the checkpoint's data (a resume continues on what it trained on), else the
    spec's dataPath (relative to the spec file), else the embedded default."""
    s = net.settings
    if s.data_provider is not None:
        _provider_kind(net)  # an unknown name is refused before any data is read
    if opts.data is not None:
        return opts.data
    if resume is not None:
        d = resume.data
        if not Path(d.location).is_dir():
            raise RunError(f"the checkpoint trained on {d.name} in {d.location}, which is gone",
                           where=str(resume.path), hint="pass --data DIR to go on training on other data")
        return d.location
    if s.data_path is not None:
        p = Path(s.data_path).expanduser()
        return str(p if p.is_absolute() else Path(spec_path).parent / p)
    return None  # the embedded default (a dataProvider other than it is refused once opened)


def _check_resumed_data(resume: ckpt.Checkpoint, data: DataSource, given: bool) -> str | None:
    """Refuse other data on resume unless --data was given; then the header line saying so."""
    d = resume.data
    same_place = Path(d.location).resolve() == Path(data.location).resolve()
    same_classes = tuple(d.classes) == tuple(data.classes)
    if same_place and same_classes:
        return None
    what = (f"other classes ({len(data.classes)}: {', '.join(data.classes[:5])}"
            f"{'...' if len(data.classes) > 5 else ''})" if not same_classes else "")
    if not given:
        raise RunError(f"the checkpoint trained on {d.name} in {d.location} ({len(d.classes)} classes); "
                       f"the data found is {data.name} in {data.location}" + (f" with {what}" if what else ""),
                       where=str(resume.path), hint="pass --data to train on other data on purpose")
    return (f"--data: training on {data.name} in {data.location}, not on the checkpoint's {d.name} "
            f"in {d.location}" + (f"; {what}, by label number" if what else ""))


def run(opts: RunOptions, reporter: Reporter) -> RunResult:
    """Train `opts.spec` (resuming from `opts.load_file` when given: the checkpoint's settings
    are restored and the command line's override them). Raises SpecError, RunError, or
    `Interrupted` (after a save) on a stop signal."""
    from alexspec.compiler.distributed import setup, teardown

    check_options(opts)
    src = _sources(opts, reporter)
    resume = src.resume
    inner_size = opts.inner_size or (resume.settings.inner_size if resume is not None else None)
    # The params file is re-read now, also on resume, as cuda-convnet did.
    net = _net(src.spec_text, src.spec_path, src.params_text, src.params_path, inner_size, opts.allow_code,
               opts.lenient)
    if resume is not None:
        ckpt.check_architecture(resume, net, str(src.resume_path))
    try:
        resolved = resolve(net.settings, resume.settings if resume is not None else None,
                           opts.command_line())
    except ValidationError as e:  # a restored value out of the spec's bounds (checked above otherwise)
        raise RunError(f"settings out of range: {e.errors()[0]['msg'].lower()}", where=src.spec_path) from None
    save_path = Path(opts.save_path) if opts.save_path else (
        src.resume_path.parent if src.resume_path else Path("runs") / Path(src.spec_path).stem)
    ctx = setup(net, opts.gpu)  # torchrun's environment, if any: one process per model pair
    finished = False
    lock = SavePathLock(save_path) if ctx.is_main else None
    try:
        if lock is not None:
            _prepare_save_path(save_path)
            lock.acquire()
            for p in ckpt.remove_temporaries(save_path):
                reporter.warn(f"removed {p}, left by an interrupted checkpoint write")
        result = _run(net, opts, ctx, src, resolved, save_path,
                      reporter if ctx.is_main else NullReporter())
        finished = True
        return result
    except Interrupted:
        finished = True  # every process agreed to stop at this step and saved: leave together
        raise
    finally:
        if lock is not None:
            lock.release()
        teardown(ctx, leave_together=finished)


def _prepare_save_path(save_path: Path) -> None:
    """Create the save path, or say in one line why it cannot be one."""
    if save_path.exists() and not save_path.is_dir():
        raise RunError("the save path is a file, not a directory", where=str(save_path),
                       hint="pass --save-path DIR (a directory, created if missing)")
    try:
        save_path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create the save path: {(e.strerror or str(e)).lower()}", where=str(save_path),
                       hint="pass --save-path DIR in a writable place") from None
    if not os.access(save_path, os.W_OK):
        raise RunError("cannot write checkpoints here (not writable)", where=str(save_path),
                       hint="pass --save-path DIR in a writable place")
    probe = save_path / f".probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunError(f"cannot write checkpoints here: {(e.strerror or str(e)).lower()}", where=str(save_path),
                       hint="pass --save-path DIR in a writable place") from None


def _run(net: Net, opts: RunOptions, ctx: Any, src: _Source, resolved: Resolved, save_path: Path,
         reporter: Reporter) -> RunResult:
    from alexspec.compiler.distributed import check_batch, model_for

    resume, resume_path = src.resume, src.resume_path
    model = model_for(net, ctx, seed=resolved.settings.seed)  # this process's model (its GPU's part if hybrid)
    inner = model.input_shape[1]
    cfg = _final(resolved.settings, inner, src.spec_path)
    if ctx.is_main:
        if resume is None:
            _set_aside(save_path, reporter)
        elif resume_path is not None and save_path.resolve() != resume_path.parent.resolve():
            _set_aside(save_path, reporter)  # another directory's checkpoints are another run's
        else:
            _set_aside(save_path, reporter, after=resume.step)

    data = open_data(_data_source(opts, net, resume, src.spec_path), cfg.img_size,
                     pack=opts.pack_data and ctx.is_main,
                     on_skip=lambda f, why: reporter.warn(f"skipped corrupt image {f}: {why}"))
    if net.settings.data_provider is not None and opts.data is None and resume is None:
        _check_provider(net, data.name)
    other_data = _check_resumed_data(resume, data, opts.data is not None) if resume is not None else None
    check_classes(model, data)
    train_split, val_split = data.train, data.val
    keep = subset_indices(train_split.labels, cfg.train_subset, cfg.seed)
    if keep is not None:
        train_split = _subset(train_split, keep)
    vkeep = subset_indices(val_split.labels, cfg.test_subset, cfg.seed)
    if vkeep is not None:
        val_split = SubsetSplit(val_split, vkeep)
    data_line = _data_line(data, train_split, val_split, keep, vkeep)  # the full sizes, then the subsets
    data = replace(data, train=train_split, val=val_split)
    if ctx.distributed:
        check_batch(min(cfg.mini, max(len(train_split), 1)), ctx)
    prov = Provenance(src.spec_text, src.spec_path, src.params_text, src.params_path,
                      data.name, data.location)
    trainer = Trainer(model, data, train_split, cfg, reporter, prov, save_path=save_path,
                      resume=resume, dist=ctx)
    plan = RunPlan(net, cfg, data, n_classes_out=model.num_classes, batch=trainer.batch,
                   steps_per_epoch=trainer.steps_per_epoch, total=trainer.total)
    for line in header_lines(plan, data_line=data_line, devices=ctx.summary or
                             model.placement_summary, resolved=resolved, other_data=other_data,
                             resume=f"resuming {resume_path} at step {resume.step}" if resume else None,
                             save_path=str(save_path)):
        reporter.info(line)
    for w in warnings(plan, spec_path=src.spec_path):
        reporter.warn(w)
    return trainer.run()


def _data_line(data: DataSource, train: Any, val: Any, keep: torch.Tensor | None,
               vkeep: torch.Tensor | None) -> str:
    out = data.describe()
    if keep is not None:
        out += f"; training on a stratified subset of {len(keep):,} ({covered(train.labels)} classes)"
    if vkeep is not None:
        out += f"; validating on a stratified subset of {len(vkeep):,} ({covered(val.labels)} classes)"
    return out


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
    log-prob, top-1 and top-5 error on the validation/test set (centre crop or ten views; with
    `limit`, a seeded subset stratified by class)."""
    if limit is not None and limit <= 0:
        raise RunError(f"must be a positive number of images (got {limit})", where="--test-subset")
    check_gpu(gpu)
    r = restore(checkpoint, gpu, reporter.warn)
    ds = open_restored_data(r, data, reporter.warn)
    val = ds.val
    keep = subset_indices(val.labels, limit, r.checkpoint.settings.seed)
    line = ds.describe()
    if keep is not None:
        val = SubsetSplit(val, keep)
        line += f"; a stratified subset of {len(keep):,} ({covered(val.labels)} classes)"
    reporter.info(f"checkpoint {r.path} (step {r.step}); " + line)
    reporter.info(r.model.placement_summary)
    reporter.testing(len(val))
    scores = evaluate(r.model, val, r.augment, r.stats, multiview=multiview,
                      batch=max(r.checkpoint.settings.mini, 128), progress=reporter.test_progress)
    reporter.finish()
    if scores is None or scores.images == 0:
        raise RunError(f"none of the {len(val):,} test images could be read", where=ds.location,
                       hint="check the val/ images (every one was skipped as corrupt)")
    return TestResult(str(r.path), r.step, ds.describe(), scores)
