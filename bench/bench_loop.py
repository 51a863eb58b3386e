"""The cost of the training loop around the model: `alexspec run`'s step against the bare step.

- bare: forward, cost, backward and the paper's SGD update on one fixed, already prepared batch;
- loop: the real `Trainer` step as `alexspec run` drives it: next minibatch of the epoch's
  permutation, augmentation (crop, flip, PCA noise), finiteness checks of loss and gradients,
  the update, the progress reporter (the CLI's, writing plain lines) and the metrics records,
  timed from the end of one step to the end of the next inside `Trainer.run()`.
Both run in the same process, interleaved in rounds; the median step time of each is compared
(medians, because other processes on a shared machine add long outliers). Target: under 5%.

    .venv/bin/python bench/bench_loop.py [--steps N] [--rounds R] [--spec specs/alexnet-mini.cfg]

It is a benchmark, not a test: nothing is asserted, numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import alexspec
from alexspec.compiler import build
from alexspec.console import Console, RunReporter
from alexspec.runtime.data.fashion import DEFAULT_DIR, open_fashion_mnist
from alexspec.runtime.sgd import PaperSGD
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.lock import SavePathLock
from alexspec.runtime.metrics import TestRecord
from alexspec.runtime.train import Provenance, Trainer
from alexspec.settings import RunSettings

ROOT = Path(__file__).resolve().parent.parent


class Timed(RunReporter):
    """The CLI's reporter, also noting when each step ends."""

    def __init__(self) -> None:
        super().__init__(Console())
        self.ends: list[float] = []

    def step(self, info) -> None:
        super().step(info)
        self.ends.append(time.perf_counter())


def bare_steps(model, x, y, n: int) -> list[float]:
    sgd = PaperSGD(model.learning_rules())
    model.train()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        cost = model.cost(model(x), y)
        sgd.zero_grad()
        cost.loss.backward()
        sgd.step(0.0)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="specs/alexnet-mini.cfg")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    net = alexspec.load(str(ROOT / args.spec))
    data = open_fashion_mnist(DEFAULT_DIR)
    model = build(net, "cpu")
    c, h, w = model.input_shape
    s = net.settings
    cfg = s.updated({"img_size": s.img_size or h, "inner_size": h, "test_freq": 10**9, "test_subset": 1})
    text = (ROOT / args.spec).read_text()
    rep = Timed()
    trainer = Trainer(model, data, data.train, cfg, rep, Provenance(text, args.spec, None, None,
                                                                    data.name, data.location))
    x = trainer.augment.train_batch(data.train.get(torch.arange(s.mini))[0], trainer.stats,
                                    torch.Generator().manual_seed(0))
    y = data.train.labels[: s.mini]
    bare_model = trainer.model  # the same module (same weights, same memory) for both
    bare, loop = [], []
    bare_steps(bare_model, x, y, 2)  # warm-up
    for r in range(args.rounds):
        bare += bare_steps(bare_model, x, y, args.steps)
        rep.ends.clear()
        trainer.total = trainer.pos.step + args.steps + 1  # the real loop: Trainer.run()
        trainer.run()
        loop += [b - a for a, b in zip(rep.ends[:-1], rep.ends[1:])]  # step end to step end
    b, lo = statistics.median(bare), statistics.median(loop)
    print(f"{args.spec}, batch {s.mini}, torch threads {torch.get_num_threads()}, "
          f"{args.rounds} rounds of {args.steps} steps each")
    print(f"bare compiled-model step  median {1000 * b:8.1f} ms")
    print(f"alexspec run loop step    median {1000 * lo:8.1f} ms")
    print(f"loop overhead: {100 * (lo / b - 1):+.1f}%  (ratio {lo / b:.3f})")
    per_test(trainer, b)


def per_test(trainer: Trainer, bare: float) -> None:
    """What a run adds once per test (each epoch by default) and once per run: the content hash
    of the checkpoint, the cost plot redrawn, the save path's lock; against an epoch of bare steps."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        trainer.writes, trainer.save_path = True, Path(d)
        for k in range(1, 6):  # a plot of a few tests' worth of records
            trainer.metrics.records.append(TestRecord(k * 100, k, 0.5, 0.2, 0.01, 1000, 1, 0))
        state = trainer.state()
        t0 = time.perf_counter()
        ckpt.content_hash(state)
        t_hash = time.perf_counter() - t0
        t0 = time.perf_counter()
        trainer.plot()
        t_plot_first = time.perf_counter() - t0  # includes importing matplotlib
        t0 = time.perf_counter()
        trainer.plot()
        t_plot = time.perf_counter() - t0
        t0 = time.perf_counter()
        with SavePathLock(Path(d)):
            pass
        t_lock = time.perf_counter() - t0
    epoch = bare * trainer.steps_per_epoch
    each = t_hash + t_plot
    print(f"per test: content hash {1000 * t_hash:.1f} ms, cost.png {1000 * t_plot:.1f} ms "
          f"(first {1000 * t_plot_first:.0f} ms); per run: lock {1000 * t_lock:.2f} ms")
    print(f"against one epoch of bare steps ({trainer.steps_per_epoch} x {1000 * bare:.1f} ms = {epoch:.1f} s): "
          f"{100 * each / epoch:.2f}% per test, {100 * (t_plot_first - t_plot + t_lock) / epoch:.2f}% once")


if __name__ == "__main__":
    main()
