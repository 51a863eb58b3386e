"""Text tables as `alexspec check` prints them: rich's default table look, without rich.

rich costs `check` a third of its start-up (its import and a table render that is most of
check's own work), so the report is drawn here: the same characters rich's `Table` draws with its
defaults (`box.HEAVY_HEAD`, one space of padding, bold header, italic title on the left, a rule
under each section), checked against rich itself in tests/test_tables.py. What differs: a table
wider than the terminal is printed whole (rich shrinks and wraps its columns; lines that are too
long are left to the terminal, or to `less -S`), and cells are always taken as written (rich
would read `[...]` in a `str` as markup).

Styles are the SGR codes rich writes for them, one escape per piece as rich does, used only when
the caller asks (`styled`; see `alexspec.console`); `colour=False` (NO_COLOR) keeps bold and
italic and drops colours, as rich does.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

Justify = Literal["left", "right", "center"]

# style -> SGR parameters (rich's theme: table.title italic, table.header bold; "bold green")
_SGR = {"italic": "3", "bold": "1", "green": "32", "bold green": "1;32"}
_COLOURS = {"green"}

# rich's box.HEAVY_HEAD: (left, fill, between columns, right) per kind of line
_TOP = ("┏", "━", "┳", "┓")
_HEAD = ("┃", " ", "┃", "┃")
_HEAD_RULE = ("┡", "━", "╇", "┩")
_ROW = ("│", " ", "│", "│")
_SECTION = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")


def cell_width(text: str) -> int:
    """Terminal cells `text` takes: wide (East Asian) characters 2, combining marks, format and
    control characters 0, others 1 (as rich measures them, but for joined emoji sequences)."""
    if text.isascii():
        return len(text) if text.isprintable() else sum(1 for c in text if " " <= c < "\x7f")
    n = 0
    for c in text:
        o = ord(c)
        if o < 32 or 0x7F <= o < 0xA0 or unicodedata.category(c) in ("Mn", "Me", "Cf"):
            continue
        n += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return n


def paint(text: str, style: str | None, styled: bool, colour: bool = True) -> str:
    """`text` in `style` (an SGR escape and a reset around it) when `styled`, else as it is."""
    if not styled or style is None or not text:
        return text
    if not colour:
        style = " ".join(w for w in style.split() if w not in _COLOURS) or None
        if style is None:
            return text
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def _justify(text: str, width: int, how: Justify) -> str:
    excess = width - cell_width(text)
    if how == "right":
        return " " * excess + text
    if how == "center":
        left = excess // 2
        return " " * left + text + " " * (excess - left)
    return text + " " * excess


# Plain classes, not dataclasses: creating a dataclass compiles its methods, about 4 M
# instructions each at every start (tests/test_tables.py, docs/architecture.md).
class Line:
    """One line of text made of pieces, each in a style (None: plain)."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: tuple[tuple[str, str | None], ...]) -> None:
        self.pieces = pieces

    @classmethod
    def plain(cls, text: str) -> "Line":
        return cls(((text, None),))

    def lines(self, styled: bool = False, colour: bool = True) -> list[str]:
        return ["".join(paint(t, s, styled, colour) for t, s in self.pieces)]


class _Row:
    __slots__ = ("cells", "style", "section_after")

    def __init__(self, cells: tuple[str, ...], style: str | None) -> None:
        self.cells, self.style, self.section_after = cells, style, False


class Table:
    """A titled table of text cells; `add_section` draws a rule under the last row."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.columns: list[tuple[str, Justify]] = []
        self.rows: list[_Row] = []

    def add_column(self, header: str, justify: Justify = "left") -> None:
        self.columns.append((header.expandtabs(8), justify))

    def add_row(self, *cells: str, style: str | None = None) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells in a table of {len(self.columns)} columns")
        self.rows.append(_Row(tuple(c.expandtabs(8) for c in cells), style))  # tab stops as rich

    def add_section(self) -> None:
        if self.rows:
            self.rows[-1].section_after = True

    def lines(self, styled: bool = False, colour: bool = True) -> list[str]:
        """The title (one line per line of it) and the table, as rich draws them."""
        widths = [max([cell_width(h)] + [cell_width(r.cells[i]) for r in self.rows])
                  for i, (h, _) in enumerate(self.columns)]

        def rule(box: tuple[str, str, str, str]) -> str:
            left, fill, mid, right = box
            return left + mid.join(fill * (w + 2) for w in widths) + right

        def row(box: tuple[str, str, str, str], cells: tuple[str, ...], style: str | None) -> str:
            left, _, mid, right = box
            pad = paint(" ", style, styled, colour)
            return left + mid.join(
                pad + paint(_justify(c, w, j), style, styled, colour) + pad
                for c, w, (_, j) in zip(cells, widths, self.columns)) + right

        out = [paint(t.expandtabs(8), "italic", styled, colour) for t in self.title.split("\n")]
        out += [rule(_TOP), row(_HEAD, tuple(h for h, _ in self.columns), "bold"), rule(_HEAD_RULE)]
        for i, r in enumerate(self.rows):
            out.append(row(_ROW, r.cells, r.style))
            if r.section_after and i < len(self.rows) - 1:
                out.append(rule(_SECTION))
        out.append(rule(_BOTTOM))
        return out


Block = Table | Line


class Report:
    """Tables and lines printed one after the other (what `alexspec check` prints)."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks

    def text(self, styled: bool = False, colour: bool = True) -> str:
        """The whole report, each line ending in a newline; SGR styles when `styled`."""
        return "".join(line + "\n" for b in self.blocks for line in b.lines(styled, colour))
