"""The mutation table of docs/testing.md from mutation/results/*.txt and mutation/equivalent.txt:

    .venv/bin/python mutation/table.py

Per module (mutation/results/NAME.txt, one `mutation/run.sh NAME` over the whole module): the
mutants cosmic-ray made, how many of them were run (all, unless the run was stopped: then the
first N of its random job order), killed by the tests of that run, survivors killed by tests
added afterwards (the `NAME-rerunK.txt` reports) or, listed in killed_by_hand.txt, by a test
outside the module's run, survivors left, of those the equivalent ones (listed with a reason in
equivalent.txt), and the score: killed / non-equivalent, over the mutants run. A sampled run
(`SAMPLE=N`) gives the module's mutant count, the sample's size, and its score with a 95% Wilson
interval: an estimate of the whole module's score.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
NAMES = ("evaluate", "sgd", "checkpoint", "augment", "check", "shapes", "compiler")
# Runs beside the whole ones: an earlier one kept, and the lines changed after the whole run
# (LINES=, NAME-lines.txt); (row label, first report), its reruns beside it.
KEPT = (("compiler: seeded sample of 600", Path("compiler-sample-00ef638") / "compiler.txt"),
        ("compiler: plan.py's lines changed since a397228", Path("compiler-lines.txt")))


Key = tuple[str, str, int]  # (module, operator, occurrence), as equivalent.txt names a mutant
# One mutant of a `cr-report` text and its outcome.
ENTRY = re.compile(r"^\[job-id\] \S+\n(?P<module>\S+) (?P<op>\S+) (?P<occ>\d+)\n"
                   r"worker outcome: \S+, test outcome: TestOutcome\.(?P<outcome>\w+)", re.M)


def outcomes(report: Path) -> dict[Key, str]:
    """(module, operator, occurrence) -> KILLED / SURVIVED / INCOMPETENT ... for one report."""
    return {(m["module"], m["op"], int(m["occ"])): m["outcome"] for m in ENTRY.finditer(report.read_text())}


def killed_in_reruns(first: Path) -> set[Key]:
    """The mutants that a rerun of the run reported in `first` killed (its reruns lie beside it,
    `NAME-rerunK.txt`); a kill in any rerun counts."""
    return {k for rerun in sorted(first.parent.glob(f"{first.stem}-rerun*.txt"))
            for k, v in outcomes(rerun).items() if v != "SURVIVED"}


def listed(file: str) -> set[Key]:
    """The mutants a list names: `module operator occurrence  # reason` lines."""
    out = set()
    for line in (HERE / file).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            mod, op, occ = line.split()
            out.add((mod, op, int(occ)))
    return out


def row(name: str, eq: set, by_hand: set, report: Path | None = None) -> str | None:
    """One module's table row (its run's first report: results/NAME.txt unless given, relative to
    results/), or None when it has no report."""
    first = HERE / "results" / (report or f"{name}.txt")
    if not first.is_file():
        return None
    text = first.read_text()
    head = text.splitlines()[0]
    commit = re.search(r"commit (\w+)", head)[1]
    total = int(re.search(r"^total jobs: (\d+)", text, re.M)[1])
    o = outcomes(first)
    later = killed_in_reruns(first) | by_hand
    killed = sum(v != "SURVIVED" for v in o.values())  # killed, or the test run failed/timed out
    survivors = [k for k, v in o.items() if v == "SURVIVED"]
    newly = sum(k in later for k in survivors)
    left = [k for k in survivors if k not in later]
    equiv = sum(k in eq for k in left)
    non_eq = len(o) - equiv
    score = (killed + newly) / non_eq if non_eq else 1.0
    scored = f"{score:.1%}"
    sampled = re.search(r"sample (\d+) of (\d+)", head)
    if sampled:  # a seeded random sample (mutation/sample.py): the score is an estimate
        total = int(sampled[2])
        low, high = wilson(killed + newly, non_eq)
        run, scored = f"{len(o)} (random sample)", f"{scored} (95%: {low:.0%}-{high:.0%})"
    else:
        run = f"{len(o)}" if len(o) == total else f"{len(o)} (stopped: {len(o) / total:.0%}, random order)"
    return f"| {name} | {commit} | {total} | {run} | {killed} | {newly} | {len(left)} | {equiv} | {scored} |"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson interval of a proportion k / n (a sample's score for the whole module)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre, half = p + z * z / (2 * n), z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def main() -> None:
    eq, by_hand = listed("equivalent.txt"), listed("killed_by_hand.txt")
    print("| module | measured on | mutants | run | killed | killed later (new tests, reruns) | survived "
          "| equivalent | score (killed / non-equivalent) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, report in [(n, None) for n in NAMES] + list(KEPT):
        line = row(name, eq, by_hand, report)
        if line:
            print(line)


if __name__ == "__main__":
    main()
