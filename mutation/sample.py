"""Cut a cosmic-ray session down before `exec`, for runs that must fit the time:

    python mutation/sample.py SESSION N [SEED]          # a seeded random sample of N mutants
    python mutation/sample.py SESSION --survivors REPORT NAME  # only REPORT's survivors that no
                                    # one has judged yet (mutation/unjudged.py; NAME: the module's run)
    python mutation/sample.py SESSION --lines MODULE:FIRST-LAST[,FIRST-LAST]  # only the mutants in
                                    # those lines (lines changed after a whole run, run on their own)

REPORT is a `cr-report` text (mutation/results/NAME.txt); a mutant is named there by module,
operator and occurrence, which `cosmic-ray init` gives again for the same source text.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from annotations import HUNK  # noqa: E402

def changed_row(diff: str) -> int:
    """The first line (1-based, of the unmutated source) that a mutant's unified diff changes."""
    row = 0
    for line in diff.splitlines():
        hunk = HUNK.match(line)
        if hunk:
            row = int(hunk[1])
        elif line.startswith("-"):
            return row
        elif line.startswith(" "):
            row += 1
    raise ValueError("the diff removes no line")


def _keep(db: sqlite3.Connection, keep: set[str]) -> None:
    ids = [r[0] for r in db.execute("SELECT job_id FROM work_items")]
    drop = [(i,) for i in ids if i not in keep]
    db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
    db.executemany("DELETE FROM work_items WHERE job_id = ?", drop)
    db.commit()
    print(f"kept {len(ids) - len(drop)} of {len(ids)} mutants")


def main(argv: list[str]) -> None:
    db = sqlite3.connect(argv[0])
    if argv[1] == "--survivors":
        from unjudged import unjudged

        want = {key: changed_row(diff) for key, diff in unjudged(Path(argv[2]), argv[3])}
        rows = db.execute("SELECT job_id, module_path, operator_name, occurrence, start_pos_row "
                          "FROM mutation_specs")
        # a mutant's number counts its operator's sites in the module: the same number at another
        # line is another mutant (code added above it since the report)
        keep = {j for j, mod, op, occ, row in rows if want.get((mod, op, occ)) == row}
        if len(keep) != len(want):
            sys.exit(f"{len(want) - len(keep)} survivors of {argv[2]} are not in this session at the "
                     "same line (the source changed since): run the whole module again")
    elif argv[1] == "--lines":
        module, spans = argv[2].rsplit(":", 1)
        ranges = [tuple(int(n) for n in span.split("-")) for span in spans.split(",")]
        rows = db.execute("SELECT job_id, module_path, start_pos_row, end_pos_row FROM mutation_specs")
        keep = {j for j, mod, start, end in rows
                if mod == module and any(start <= last and end >= first for first, last in ranges)}
    else:
        ids = sorted(r[0] for r in db.execute("SELECT job_id FROM work_items"))
        keep = set(random.Random(int(argv[2]) if len(argv) > 2 else 12).sample(ids, min(int(argv[1]), len(ids))))
    _keep(db, keep)


if __name__ == "__main__":
    main(sys.argv[1:])
