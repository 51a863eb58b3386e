"""The survivors of a report that nobody has judged yet, with their diffs: the reading list.

    .venv/bin/python mutation/unjudged.py REPORT NAME [PATH PREFIX [LEFT-OUT PREFIX]]
    # e.g. mutation/unjudged.py session-copy.txt compiler compiler/ compiler/layers/

REPORT is a `cr-report --show-diff` text (mutation/results/NAME.txt, or one written from a running
session's copy). Left out are the survivors that equivalent.txt lists, that killed_by_hand.txt
lists, that a rerun of NAME (mutation/results/NAME-rerunK.txt) killed, and those that change
function annotations only (mutation/annotations.py's rule). With PATH PREFIX, only survivors in
modules under it, and not under LEFT-OUT PREFIX when that is given. Each one left is printed as
the report has it; the last line counts them.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from annotations import ENTRY, mutant_only_annotations  # noqa: E402
from table import Key, killed_in_reruns, listed  # noqa: E402


def judged(name: str) -> set[Key]:
    """The mutants already accounted for: listed as equivalent or killed by hand, or killed by a
    rerun of the module's run."""
    return (listed("equivalent.txt") | listed("killed_by_hand.txt")
            | killed_in_reruns(HERE / "results" / f"{name}.txt"))


def unjudged(report: Path, name: str, prefix: str = "", left_out: str = "") -> list[tuple[Key, str]]:
    """(module, operator, occurrence) and diff of each survivor of `report` (under `prefix`, not
    under `left_out`) that is not yet accounted for (`judged`) and changes more than function
    annotations."""
    done = judged(name)
    left = []
    for m in ENTRY.finditer(report.read_text()):
        module = m["module"]
        key = (module, m["op"], int(m["occ"]))
        if key in done or not module.startswith(prefix) or (left_out and module.startswith(left_out)):
            continue
        try:
            annotation_only = mutant_only_annotations(module, m["diff"])
        except ValueError:  # lines around it changed since the report: a reader must look
            annotation_only = False
        if not annotation_only:
            left.append((key, m["diff"]))
    return left


def main(report: Path, name: str, prefix: str = "", left_out: str = "") -> int:
    left = unjudged(report, name, prefix, left_out)
    for (module, op, occ), diff in left:
        print(f"{module} {op} {occ}\n{diff}")
    print(f"{len(left)} survivors not yet judged")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], *sys.argv[3:5]))
