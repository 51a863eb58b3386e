"""Rerun issue 12's planted bugs: each entry of tests/planted/bugs.py is applied, alone, to a
copy of the repository's files, and the tests it names must fail there; in the unchanged copy
they must pass. The working tree is never modified.

    .venv/bin/python scripts/planted.py            # every bug
    .venv/bin/python scripts/planted.py ID ...     # some of them
    .venv/bin/python scripts/planted.py --list     # the ids

The copy is imported instead of the installed (editable) alexspec through
`scripts/pytest_in.py`; tests that start a new Python process would import the installed
package, so the tests named in the list run in-process. Exit status 0 when every bug is caught.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _copy(dest: Path) -> None:
    """The tracked files and the untracked ones git does not ignore, as they are now."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                         check=True, capture_output=True).stdout.decode()
    for name in filter(None, out.split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _pytest(root: Path, tests: list[str], report: Path) -> dict[str, str]:
    """Run `tests` in the copy; the outcome of each test id ("passed", "failed", "skipped")."""
    cmd = [sys.executable, str(REPO / "scripts" / "pytest_in.py"), str(root),
           "-q", "-p", "no:cacheprovider", f"--junit-xml={report}", *tests]
    subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    outcome: dict[str, str] = {}
    if not report.is_file():
        return outcome
    for case in ET.parse(report).getroot().iter("testcase"):
        file = case.get("classname", "").replace(".", "/") + ".py"
        node = f"{file}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcome[node] = ("failed" if kinds & {"failure", "error"} else
                         "skipped" if "skipped" in kinds else "passed")
    return outcome


def _caught(outcome: dict[str, str], wanted: tuple[str, ...], state: str) -> list[str]:
    """The wanted test ids whose outcome is not `state` (parametrized ids count by prefix)."""
    bad = []
    for w in wanted:
        got = {o for node, o in outcome.items() if node == w or node.startswith(w + "[")}
        if got != {state}:
            bad.append(f"{w}: {', '.join(sorted(got)) or 'not run'}")
    return bad


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ids", nargs="*", help="bug ids (default: all)")
    p.add_argument("--list", action="store_true", help="print the ids and exit")
    a = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tests.planted.bugs import BUGS

    if a.list:
        for b in BUGS:
            print(f"{b.id:36s} {b.file}")
        return 0
    bugs = [b for b in BUGS if not a.ids or b.id in a.ids]
    if a.ids and len(bugs) != len(set(a.ids)):
        print(f"unknown id(s): {sorted(set(a.ids) - {b.id for b in BUGS})}")
        return 2
    failures = 0
    with tempfile.TemporaryDirectory(prefix="alexspec-planted-") as tmp:
        root = Path(tmp) / "repo"
        _copy(root)
        t0 = time.monotonic()
        wanted = tuple(sorted({t for b in bugs for t in b.catch}))
        bad = _caught(_pytest(root, list(wanted), Path(tmp) / "clean.xml"), wanted, "passed")
        print(f"{'clean copy':36s} {'ok' if not bad else 'FAIL'}  {time.monotonic() - t0:5.1f} s")
        for line in bad:
            print(f"    does not pass without a bug: {line}")
        failures += bool(bad)
        for b in bugs:
            t0 = time.monotonic()
            target = root / b.file
            text = target.read_text(encoding="utf-8")
            if text.count(b.old) != 1:
                print(f"{b.id:36s} STALE: the old text occurs {text.count(b.old)} times in {b.file}")
                failures += 1
                continue
            target.write_text(text.replace(b.old, b.new), encoding="utf-8")
            try:
                bad = _caught(_pytest(root, list(b.catch), Path(tmp) / f"{b.id}.xml"), b.catch,
                              "failed")
            finally:
                target.write_text(text, encoding="utf-8")
            print(f"{b.id:36s} {'caught' if not bad else 'MISSED'}  {time.monotonic() - t0:5.1f} s")
            for line in bad:
                print(f"    not failing with the bug: {line}")
            failures += bool(bad)
    print("every planted bug is caught" if not failures else f"{failures} problem(s)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
