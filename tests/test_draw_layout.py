"""Drawing directions and legibility: `--rankdir` for the layer graph and Figure 2, and Figure 2's
text readable when the picture is printed 16 cm wide (measured on the rendered SVG)."""

from __future__ import annotations

import re

import pytest

import alexspec
from alexspec.cli import main
from alexspec.draw import build_graph
from tests.draw_dot import ALEXNET, needs_dot

PAGE_PT = 16 / 2.54 * 72  # 16 cm in points


@pytest.fixture(scope="module")
def alexnet() -> alexspec.Net:
    return alexspec.load(str(ALEXNET))


@pytest.mark.parametrize("style,rankdir,port", [("graph", "TB", None), ("graph", "LR", None),
                                                ("figure2", "LR", 'tailport=e'),
                                                ("figure2", "TB", 'tailport=s')])
def test_rankdir_in_the_source(alexnet, style, rankdir, port):
    source = build_graph(alexnet, style, rankdir).source
    assert f"rankdir={rankdir}" in source
    if port:
        assert port in source


def test_defaults_and_bad_rankdir(alexnet):
    assert "rankdir=TB" in build_graph(alexnet, "graph").source  # a deep net: top to bottom
    assert "rankdir=LR" in build_graph(alexnet, "figure2").source  # the paper's direction
    with pytest.raises(ValueError):
        build_graph(alexnet, "graph", "RL")


def smallest_text_at_16_cm(svg: str) -> tuple[float, float]:
    """(the smallest text of an SVG drawn by graphviz, in points, when the picture is printed
    16 cm wide; the picture's width in points): every <text>'s font-size, times the graph's
    scale, times 16 cm over the width."""
    width = float(re.search(r'<svg width="([\d.]+)pt"', svg).group(1))
    scale = re.search(r'class="graph" transform="scale\(([\d.]+)', svg)
    sizes = [float(x) for x in re.findall(r'<text[^>]*font-size="([\d.]+)"', svg)]
    assert sizes and len(sizes) == svg.count("<text"), "every text has a font size"
    return min(sizes) * (float(scale.group(1)) if scale else 1.0) * PAGE_PT / width, width


def test_smallest_text_measure_on_a_known_svg():
    svg = ('<svg width="907pt" height="100pt"><g id="graph0" class="graph" transform="scale(1 1)">'
           '<text font-size="14.00">a</text><text font-size="28.00">b</text></g></svg>')
    points, width = smallest_text_at_16_cm(svg)
    assert width == 907 and points == pytest.approx(14 * PAGE_PT / 907)


@needs_dot
@pytest.mark.parametrize("rankdir", [None, "TB", "LR"])
def test_figure2_every_text_reads_at_7_points_at_16_cm(tmp_path, rankdir, capsys):
    """Printed 16 cm wide, every text of Figure 2 (box text, transition labels, lane names,
    caption) is at least 7 points tall, measured on the rendered SVG. What was seen: the
    landscape default printed its link text at 3.7 points and its grey box text at 3.2."""
    out = tmp_path / "f.svg"
    args = ["draw", str(ALEXNET), "-o", str(out)] + (["--rankdir", rankdir] if rankdir else [])
    assert main(args) == 0
    points, width = smallest_text_at_16_cm(out.read_text(encoding="utf-8"))
    assert points >= 7.0, (points, width)
