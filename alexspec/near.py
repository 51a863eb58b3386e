"""did-you-mean: the one rule every hint that proposes a name follows.

The closest candidate by difflib's ratio (the measure `difflib.get_close_matches` uses, with its
cutoff), never the misspelt text itself; among equally close candidates the one the caller
prefers (a key the section does not set yet, a layer above the reader on the reader's GPU), then
the first in the order given (file order), not the last in alphabetical order as
`get_close_matches` would pick.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

CUTOFF = 0.6


def closest(word: str, candidates: Iterable[str], prefer: Callable[[str], int] | None = None,
            fold: Callable[[str], str] | None = None, cutoff: float = CUTOFF) -> str | None:
    """The candidate most like `word`, or None when none is at least `cutoff` alike.

    `prefer(c)`: higher is better, compared only between equally close candidates. `fold` maps
    both sides before comparing (str.lower for case-insensitive keys); a candidate equal to
    `word` after folding is never proposed.
    """
    f = fold or (lambda s: s)
    w = f(word)
    m = difflib.SequenceMatcher()
    m.set_seq2(w)
    best: tuple[float, int, int] | None = None
    pick = None
    for i, c in enumerate(dict.fromkeys(candidates)):
        fc = f(c)
        if fc == w:
            continue
        m.set_seq1(fc)
        if m.real_quick_ratio() < cutoff or m.quick_ratio() < cutoff:
            continue
        r = m.ratio()
        if r < cutoff:
            continue
        rank = (r, prefer(c) if prefer else 0, -i)
        if best is None or rank > best:
            best, pick = rank, c
    return pick
