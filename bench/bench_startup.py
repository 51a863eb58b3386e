"""Whole-process start-up of `alexspec check` against a bare Python start, in one process.

Runs `python -c pass` and `python -m alexspec.cli check SPEC` (stdout discarded) alternately,
REPEAT times each, and prints the best wall time and the best CPU time (user + system) of each
and their ratios (the best of several runs, so that other load on the machine inflates the
numbers as little as possible; CPU time is the steadier one on a busy machine). The issue's
target: `check` in at most 0.2 s wall on an idle machine.

Both run with bytecode caches, as an installed package has them (pip compiles them): the children
write theirs to a temporary folder (PYTHONPYCACHEPREFIX), after one warm-up run, even where
PYTHONDONTWRITEBYTECODE is set; `--no-bytecode-cache` measures recompiling every module instead.

    python bench/bench_startup.py [SPEC] [--repeat N] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec", nargs="?", default="specs/alexnet.cfg")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--no-bytecode-cache", action="store_true", help="compile every module at every start")
    args = p.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    with tempfile.TemporaryDirectory() as cache:
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env["PYTHONPYCACHEPREFIX"] = cache
        runs = {"bare": [sys.executable, "-c", "pass"],
                "check": [sys.executable, "-m", "alexspec.cli", "check", args.spec]}
        for cmd in runs.values():  # warm-up: writes the bytecode caches
            _run(cmd, env)
        bare, check = [], []
        for _ in range(args.repeat):  # interleaved: both see the same load
            bare.append(_run(runs["bare"], env))
            check.append(_run(runs["check"], env))
    for what, i in (("wall", 0), ("cpu", 1)):
        b, c = min(r[i] for r in bare), min(r[i] for r in check)
        print(f"{what}: python -c pass {b * 1000:7.1f} ms, alexspec check {args.spec} {c * 1000:7.1f} ms "
              f"(best of {args.repeat}): ratio {c / b:.1f}x")


if __name__ == "__main__":
    main()
