"""GPU readiness in one go (issue 11, item 5). Run it on a machine with CUDA:

    .venv/bin/python bench/bench_gpu.py [--batch 128] [--steps 20] [--channels-last] [--amp bf16]

1. placement: specs/alexnet.cfg built on two devices (cuda:0,cuda:1, or cuda:0 twice): every
   layer's parameters on its logical GPU's device, the logits on gpu0's, and the forward pass's
   cross-GPU transfers are the plan's (TransferLog);
2. step: forward, cost, backward and an SGD update of the compiled AlexNet on one device and,
   if there are two, on two, against the hand-written grouped AlexNet (tests/reference_alexnet.py)
   on one device, interleaved in the same process; medians and the ratio compiled / hand-written.
   `--channels-last` and `--amp bf16` (autocast) are opt-in paths for both models;
3. hybrid: with two devices, tests/specs/compiler/hybrid-2gpu.cfg under torchrun on NCCL
   (tests/hybrid_worker.py), its losses against one process on cuda:0.

Without CUDA it says so and exits 0 (nothing to measure); nothing is tuned from its output.
It is a benchmark, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def placement(devs: list[torch.device]) -> None:
    import alexspec
    from alexspec.compiler import TransferLog, build

    model = build(alexspec.load(str(ROOT / "specs/alexnet.cfg")), devices=devs)
    bad = [(p.shape, gpu) for p, gpu in model.parameter_gpus() if p.device != devs[gpu]]
    x = torch.randn(4, *model.input_shape)
    with TransferLog() as log, torch.no_grad():
        out = model(x)
    torch.cuda.synchronize()
    ok = not bad and out.device == devs[model.plan.step(model.plan.logits).gpu] \
        and log.count("fwd") == len(model.plan.transfers)
    print(f"placement on {', '.join(map(str, devs))}: {'ok' if ok else 'FAILED'} "
          f"({len(bad)} misplaced parameters, {log.count('fwd')} forward transfers, plan "
          f"{len(model.plan.transfers)}, output on {out.device})")
    if not ok:
        raise SystemExit(1)


def _step_fn(model, params, x, y, amp: str | None, cost=None):
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp == "bf16" else nullcontext()

    def step() -> None:
        with ctx:
            out = model(x)
            loss = cost(out, y) if cost else torch.nn.functional.cross_entropy(out.float(), y.to(out.device))
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-1e-4)
    return step


def timing(args, count: int) -> None:
    import alexspec
    from alexspec.compiler import build
    from tests.reference_alexnet import GroupedAlexNet, torch_lrn

    net = alexspec.load(str(ROOT / "specs/alexnet.cfg"))
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch, 3, 224, 224, device="cuda:0").contiguous(memory_format=mf)
    y = torch.randint(0, 1000, (args.batch,), device="cuda:0")
    runs = {}
    layouts = [("compiled, 1 device", [torch.device("cuda:0")] * 2)]
    if count >= 2:
        layouts.append(("compiled, 2 devices", [torch.device("cuda:0"), torch.device("cuda:1")]))
    for name, devs in layouts:
        m = build(net, devices=devs).to(memory_format=mf).train()
        runs[name] = _step_fn(m, list(m.parameters()), x, y, args.amp,
                              cost=lambda o, t, m=m: m.cost(o, t).loss)
    ref = GroupedAlexNet(torch_lrn).to("cuda:0", memory_format=mf).train()
    runs["hand-written grouped, 1 device"] = _step_fn(ref, list(ref.parameters()), x, y, args.amp)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(3):  # warm-up
        for f in runs.values():
            f()
    torch.cuda.synchronize()
    for _ in range(args.steps):
        for k, f in runs.items():
            t = time.perf_counter()
            f()
            torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t)
    base = statistics.median(times["hand-written grouped, 1 device"])
    extra = " ".join(f for f, on in (("channels-last", args.channels_last), (f"amp {args.amp}", args.amp)) if on)
    print(f"training step of specs/alexnet.cfg, batch {args.batch}, {args.steps} steps {extra}")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"  {k:32s} median {med * 1e3:8.1f} ms  ({args.batch / med:7.0f} img/s)  "
              f"ratio to hand-written {med / base:5.2f}")


def hybrid_nccl() -> None:
    from tests.test_distributed_hybrid import SPEC, STEPS

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(ROOT / "tests/hybrid_worker.py"), out, str(ROOT / SPEC), str(STEPS), "--gpu", "auto"]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        dt = time.perf_counter() - t
        if r.returncode != 0:
            print("hybrid on NCCL: FAILED\n" + r.stderr[-3000:])
            raise SystemExit(1)
        got = torch.load(Path(out) / "hybrid-rank0.pt", weights_only=False)
    import tests.test_distributed_hybrid as th

    want, _, _ = th._reference(str(ROOT / SPEC), STEPS)  # one process (CPU float64)
    diff = max(abs(a - b) for a, b in zip(got["losses"], want))
    print(f"hybrid {SPEC} on NCCL, 2 processes: {got['summary']}; losses {got['losses']}; "
          f"max difference to one process {diff:.2e}; {dt:.1f} s with start-up")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--amp", choices=["bf16"], default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: bench_gpu.py measures nothing without one (exit 0)")
        return
    count = torch.cuda.device_count()
    print(f"{count} CUDA device(s): {', '.join(torch.cuda.get_device_name(i) for i in range(count))}; "
          f"torch {torch.__version__}")
    two = [torch.device("cuda:0"), torch.device("cuda:1" if count >= 2 else "cuda:0")]
    placement(two)
    timing(args, count)
    if count >= 2:
        hybrid_nccl()
    else:
        print("hybrid on NCCL: skipped (one CUDA device)")


if __name__ == "__main__":
    main()
