"""The training loop: the paper's SGD over augmented minibatches, tests, checkpoints, Ctrl-C, NaN.

One step: take the next minibatch of this epoch's permutation, augment it (crop, flip, colour
noise from the augmentation generator), forward, check the loss is finite (else stop *before* the
update, naming the step), backward, check the gradients, update, and then, at a step boundary,
test / checkpoint / stop on Ctrl-C. Everything a step depends on (weights, momentum, plateau
state, epoch and position, the torch RNG used by dropout, the augmentation generator) is in the
checkpoint, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from alexspec.errors import RunError
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.augment import Augment, compute_stats
from alexspec.runtime.data.base import DataSource, Split
from alexspec.runtime.evaluate import Scores, evaluate
from alexspec.runtime.metrics import MetricsLog, Record, TestRecord, TrainRecord, plot_costs
from alexspec.runtime.report import Reporter, StepInfo, TestInfo, error_rate
from alexspec.runtime.schedule import PlateauPolicy, progress
from alexspec.runtime.sgd import PaperSGD
from alexspec.runtime.signals import Interrupted, StopFlag
from alexspec.settings import RunSettings


@dataclass(frozen=True)
class Provenance:
    """What a checkpoint must carry to rebuild the net: the spec and params text, and the data."""

    spec_text: str
    spec_path: str
    params_text: str | None
    params_path: str | None
    data_name: str
    data_location: str


@dataclass
class Position:
    """Where the loop is: global step (steps done), epoch (0-based) and batch within it."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    skipped_batches: int = 0


@dataclass
class RunResult:
    """What a run did: steps done, the last test, the last checkpoint and the metrics history."""

    steps: int
    last_test: TestInfo | None
    checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    is_main: bool = True  # False on every torchrun rank but 0: only rank 0 reports


def epoch_order(n: int, epoch: int, seed: int) -> torch.Tensor:
    """The permutation of the training set for `epoch`: a function of (seed, epoch) only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(1_000_003 * (seed + 1) + epoch))


def _grads_finite(model: torch.nn.Module) -> str | None:
    """The name of the first parameter whose gradient is not finite, or None.

    One fused norm per device and one host sync in the common case; the per-parameter search
    runs only after something was found.
    """
    named = [(n, p.grad) for n, p in model.named_parameters() if p.grad is not None]
    by_device: dict[torch.device, list[torch.Tensor]] = {}
    for _, g in named:
        by_device.setdefault(g.device, []).append(g)
    norms = [torch.stack(torch._foreach_norm(gs)).sum().cpu() for gs in by_device.values()]
    if not norms or bool(torch.isfinite(torch.stack(norms)).all()):
        return None
    # A finite but huge gradient can overflow its norm: only a non-finite element counts.
    return next((n for n, g in named if not bool(torch.isfinite(g).all())), None)


class Trainer:
    """One run: build with the model, the data and the resolved settings (`img_size` and
    `inner_size` set); `run()` trains. Checkpoints and metrics go to `save_path` (None: nowhere)."""

    classifies = True  # the cost has classes (Cost.classifies; False for cost.sum2): set by each step

    def __init__(self, model: Any, data: DataSource, train_split: Split, settings: RunSettings,
                 reporter: Reporter, provenance: Provenance, *, save_path: Path | None = None,
                 resume: ckpt.Checkpoint | None = None, dist: Any = None):
        if settings.img_size is None or settings.inner_size is None:
            raise ValueError("the settings must be resolved (img_size and inner_size set)")
        cfg = settings
        self.model, self.data, self.split, self.cfg = model, data, train_split, cfg
        self.save_path = save_path
        # Multi-process (torchrun): `dist` is the compiler's DistContext. Every process draws the
        # same global batch and augmentation, trains on its shard through DDP, and the processes
        # agree each step (one all-reduce) on the loss, finiteness and Ctrl-C; rank 0 saves.
        self.dist = dist if dist is not None and dist.distributed else None
        self.forward = model
        if self.dist is not None:
            from alexspec.compiler.distributed import wrap

            self.forward = wrap(model, self.dist)
        self.stop_requested = False
        self._flag: StopFlag | None = None
        self.reporter, self.provenance = reporter, provenance
        n = len(train_split)
        if n == 0:
            raise RunError("the training set is empty", where=data.location)
        self.batch = min(cfg.mini, n)
        self.steps_per_epoch = n // self.batch
        self.schedule_steps = max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        self.total = self.schedule_steps if cfg.max_batches is None else min(cfg.max_batches, self.schedule_steps)
        self.log_every = cfg.log_every or max(1, min(50, self.total // 50))
        self.augment = Augment(cfg.img_size, cfg.inner_size, cfg.flip, cfg.color_noise, crop=cfg.crop)
        self.sgd = PaperSGD(model.learning_rules())
        plateaus = [r.eps.max_drops for r in self.sgd.rules if r.eps.kind == "plateau"]
        drops = max(plateaus, default=0) if cfg.plateau_drops is None or not plateaus else cfg.plateau_drops
        self.plateau = PlateauPolicy(max_drops=drops, patience=cfg.plateau_patience,
                                     threshold=cfg.plateau_threshold)
        self.gen = torch.Generator().manual_seed(2 * cfg.seed + 1)  # augmentation draws
        self.pos = Position()
        history: list[Record] = []
        if resume is not None:
            self.stats = resume.stats
            self._restore(resume)
            history = list(resume.history)
        else:
            # Dropout draws from torch's own RNG (CPU and CUDA); each process its own masks.
            torch.manual_seed(cfg.seed + 7919 * (self.dist.rank if self.dist is not None else 0))
            self.stats = compute_stats(train_split, cfg.img_size, cfg.mean, seed=cfg.seed, where=data.location)
        # Only one process (rank 0) writes the run's files.
        self.writes = save_path is not None and (self.dist is None or self.dist.is_main)
        self.metrics = MetricsLog(save_path / "metrics.jsonl" if self.writes else None, history)
        self._order: tuple[int, torch.Tensor] | None = None
        self.last_saved: Path | None = None
        self.last_test: TestInfo | None = None

    # ------------------------------------------------------------------ state

    def _restore(self, c: ckpt.Checkpoint) -> None:
        t = c.train
        where = str(c.path)
        # The loop position counts batches of this size over this many images: another
        # --mini or --train-subset would put it past the epoch's end or on other images.
        old_n = t.train_images
        old_batch = min(c.settings.mini, old_n) if old_n is not None else c.settings.mini
        if old_batch != self.batch or (old_n is not None and old_n != len(self.split)):
            was = f"minibatch {old_batch}" + (f" over {old_n:,} training images" if old_n is not None else "")
            now = f"minibatch {self.batch} over {len(self.split):,}"
            raise RunError(f"the checkpoint trained with {was}; this run asks for {now}", where=where,
                           hint="resume without --mini and --train-subset (the checkpoint's are "
                           "restored), or start a new run")
        try:
            self.model.load_state_dict(c.model)
        except RuntimeError as e:
            raise RunError(f"the weights do not fit the model: {str(e).splitlines()[0]}", where=where) from None
        try:
            from alexspec.compiler.distributed import local_sgd_state

            self.sgd.load_state_dict(local_sgd_state(self.model, c.sgd))
        except ValueError as e:
            raise RunError(f"momentum does not fit the model: {e}", where=where) from None
        self.pos = Position(t.step, t.epoch, t.batch, t.skipped_batches)
        # The settings and the spec (re-read on resume) set the limits; the checkpoint where it stands.
        self.plateau.restore(t.plateau)
        rng = c.rng
        if self.dist is not None and len(c.rng_ranks) == self.dist.world_size:
            rng = c.rng_ranks[self.dist.rank]  # this process's own dropout stream
        try:
            ckpt.set_rng_state(rng, {"augment": self.gen})
        except (RuntimeError, TypeError, ValueError) as e:
            raise RunError(f"the random generator states do not load: {e}", where=where) from None

    def state(self, rng_ranks: list[dict[str, Any]] | None = None,
              whole: tuple[dict, dict] | None = None) -> dict[str, Any]:
        """The checkpoint payload at the current step boundary (plain data only); `rng_ranks`
        holds every process's random states in a multi-process run."""
        p, net = self.provenance, self.model.net
        extra = {"rng_ranks": rng_ranks} if rng_ranks else {}
        return extra | {
            "format": ckpt.FORMAT, "step": self.pos.step,
            "spec_text": p.spec_text, "spec_path": p.spec_path,
            "params_text": p.params_text, "params_path": p.params_path,
            "arch_hash": net.architecture_hash, "arch": ckpt.arch_lines(net),
            "model": whole[0] if whole else {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "sgd": whole[1] if whole else self.sgd.state_dict(),
            "train": {"step": self.pos.step, "epoch": self.pos.epoch, "batch": self.pos.batch,
                      "skipped_batches": self.pos.skipped_batches, "plateau": self.plateau.state(),
                      "skipped_images": self.split.skipped, "train_images": len(self.split)},
            "rng": ckpt.rng_state({"augment": self.gen}),
            "stats": self.stats.state(),
            "data": {"name": p.data_name, "location": p.data_location,
                     "classes": list(self.data.classes)},
            "settings": self.cfg.to_dict(),  # RunSettings.from_dict reads it back
            "history": self.metrics.as_dicts(),
        }

    def save(self) -> Path | None:
        """Write a checkpoint of the current step boundary (rank 0 only); the path rank 0 wrote
        (on every process), or None.

        Every process calls it at the same step (the loop is symmetric): in a multi-process run
        the processes' random states are gathered first, so a resume is exact on every rank.
        """
        rng_ranks, whole = None, None
        if self.dist is not None:
            from alexspec.compiler.distributed import gather_objects, gather_training_state

            rng_ranks = gather_objects(ckpt.rng_state({"augment": self.gen}), self.dist)
            whole = gather_training_state(self.model, self.sgd, self.dist)  # hybrid: every GPU's part
        path, failed = None, None
        if self.writes and self.last_saved is not None and ckpt.checkpoint_step(self.last_saved) == self.pos.step:
            path = self.last_saved  # one checkpoint per step
        elif self.writes:
            try:
                path = ckpt.save(self.state(rng_ranks, whole), self.save_path, self.pos.step,
                                 self.cfg.keep_checkpoints)
            except RunError as e:  # raised after the other processes have heard of it (no hang)
                failed = e
            else:
                self.last_saved = path
                self.reporter.saved(str(path))
        if self.dist is not None:
            from alexspec.compiler.distributed import gather_objects

            # Every process learns what rank 0 saved, so each one's closing line names that file.
            saved = gather_objects(None if path is None else str(path), self.dist)[0]
            path = None if saved is None else Path(saved)
        if failed is not None:
            raise failed
        return path

    # ------------------------------------------------------------------ one step

    def _next_indices(self) -> torch.Tensor:
        if self._order is None or self._order[0] != self.pos.epoch:
            self._order = (self.pos.epoch, epoch_order(len(self.split), self.pos.epoch, self.cfg.seed))
        b = self.pos.batch * self.batch
        return self._order[1][b:b + self.batch]

    def _advance(self) -> None:
        self.pos.step += 1
        self.pos.batch += 1
        if self.pos.batch >= self.steps_per_epoch:
            self.pos.epoch += 1
            self.pos.batch = 0

    def step(self) -> tuple[float, int, int, int, float] | None:
        """Train on the next minibatch. Returns (loss, top1 hits, top5 hits, images, lr), or None
        when every image of the batch was skipped as corrupt."""
        images, labels = self.split.get(self._next_indices())
        if self.dist is not None:  # equal shares (skipped corrupt images may leave an odd count)
            n = len(images) - len(images) % self.dist.world_size
            images, labels = images[:n], labels[:n]
        if len(images) == 0:
            self.pos.skipped_batches += 1
            self._advance()
            return None
        x = self.augment.train_batch(images, self.stats, self.gen)
        if self.dist is not None:
            from alexspec.compiler.distributed import shard

            x, labels = shard(x, self.dist), shard(labels, self.dist)
        self.model.train()
        scores = self.forward(x)
        cost = self.model.cost(scores, labels)
        self.classifies = cost.classifies
        loss, h1, h5, b = float(cost.loss.detach()), int(cost.correct_top1), int(cost.correct_topk), len(labels)
        if self.dist is not None:
            loss, h1, h5, b = self._agree(loss, h1, h5, b)
        where = f"step {self.pos.step + 1} (epoch {self.pos.epoch + 1}, batch {self.pos.batch + 1})"
        if not math.isfinite(loss):
            raise RunError(f"the loss is {loss}; stopped before the update, nothing of this step "
                           "was applied or saved", where=where,
                           hint="lower the learning rates (epsW/epsB) or check the data")
        self.sgd.zero_grad()
        cost.loss.backward()
        bad = _grads_finite(self.model)
        if bad is not None:
            raise RunError(f"the gradient of {bad} is not finite; stopped before the update",
                           where=where, hint="lower the learning rates (epsW/epsB)")
        prog = progress(self.pos.step, self.schedule_steps)
        lr = self.base_rate(prog)
        self.sgd.step(prog, self.plateau.drops)
        self._advance()
        return loss, h1, h5, b, lr

    def base_rate(self, prog: float) -> float:
        """The learning rate shown to the user: the one most parameters train at (the largest
        count of elements; a slower first layer such as the mini spec's conv1 is not it)."""
        if not self.sgd.rules:
            return 0.0
        count: dict[float, int] = {}
        for r, rate in zip(self.sgd.rules, self.sgd.rates(prog, self.plateau.drops)):
            if r.kind == "weight":
                count[rate] = count.get(rate, 0) + r.param.numel()
        return max(count, key=count.get) if count else self.sgd.rates(prog, self.plateau.drops)[0]

    def _agree(self, loss: float, h1: int, h5: int, b: int) -> tuple[float, int, int, int]:
        """All processes: the batch's mean loss and hits, NaN if any shard's loss is not finite,
        and whether any process was asked to stop (one collective, in compiler/parallel)."""
        from alexspec.compiler.distributed import agree

        asked = self._flag is not None and self._flag.requested
        loss, h1, h5, b, self.stop_requested = agree(self.dist, loss, h1, h5, b, asked)
        return loss, h1, h5, b

    def _agree_stop(self) -> bool:
        """Multi-process, before each validation batch: whether any process was asked to stop
        (one all-reduce of one number; the single-process pass reads its own flag instead)."""
        from alexspec.compiler.distributed import any_asked

        asked = self._flag is not None and self._flag.requested
        self.stop_requested = any_asked(self.dist, asked) or self.stop_requested
        return self.stop_requested

    # ------------------------------------------------------------------ tests

    def _test_due(self) -> bool:
        if self.cfg.test_freq > 0:
            return self.pos.step % self.cfg.test_freq == 0
        return self.pos.batch == 0  # an epoch just ended

    def test(self, scheduled: bool) -> TestInfo | None:
        """Validate; a scheduled test feeds the plateau policy (the end-of-run one does not).
        None when a stop signal came during the pass: acted on at the next batch (multi-process:
        the processes agree at every batch whether any was signalled, and stop together)."""
        limit = self.cfg.test_subset
        n = len(self.data.val) if limit is None else min(limit, len(self.data.val))
        self.reporter.testing(n)
        abort = (lambda: self._flag is not None and self._flag.requested) if self.dist is None else self._agree_stop
        s: Scores | None = evaluate(self.model, self.data.val, self.augment, self.stats,
                                    multiview=self.cfg.multiview_test, batch=self.batch, limit=limit,
                                    progress=self.reporter.test_progress, should_stop=abort)
        if s is None:
            return None
        where = f"test at step {self.pos.step}"
        if s.images == 0:
            raise RunError(f"none of the {n:,} validation images could be read", where=self.data.location,
                           hint="check the val/ images (every one was skipped as corrupt)")
        dropped = False
        if scheduled and self.plateau.max_drops and math.isfinite(s.loss):
            dropped = self.plateau.observe(s.top1 if s.classifies else s.loss, self.epochs_done)
        info = TestInfo(self.pos.step, self.epochs_done, s.loss, s.top1, s.top5, s.images, s.views, dropped)
        self.metrics.add(TestRecord(info.step, self.epochs_done, s.loss, s.top1, s.top5, s.images,
                                    s.views, self.plateau.drops))
        self.reporter.test(info)
        self.last_test = info
        self.plot()
        if not math.isfinite(s.loss):
            raise RunError(f"the validation log-prob is {s.loss}; no checkpoint was written for this step"
                           + (f" (the last one is {self.last_saved})" if self.last_saved else ""),
                           where=where, hint="lower the learning rates (epsW/epsB) or check the data")
        return info

    def plot(self) -> None:
        """Rewrite cost.png from the metrics (after every test, on interrupt, at the end); a
        failure to draw is a warning, never the end of a run."""
        if not self.writes or self.save_path is None:
            return
        try:
            plot_costs(self.metrics.records, self.save_path / "cost.png", self.provenance.spec_path)
        except (OSError, RuntimeError, ValueError) as e:
            self.reporter.warn(f"could not draw {self.save_path / 'cost.png'}: {e}")

    # ------------------------------------------------------------------ the loop

    def run(self) -> RunResult:
        """Train until `total` steps. Raises Interrupted (after saving) on Ctrl-C, RunError on a
        non-finite loss or broken data."""
        self.reporter.start(self.total, self.pos.step)
        window = [0.0, 0, 0, 0, 0]  # loss sum (per image), top1, top5, images, steps
        t0, last_t, tested_at = time.perf_counter(), time.perf_counter(), -1
        start_step = self.pos.step
        try:
            with StopFlag() as stop:
                self._flag = stop
                while self.pos.step < self.total and not self._stopping(stop):
                    out = self.step()
                    now = time.perf_counter()
                    if out is not None:
                        loss, h1, h5, b, lr = out
                        for i, v in enumerate((loss * b, h1, h5, b, 1)):
                            window[i] += v
                        done = self.pos.step - start_step
                        rate = done / (now - t0)
                        epoch = self.pos.epoch + (1 if self.pos.batch else 0)  # the step's own, 1-based
                        self.reporter.step(StepInfo(
                            self.pos.step, self.total, epoch, loss, error_rate(h1, b, self.classifies),
                            error_rate(h5, b, self.classifies),
                            lr, b, b / max(now - last_t, 1e-9), (self.total - self.pos.step) / max(rate, 1e-9)))
                    last_t = now
                    if window[4] and (self.pos.step % self.log_every == 0 or self.pos.step == self.total
                                      or self.pos.batch == 0):
                        self._record(window, lr)
                        window = [0.0, 0, 0, 0, 0]
                    if self._test_due():
                        if self.test(scheduled=True) is not None:
                            tested_at = self.pos.step
                            self.save()
                # The end-of-run test runs while the handlers are still installed, so that a
                # signal during it stops it at its next batch like any other pass.
                if not self._stopping(stop) and tested_at != self.pos.step:
                    if self.test(scheduled=False) is not None:
                        self.save()
                if self._stopping(stop):
                    if window[4]:
                        self._record(window, lr)
                    path = self.save()
                    self.plot()
                    if self.dist is not None:
                        stop.hold()  # see StopFlag.hold: torchrun's SIGTERM must not kill this one
                    why = {getattr(signal, "SIGHUP", -1): "hung up",
                           signal.SIGTERM: "terminated"}.get(stop.signal, "interrupted")
                    raise Interrupted(f"{why} at step {self.pos.step}" +
                                      (f", saved {path}" if path else " (no --save-path, nothing saved)"))
        finally:
            self.reporter.finish()
        self.plot()
        return RunResult(self.pos.step, self.last_test, self.last_saved, self.metrics.as_dicts(),
                         is_main=self.dist is None or self.dist.is_main)

    @property
    def epochs_done(self) -> float:
        """Epochs done so far, fractional within an epoch."""
        return self.pos.epoch + self.pos.batch / self.steps_per_epoch

    def _stopping(self, stop: StopFlag) -> bool:
        # Distributed: what the processes agreed on in the last step's all-reduce, so that
        # they all stop after the same step.
        return stop.requested if self.dist is None else self.stop_requested

    def _record(self, w: list, lr: float) -> None:
        self.metrics.add(TrainRecord(self.pos.step, self.epochs_done, w[0] / w[3],
                                     error_rate(w[1], w[3], self.classifies),
                                     error_rate(w[2], w[3], self.classifies), w[3], lr))
