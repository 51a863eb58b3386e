"""Whole-process start-up of `alexspec check` against a bare Python start, in one process.

Runs `python -c pass`, the dependency floor (FLOOR below: pydantic and lark imported and one
small pydantic model validated, which is what any `check` of a spec must at least do, before a
line of alexspec runs) and `python -m alexspec.cli check SPEC` (stdout discarded) alternately,
REPEAT times each, and prints the best wall time and the best CPU time (user + system) of each
and their ratios to `python -c pass` (the best of several runs, so that other load on the
machine inflates the numbers as little as possible; CPU time is the steadier one on a busy
machine). The issue's
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
# The least a `check` does with its dependencies: import pydantic's BaseModel, Field and ConfigDict
# and lark, and build and run one pydantic validator (the first validator also loads pydantic's
# plugin machinery, importlib.metadata and its entry points, as ours does).
FLOOR = """
from pydantic import BaseModel, ConfigDict, Field
import lark
class Probe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    size: int = Field(gt=0)
Probe(size=1)
"""


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
        runs = {"python -c pass": [sys.executable, "-c", "pass"],
                "floor (pydantic, lark, one model)": [sys.executable, "-c", FLOOR],
                f"alexspec check {args.spec}": [sys.executable, "-m", "alexspec.cli", "check", args.spec]}
        for cmd in runs.values():  # warm-up: writes the bytecode caches
            _run(cmd, env)
        if args.instructions:
            counts = {what: _instructions(cmd, env) for what, cmd in runs.items()}
            bare = counts["python -c pass"]
            for what, n in counts.items():
                print(f"instructions: {what:40s} {n / 1e6:8,.1f} M  {n / bare:5.1f}x")
            return
        times: dict[str, list[tuple[float, float]]] = {what: [] for what in runs}
        for _ in range(args.repeat):  # interleaved: all see the same load
            for what, cmd in runs.items():
                times[what].append(_run(cmd, env))
    bare = {i: min(r[i] for r in times["python -c pass"]) for i in (0, 1)}
    for what, rs in times.items():
        wall, cpu = min(r[0] for r in rs), min(r[1] for r in rs)
        print(f"{what:40s} wall {wall * 1000:7.1f} ms ({wall / bare[0]:5.1f}x), "
              f"cpu {cpu * 1000:7.1f} ms ({cpu / bare[1]:5.1f}x)  best of {args.repeat}")


if __name__ == "__main__":
    main()
