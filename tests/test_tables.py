"""alexspec.tables draws what rich drew before it (the `check` report, plain and styled), and
`check` prints it without importing rich (tests/test_startup.py has the rest of start-up)."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console, Group
from rich.table import Table as RichTable
from rich.text import Text

import alexspec
from alexspec.report import check_report
from alexspec.tables import Line, Report, Table, cell_width

ROOT = Path(__file__).resolve().parent.parent


def _rich_block(b):
    """The rich renderable the report was before alexspec.tables (report.py at 977a3a9)."""
    if isinstance(b, Line):
        return Text.assemble(*b.pieces)
    t = RichTable(title=Text(b.title, style="table.title"), title_justify="left")
    for header, justify in b.columns:
        t.add_column(Text(header), justify=justify)
    for r in b.rows:
        t.add_row(*(Text(c) for c in r.cells), style=r.style)
        if r.section_after:
            t.add_section()
    return t


def rich_text(report: Report, styled: bool, no_color: bool = False) -> str:
    """What alexspec.console printed with rich: no wrapping, width 10,000 off a terminal."""
    f = io.StringIO()
    c = Console(file=f, force_terminal=styled, width=10_000, highlight=False, soft_wrap=True,
                no_color=no_color, color_system="standard" if styled else None)
    c.print(Group(*(_rich_block(b) for b in report.blocks)))
    return f.getvalue()


def _nets():
    for p in sorted((ROOT / "specs").glob("*.cfg")) + [ROOT / "tests/specs/compiler/hybrid-2gpu.cfg"]:
        yield p.name, alexspec.load(str(p.relative_to(ROOT)))
    base = "tests/specs/cuda-convnet/"
    yield "80sec", alexspec.load(base + "layers-80sec.cfg", base + "layer-params-80sec.cfg", inner_size=32)


NETS = dict(_nets())


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("styled,colour", [(False, True), (True, True), (True, False)])
def test_check_report_is_what_rich_drew(name, styled, colour):
    report = check_report(NETS[name])
    assert report.text(styled, colour) == rich_text(report, styled, no_color=not colour)


def test_hybrid_report_has_its_tables():
    text = check_report(NETS["hybrid-2gpu.cfg"]).text()
    assert "hybrid: one process per logical GPU (2)" in text and "│    total │" in text


ODD = ["数据层", "é́fc", "a\x01b", "[bold]x[/bold]", ":smile:", "tab\there", "", "x" * 90]


@pytest.mark.parametrize("styled", [False, True])
def test_odd_cells_titles_and_justification_as_rich(styled):
    t = Table("a title longer than the table it names,\nover two lines")
    for header, justify in (("left", "left"), ("mid", "center"), ("right", "right")):
        t.add_column(header, justify)
    for i, s in enumerate(ODD):
        t.add_row(s, s[: i % 3], s[::-1], style="bold" if i % 2 else None)
        if i == 3:
            t.add_section()
    t.add_section()  # after the last row: no rule, as rich
    narrow = Table("n")
    narrow.add_column("h")
    report = Report([t, narrow, Line.plain("end"), Line((("ok ", "bold green"), ("plain", None)))])
    assert report.text(styled) == rich_text(report, styled)


def test_cell_width_as_rich():
    for s in ODD + ["ｆｕｌｌ", "Ünïcödé", "\u200bzero", "e\u0301", "한국어", "\x7f\x9f"]:
        assert cell_width(s) == cell_len(s), s


def test_row_width_must_match_columns():
    t = Table("t")
    t.add_column("a")
    with pytest.raises(ValueError):
        t.add_row("1", "2")


GUARD = """
import contextlib, io, sys
from alexspec.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    rc = main(["check", sys.argv[1]])
print(rc, "60,965,224" in out.getvalue() or "9,218" in out.getvalue(),
      sorted({m.split(".")[0] for m in sys.modules} & {"rich"}))
"""


@pytest.mark.parametrize("spec", ["specs/alexnet.cfg", "tests/specs/compiler/hybrid-2gpu.cfg"])
def test_check_does_not_import_rich(spec):
    # rich: a third of check's start-up (its import and its table render)
    r = subprocess.run([sys.executable, "-c", GUARD, spec], capture_output=True, text=True, timeout=60,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[-2] == "0 True []"

