"""Run tests against one surviving mutant of a report, and against the unmutated code:

    .venv/bin/python mutation/try_mutant.py REPORT MODULE OPERATOR OCCURRENCE [PYTEST ARGS...]

REPORT is a `cr-report --show-diff` text (mutation/results/NAME.txt, or one written from a running
session's copy); the mutant is named as in equivalent.txt (`compiler/plan.py
core/NumberReplacer 3`). The repository's alexspec/, compiler/, runtime/, tests/ and scripts/ are
copied to a temporary folder, the mutant's diff is applied there, and pytest runs on the copy
through scripts/pytest_in.py (PYTEST ARGS, default: the whole non-slow suite), then again on the
unmutated copy. Prints whether the tests kill the mutant, and exits 0 only when they fail on the
mutant and pass without it: the check that a new test kills its mutant, or that a test outside a
run's selection does (killed_by_hand.txt).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from annotations import ENTRY, apply  # noqa: E402

COPIED = ("alexspec", "compiler", "runtime", "tests", "scripts", "specs", "pyproject.toml")


def mutant_diff(report: Path, module: str, operator: str, occurrence: int) -> str:
    """The hunks of the unified diff the report gives for the surviving mutant (annotations.py's
    reading of a report's survivors)."""
    for m in ENTRY.finditer(report.read_text()):
        if (m["module"], m["op"], int(m["occ"])) == (module, operator, occurrence):
            return m["diff"]
    raise SystemExit(f"{module} {operator} {occurrence} is not in {report} as a survivor")


def _pytest(root: Path, args: list[str]) -> int:
    cmd = [sys.executable, str(ROOT / "scripts" / "pytest_in.py"), str(root), "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=root).returncode


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        raise SystemExit(__doc__)
    report, module, operator, occurrence, *args = argv
    args = args or ["-x", "-q", "-m", "not slow", "tests"]
    diff = mutant_diff(Path(report), module, operator, int(occurrence))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, copy / name)
        target = copy / module
        pristine = target.read_text()
        try:
            mutated = apply(pristine, diff)
        except ValueError as e:
            raise SystemExit(f"{module}: {e}: is the report of this source?") from None
        if mutated == pristine:
            raise SystemExit("the diff changes nothing: is the report of this source?")
        target.write_text(mutated)
        print(f"--- {module} {operator} {occurrence}:\n{diff}", flush=True)
        on_mutant = _pytest(copy, args)
        target.write_text(pristine)
        on_pristine = _pytest(copy, args)
    killed = on_mutant != 0
    if on_mutant not in (0, 1):  # not a failing test: an import or collection error, a usage error
        print(f"pytest exit {on_mutant} on the mutant is no failing test: read its output above (a "
              "mutant that breaks an import is killed; a broken copy or a typo in the arguments is not)")
    print(f"mutant: pytest exit {on_mutant} ({'killed' if killed else 'SURVIVES'}); "
          f"unmutated: pytest exit {on_pristine} ({'passes' if on_pristine == 0 else 'FAILS: fix the test'})")
    return 0 if killed and on_pristine == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
