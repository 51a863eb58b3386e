"""Drawing directions and legibility: `--rankdir` for the layer graph and Figure 2, and Figure 2's
link text readable when the picture is printed 16 cm wide (measured on graphviz's own layout)."""

from __future__ import annotations

import re

import pytest

import alexspec
from alexspec.cli import main
from alexspec.draw import build_graph
from alexspec.draw.figure2 import LINK_POINTS
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


def _svg_width_pt(path) -> float:
    head = path.read_text(encoding="utf-8")[:2000]
    return float(re.search(r'<svg width="([\d.]+)pt"', head).group(1))


@needs_dot
@pytest.mark.parametrize("rankdir,points", [("TB", 6.0), ("LR", 3.5)])
def test_figure2_link_text_at_16_cm(tmp_path, rankdir, points, capsys):
    """Printed 16 cm wide, the link text is at least `points` tall: TB (portrait) reads at 6 pt
    or more; LR (the paper's landscape) went from 2.1 to at least 3.5."""
    out = tmp_path / "f.svg"
    assert main(["draw", str(ALEXNET), "--rankdir", rankdir, "-o", str(out)]) == 0
    width = _svg_width_pt(out)
    assert float(LINK_POINTS) * PAGE_PT / width >= points, width
