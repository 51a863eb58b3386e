"""Training-step speed of the compiled AlexNet against a hand-written PyTorch AlexNet.

Same process, same shapes, same update (torch SGD, momentum 0.9, weight decay 5e-4), dropout on.
The two models' steps are interleaved (A, B, A, B, ...) so that load from other processes hits
all alike; the median and minimum of each are reported with the ratios compiled / hand-written (< 1:
faster; on a loaded machine the minima are the less disturbed figure).
Two hand-written references: the same two columns (the lowering's shapes and moves, so the ratio
is the compiler's overhead), and the single-device grouped net (groups=2: what the paper's column
split costs when both logical GPUs are one device).

    python bench/bench_step.py                   # CPU: batch 32, 2 threads
    python bench/bench_step.py --channels-last   # also the channels-last path
    python bench/bench_step.py --compile         # also torch.compile (slow to warm up on a CPU)

Devices come from torch.cuda.device_count(): two GPUs -> cuda:0,cuda:1 (the hand-written model on
cuda:0); one GPU -> cuda:0 for both logical GPUs; none -> the CPU. Images/s is batch / median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the hand-written grouped AlexNet lives with the tests that check it

from tests.reference_alexnet import GroupedAlexNet, torch_lrn  # noqa: E402


class HandColumnAlexNet(nn.Module):
    """The same net hand-written with the lowering's shapes: one module per layer per column,
    column b on `dev1`, explicit .to() moves at conv3, fc6, fc7 and fc8 (fc8 on column a)."""

    def __init__(self, dev0, dev1):
        super().__init__()
        self.devs = (torch.device(dev0), torch.device(dev1))
        def col(dev):
            return nn.ModuleDict({
                "conv1": nn.Conv2d(3, 48, 11, 4), "conv2": nn.Conv2d(48, 128, 5, padding=2),
                "conv3": nn.Conv2d(256, 192, 3, padding=1), "conv4": nn.Conv2d(192, 192, 3, padding=1),
                "conv5": nn.Conv2d(192, 128, 3, padding=1), "fc6": nn.Linear(9216, 2048),
                "fc7": nn.Linear(4096, 2048)}).to(dev)
        self.cols = nn.ModuleList([col(d) for d in self.devs])
        self.fc8 = nn.Linear(4096, 1000).to(self.devs[0])

    def drop(self, x):
        return x * torch.empty_like(x).bernoulli_(0.5) if self.training else 0.5 * x

    def both(self, xs, dim=1):
        return [torch.cat([xs[0].to(d), xs[1].to(d)], dim) for d in self.devs]

    def forward(self, x):
        c = self.cols
        xs = [F.pad(x.to(d), (0, 3, 0, 3)) for d in self.devs]
        xs = [F.max_pool2d(torch_lrn(F.relu(c[i]["conv1"](xs[i]))), 3, 2) for i in (0, 1)]
        xs = [F.max_pool2d(torch_lrn(F.relu(c[i]["conv2"](xs[i]))), 3, 2) for i in (0, 1)]
        xs = [F.relu(c[i]["conv3"](t)) for i, t in enumerate(self.both(xs))]
        xs = [F.relu(c[i]["conv4"](xs[i])) for i in (0, 1)]
        xs = [F.max_pool2d(F.relu(c[i]["conv5"](xs[i])), 3, 2).flatten(1) for i in (0, 1)]
        xs = [self.drop(F.relu(c[i]["fc6"](t))) for i, t in enumerate(self.both(xs))]
        xs = [self.drop(F.relu(c[i]["fc7"](t))) for i, t in enumerate(self.both(xs))]
        return self.fc8(self.both(xs)[0])


def _sync(devices) -> None:
    for d in {d for d in devices if d.type == "cuda"}:
        torch.cuda.synchronize(d)


class Runner:
    """One model's training step."""

    def __init__(self, name, model, loss_fn, devices, x, y, channels_last=False):
        self.name, self.model, self.loss_fn, self.devices = name, model, loss_fn, devices
        if channels_last:
            model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        self.x, self.y = x, y
        self.opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        self.times: list[float] = []

    def step(self) -> float:
        _sync(self.devices)
        t = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        _sync(self.devices)
        return time.perf_counter() - t


def measure(runners: list[Runner], warmup: int, steps: int) -> list[list[float]]:
    """Step times of each runner; runners take turns, the order rotating every round."""
    for _ in range(warmup):
        for r in runners:
            r.step()
    times: list[list[float]] = [[] for _ in runners]
    for i in range(steps):
        for k in range(len(runners)):
            j = (i + k) % len(runners)
            times[j].append(runners[j].step())
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default=str(ROOT / "specs" / "alexnet.cfg"))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    p.add_argument("--channels-last", action="store_true", help="also time channels-last")
    p.add_argument("--skip-eager", action="store_true", help="time only the opt-in paths")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    import alexspec
    from alexspec.compiler import build, lower

    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = ["cuda:0", "cuda:1"] if n_cuda >= 2 else ["cuda:0"] * 2 if n_cuda == 1 else ["cpu"] * 2
    net = alexspec.load(args.spec)

    t_lower, t_build = [], []
    for _ in range(3):
        t = time.perf_counter()
        lower(net)
        t_lower.append(time.perf_counter() - t)
        t = time.perf_counter()
        build(net, devices=devices, init=False)
        t_build.append(time.perf_counter() - t)
    t = time.perf_counter()
    alexspec.load(args.spec)
    t_load = time.perf_counter() - t

    print(f"bench_step: {Path(args.spec).name}, batch {args.batch}, devices {','.join(devices)}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, median of {args.steps} "
          f"steps after {args.warmup} warm-up")
    print(f"build without weight init: {statistics.median(t_build) * 1e3:.0f} ms "
          f"(lowering {statistics.median(t_lower) * 1e3:.2f} ms; spec load {t_load * 1e3:.0f} ms)")

    g = torch.Generator().manual_seed(0)
    x_cpu = torch.randn(args.batch, 3, 224, 224, generator=g)
    y_cpu = torch.randint(0, 1000, (args.batch,), generator=g)

    def runners(channels_last: bool, compiled: bool) -> list[Runner]:
        model = build(net, devices=devices, seed=0).train()
        cols = HandColumnAlexNet(*devices).train()
        grouped = GroupedAlexNet(lrn=torch_lrn).to(devices[0]).train()
        x, y = x_cpu.to(devices[0]), y_cpu.to(devices[0])
        ce = lambda s, t: model.cost(s, t).loss  # noqa: E731
        rs = [Runner("compiled", model, ce, model.devices, x, y, channels_last),
              Runner("hand-written columns", cols, F.cross_entropy, cols.devs, x, y, channels_last),
              Runner("hand-written grouped", grouped, F.cross_entropy, [torch.device(devices[0])],
                     x, y, channels_last)]
        if compiled:
            for r in rs:
                r.model = torch.compile(r.model)
        return rs

    paths = [] if args.skip_eager else [("eager", False, False)]
    if args.channels_last:
        paths.append(("channels-last", True, False))
    if args.compile:
        paths.append(("torch.compile", False, True))
    for label, cl, comp in paths:
        rs = runners(cl, comp)
        times = measure(rs, args.warmup, args.steps)
        med = [statistics.median(t) for t in times]
        low = [min(t) for t in times]
        print(f"{label}: median (min) ms per step, images/s at the median")
        for r, m, lo in zip(rs, med, low):
            print(f"  {r.name:22s} {m * 1e3:8.1f} ({lo * 1e3:8.1f}) ms  {args.batch / m:7.1f} img/s"
                  + ("" if r is rs[0] else
                     f"   compiled/this = {med[0] / m:.3f} ({low[0] / lo:.3f} on minima)"))
        del rs
    return 0


if __name__ == "__main__":
    sys.exit(main())
