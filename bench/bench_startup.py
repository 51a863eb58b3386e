"""Whole-process start-up of `alexspec check` against a bare Python start, in one process.

Runs `python -c pass` and `python -m alexspec.cli check SPEC` (stdout discarded) alternately,
REPEAT times each, and prints the best wall time and the best CPU time (user + system) of each
and their ratios (the best of several runs, so that other load on the machine inflates the
numbers as little as possible; CPU time is the steadier one on a busy machine). The issue's
target: `check` in at most 0.2 s wall on an idle machine.

    python bench/bench_startup.py [SPEC] [--repeat N]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec", nargs="?", default="specs/alexnet.cfg")
    p.add_argument("--repeat", type=int, default=10)
    args = p.parse_args()
    bare, check = [], []
    for _ in range(args.repeat):  # interleaved: both see the same load
        bare.append(_run([sys.executable, "-c", "pass"]))
        check.append(_run([sys.executable, "-m", "alexspec.cli", "check", args.spec]))
    for what, i in (("wall", 0), ("cpu", 1)):
        b, c = min(r[i] for r in bare), min(r[i] for r in check)
        print(f"{what}: python -c pass {b * 1000:7.1f} ms, alexspec check {args.spec} {c * 1000:7.1f} ms "
              f"(best of {args.repeat}): ratio {c / b:.1f}x")


if __name__ == "__main__":
    main()
