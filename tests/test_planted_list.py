"""The planted-bug list stays runnable: every entry's old text occurs once in its file, and the
tests it names exist. (Applying the bugs takes minutes: `scripts/planted.py`.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.planted.bugs import BUGS

REPO = Path(__file__).resolve().parents[1]


def test_ids_are_unique():
    assert len({b.id for b in BUGS}) == len(BUGS)


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_the_planted_bug_still_applies_and_names_real_tests(bug):
    text = (REPO / bug.file).read_text(encoding="utf-8")
    assert text.count(bug.old) == 1, f"update tests/planted/bugs.py: {bug.id}'s old text moved"
    assert bug.old != bug.new and bug.catch
    for node in bug.catch:
        file, name = node.split("::")
        assert f"def {name}(" in (REPO / file).read_text(encoding="utf-8"), node
