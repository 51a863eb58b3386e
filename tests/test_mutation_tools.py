"""The mutation tooling's own arithmetic (mutation/table.py, try_mutant.py, annotations.py,
unjudged.py) on small reports written here, so that the table in docs/testing.md rests on tested
code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mutation"))
import annotations  # noqa: E402
import table  # noqa: E402
import try_mutant  # noqa: E402
import unjudged  # noqa: E402
from annotations import apply  # noqa: E402

SOURCE = "def f(a, b):\n    x = a * b\n    return x + 1\n"


def _entry(job: str, occ: int, outcome: str, old: str, new: str) -> str:
    return (f"[job-id] {job}\nm.py core/NumberReplacer {occ}\n"
            f"worker outcome: WorkerOutcome.NORMAL, test outcome: TestOutcome.{outcome}\n"
            "=== DIFF ===\n--- mutation diff ---\n--- am.py\n+++ bm.py\n"
            f"@@ -1,3 +1,3 @@\n def f(a, b):\n-    {old}\n+    {new}\n     return x + 1\n============\n")


def _report(head: str, entries: list[str], total: int) -> str:
    survivors = sum("SURVIVED" in e for e in entries)
    return (head + "\n" + "".join(entries) + f"total jobs: {total}\ncomplete: {len(entries)} (x%)\n"
            f"surviving mutants: {survivors} (y%)\n")


@pytest.fixture
def results(tmp_path, monkeypatch):
    (tmp_path / "results").mkdir()
    monkeypatch.setattr(table, "HERE", tmp_path)
    return tmp_path / "results"


def test_the_score_counts_later_kills_and_leaves_equivalents_out(results):
    entries = [_entry("a", 0, "KILLED", "x = a * b", "x = a + b"),
               _entry("b", 1, "SURVIVED", "x = a * b", "x = a - b"),
               _entry("c", 2, "SURVIVED", "x = a * b", "x = a / b"),
               _entry("d", 3, "SURVIVED", "x = a * b", "x = a ** b")]
    (results / "m.txt").write_text(_report("commit abc1234, sample all, 9 s", entries, 4))
    (results / "m-rerun1.txt").write_text(_report("commit def5678, sample all, survivors rerun, 3 s",
                                                  [_entry("e", 1, "KILLED", "x = a * b", "x = a - b")], 1))
    line = table.row("m", eq={("m.py", "core/NumberReplacer", 2)}, by_hand={("m.py", "core/NumberReplacer", 3)})
    # 1 killed, 2 later (a rerun, a test by hand), none left but the equivalent: 3 of 3
    assert line == "| m | abc1234 | 4 | 4 | 1 | 2 | 1 | 1 | 100.0% |"
    line = table.row("m", eq=set(), by_hand=set())
    assert line == "| m | abc1234 | 4 | 4 | 1 | 1 | 2 | 0 | 50.0% |"


def test_a_stopped_run_says_how_far_it_got_and_a_sample_gives_an_interval(results):
    entries = [_entry("a", 0, "KILLED", "x = a * b", "x = a + b"),
               _entry("b", 1, "SURVIVED", "x = a * b", "x = a - b")]
    (results / "m.txt").write_text(_report("commit abc1234, sample all, 9 s", entries, 8))
    assert table.row("m", set(), set()) == "| m | abc1234 | 8 | 2 (stopped: 25%, random order) | 1 | 0 | 1 | 0 | 50.0% |"
    (results / "kept").mkdir()
    (results / "kept" / "m.txt").write_text(_report("commit abc1234, sample 2 of 90, 9 s", entries, 2))
    low, high = table.wilson(1, 2)
    assert table.row("m sampled", set(), set(), Path("kept") / "m.txt") == (
        f"| m sampled | abc1234 | 90 | 2 (random sample) | 1 | 0 | 1 | 0 | 50.0% (95%: {low:.0%}-{high:.0%}) |")
    assert (round(low, 4), round(high, 4)) == (0.0945, 0.9055)  # Wilson's interval for 1 of 2


def test_try_mutant_takes_the_named_mutants_diff_from_a_report(tmp_path):
    entries = [_entry("a", 0, "KILLED", "x = a * b", "x = a + b"),
               _entry("b", 1, "SURVIVED", "x = a * b", "x = a - b")]
    report = tmp_path / "r.txt"
    report.write_text(_report("commit abc1234, sample all, 9 s", entries, 2))
    diff = try_mutant.mutant_diff(report, "m.py", "core/NumberReplacer", 1)
    assert apply(SOURCE, diff) == SOURCE.replace("a * b", "a - b")
    with pytest.raises(SystemExit, match="not in"):
        try_mutant.mutant_diff(report, "m.py", "core/NumberReplacer", 7)


def test_the_reading_list_leaves_out_every_survivor_already_accounted_for(results, monkeypatch):
    root = results.parent
    monkeypatch.setattr(unjudged, "HERE", root)
    monkeypatch.setattr(annotations, "ROOT", root)
    (root / "m.py").write_text(SOURCE)
    (root / "n.py").write_text("from __future__ import annotations\n\n\ndef g(a: int | None) -> int:\n    return 1\n")
    annotation_only = ("[job-id] g\nn.py core/ReplaceBinaryOperator_BitOr_Add 0\n"
                       "worker outcome: WorkerOutcome.NORMAL, test outcome: TestOutcome.SURVIVED\n"
                       "=== DIFF ===\n--- mutation diff ---\n--- an.py\n+++ bn.py\n@@ -4,2 +4,2 @@\n"
                       "-def g(a: int | None) -> int:\n+def g(a: int + None) -> int:\n     return 1\n============\n")
    entries = [_entry("a", 0, "KILLED", "x = a * b", "x = a + b"),
               _entry("b", 1, "SURVIVED", "x = a * b", "x = a - b"),  # a rerun killed it
               _entry("c", 2, "SURVIVED", "x = a * b", "x = a / b"),  # listed as equivalent
               _entry("d", 3, "SURVIVED", "x = a * b", "x = a ** b"),  # killed by hand
               _entry("e", 4, "SURVIVED", "x = a * b", "x = a % b"),  # nobody has judged it
               annotation_only]
    report = root / "session.txt"
    report.write_text(_report("commit abc1234, sample all, 9 s", entries, 6))
    (results / "m-rerun1.txt").write_text(_report("commit def5678, sample all, survivors rerun, 3 s",
                                                  [_entry("f", 1, "KILLED", "x = a * b", "x = a - b")], 1))
    (root / "equivalent.txt").write_text("# a block\nm.py core/NumberReplacer 2  # a reason\n")
    (root / "killed_by_hand.txt").write_text("m.py core/NumberReplacer 3  # tests/test_m.py::test_m\n")
    left = unjudged.unjudged(report, "m")
    assert [key for key, _diff in left] == [("m.py", "core/NumberReplacer", 4)]
    assert apply(SOURCE, left[0][1]) == SOURCE.replace("a * b", "a % b")
    assert unjudged.unjudged(report, "m", "n") == []
    assert unjudged.unjudged(report, "m", "", "m.py") == []
    (root / "equivalent.txt").write_text("")
    assert [key[2] for key, _diff in unjudged.unjudged(report, "m")] == [2, 4]


def test_a_lines_selection_keeps_the_mutants_that_touch_those_lines(tmp_path, capsys):
    import sqlite3

    import sample

    db_path = tmp_path / "session.sqlite"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE work_items (job_id TEXT)")
    db.execute("CREATE TABLE mutation_specs "
               "(job_id TEXT, module_path TEXT, start_pos_row INT, end_pos_row INT)")
    specs = [("a", "m.py", 3, 3), ("b", "m.py", 5, 6), ("c", "m.py", 7, 7), ("d", "n.py", 5, 5),
             ("e", "m.py", 1, 9)]  # rows 3 and 7 of m.py: a, c, and e around them; not b (5 to 6)
    db.executemany("INSERT INTO mutation_specs VALUES (?, ?, ?, ?)", specs)
    db.executemany("INSERT INTO work_items VALUES (?)", [(s[0],) for s in specs])
    db.commit()
    sample.main([str(db_path), "--lines", "m.py:3-3,7-7"])
    assert capsys.readouterr().out == "kept 3 of 5 mutants\n"
    kept = {r[0] for r in db.execute("SELECT job_id FROM work_items")}
    assert kept == {r[0] for r in db.execute("SELECT job_id FROM mutation_specs")} == {"a", "c", "e"}


def test_a_diff_of_lines_that_moved_is_refused_and_the_changed_row_is_found():
    import sample

    diff = _entry("a", 0, "SURVIVED", "x = a * b", "x = a + b").split("+++ bm.py\n")[1].split("====")[0]
    assert sample.changed_row(diff) == 2
    moved = "\n" + SOURCE  # a line added above: the diff's lines 1 to 3 are now 2 to 4
    with pytest.raises(ValueError, match="line 1 of the source"):
        apply(moved, diff)
    at_eof = diff + " \n"  # cosmic-ray's diffs end in an empty context line past the end
    assert apply(SOURCE, at_eof) == SOURCE.replace("a * b", "a + b")
