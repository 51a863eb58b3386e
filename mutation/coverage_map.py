"""Which tests execute each line of a module: the map that lets a mutant run only its tests.

    python mutation/coverage_map.py OUT.json SOURCE_DIR [PYTEST ARGS...]
    # e.g. .venv/bin/python mutation/coverage_map.py mutation/coverage/compiler.json compiler \
    #          -q -p no:cacheprovider -m 'not slow' tests

Runs the tests once, in this process, under coverage.py with one dynamic context per test (its
node id, switched by a pytest plugin at setup, call and teardown), and writes OUT.json:

- `lines`: for each file under SOURCE_DIR (repository-relative path), each executed line and the
  indices (into `tests`) of the tests that executed it; index -1 is "outside any test" (module
  imports during collection, that is: code that runs when a module is imported).
- `tests`: the node ids; `seconds`: each test's time; `modules`: the third-party modules the run
  imported (the fork server preloads them instead of running a warm-up); `source_hash`: a hash of
  every .py file under alexspec/, compiler/, runtime/ and tests/, so a map of other code or other
  tests is refused.

Exits 1 if a test failed: the map doubles as cosmic-ray's baseline (the unmutated code passes).
Lines that only a child process runs (the CLI in a subprocess, torchrun's workers) are attributed
to no test, so a mutant there runs no test here (the score can only come out lower, never
higher).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = ("alexspec", "compiler", "runtime")
OUTSIDE = -1  # the context of code run outside any test: imports


def source_hash(packages: Path, tests: Path) -> str:
    """sha256 over the relative path and bytes of every .py file of the packages (under
    `packages`) and of the tests (under `tests`)."""
    h = hashlib.sha256()
    for base, dirs in ((packages, PACKAGE_DIRS), (tests, ("tests",))):
        for d in dirs:
            for f in sorted((base / d).rglob("*.py")):
                h.update(str(f.relative_to(base)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


class Contexts:
    """A pytest plugin: coverage's context is the running test's node id."""

    def __init__(self, cov) -> None:
        self.cov = cov
        self.seconds: dict[str, float] = {}
        self.failed: list[str] = []

    def pytest_runtest_setup(self, item) -> None:
        self.cov.switch_context(item.nodeid)

    def pytest_runtest_logreport(self, report) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration
        if report.failed:
            self.failed.append(report.nodeid)

    def pytest_runtest_logfinish(self, nodeid, location) -> None:
        self.cov.switch_context("")


def build(out: Path, source_dir: str, args: list[str]) -> int:
    """Run pytest on `args` under coverage of `source_dir`; write the map to `out`."""
    import coverage

    hashed = source_hash(ROOT, ROOT)  # before the run: the code and tests the map is of
    cov = coverage.Coverage(source=[str(ROOT / source_dir)], data_file=None, branch=False)
    cov.start()
    sys.path.insert(0, str(ROOT))  # as `python -m pytest` has it: `tests.*` helpers import
    import pytest  # after start: nothing of ours is imported before coverage runs

    plugin = Contexts(cov)
    start = time.monotonic()
    status = pytest.main(args, plugins=[plugin])
    cov.stop()
    data = cov.get_data()
    tests = sorted(plugin.seconds)
    index = {t: i for i, t in enumerate(tests)}
    lines: dict[str, dict[str, list[int]]] = {}
    for file in sorted(data.measured_files()):
        rel = str(Path(file).resolve().relative_to(ROOT))
        by_line = data.contexts_by_lineno(file)
        lines[rel] = {str(n): sorted({index.get(c, OUTSIDE) for c in ctxs}) for n, ctxs in sorted(by_line.items())}
    ours = ("alexspec", "tests", "conftest", "__main__")
    modules = sorted(n for n, m in sys.modules.items()
                     if m is not None and n.split(".")[0] not in ours and not n.startswith("test_")
                     and not str(getattr(m, "__file__", "") or "").startswith(str(ROOT)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source_dir": source_dir, "source_hash": hashed,
                               "args": args, "tests": tests, "seconds": plugin.seconds,
                               "modules": modules, "lines": lines}))
    print(f"coverage_map: {len(tests)} tests, {sum(len(v) for v in lines.values())} lines in "
          f"{len(lines)} files, {time.monotonic() - start:.0f} s, pytest exited {status}", file=sys.stderr)
    if status != 0 or plugin.failed:
        print(f"coverage_map: tests failed ({', '.join(plugin.failed[:5])}): the map is no baseline",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(build(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))
