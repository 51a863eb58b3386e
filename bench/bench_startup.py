"""Whole-process start-up of `alexspec check` against a bare Python start, in one process.

Runs `python -c pass` and `python -m alexspec.cli check SPEC` (stdout discarded) alternately,
REPEAT times each, and prints the best wall time and the best CPU time (user + system) of each
and their ratios (the best of several runs, so that other load on the machine inflates the
numbers as little as possible; CPU time is the steadier one on a busy machine). The issue's
target: `check` in at most 0.2 s wall on an idle machine.

Both run with bytecode caches, as an installed package has them (pip compiles them): the children
write theirs to a temporary folder (PYTHONPYCACHEPREFIX), after one warm-up run, even where
PYTHONDONTWRITEBYTECODE is set; `--no-bytecode-cache` measures recompiling every module instead.

`--instructions` counts the instructions each executes under valgrind (callgrind, one run each
after the warm-up), which other load on the machine does not change: the steady number to
compare trees with on a busy machine. The target, 0.2 s where `check` took 0.34 s, is about
730 M instructions (1,237 M then).

    python bench/bench_startup.py [SPEC] [--repeat N] [--no-bytecode-cache] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
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


def _instructions(cmd: list[str], env: dict[str, str]) -> int:
    """Instructions one run executes, counted by valgrind's callgrind."""
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    m = re.search(r"Collected : (\d+)", r.stderr) or re.search(r"refs:\s+([\d,]+)", r.stderr)
    if m is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{r.stderr}")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec", nargs="?", default="specs/alexnet.cfg")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--no-bytecode-cache", action="store_true", help="compile every module at every start")
    p.add_argument("--instructions", action="store_true", help="count instructions with valgrind instead")
    args = p.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
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
        if args.instructions:
            b, c = _instructions(runs["bare"], env), _instructions(runs["check"], env)
            print(f"instructions: python -c pass {b / 1e6:,.1f} M, alexspec check {args.spec} "
                  f"{c / 1e6:,.1f} M: ratio {c / b:.1f}x")
            return
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
