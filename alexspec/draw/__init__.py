"""Drawing a checked Net with graphviz: the paper's Figure 2, or a Caffe-like layer graph.

`draw(net, out_path, style)` writes SVG, PDF, PNG or DOT by the output's extension and returns
the one-line message the CLI prints. No torch here: `alexspec draw` starts instantly.
"""

from __future__ import annotations

from pathlib import Path

from alexspec.draw.figure2 import figure2_graph
from alexspec.draw.graph import layer_graph
from alexspec.draw.render import FORMATS, render
from alexspec.draw.stages import Figure2, Link, Stage, figure2_stages
from alexspec.net import Net

STYLES = ("figure2", "graph")


def build_graph(net: Net, style: str = "figure2", rankdir: str | None = None):
    """The graphviz.Digraph of `net` in `style` ('figure2' or 'graph'); `rankdir` TB or LR is
    the direction of the stages (default: LR for Figure 2, as in the paper; TB for the graph)."""
    if style == "figure2":
        return figure2_graph(net, rankdir or "LR")
    if style == "graph":
        return layer_graph(net, rankdir or "TB")
    raise ValueError(f"unknown drawing style {style!r} (expected one of {', '.join(STYLES)})")


def draw(net: Net, out_path: str | Path, style: str = "figure2", rankdir: str | None = None) -> str:
    """Draw `net` into `out_path` (.svg, .pdf, .png or .dot) and say what was written.

    Without graphviz's `dot` program the DOT source is written next to `out_path` and the
    message says how to install graphviz. Same net, same bytes.
    """
    graph = build_graph(net, style, rankdir)
    what = ("Figure 2" if style == "figure2" else "layer graph") + f" of {Path(net.path).name}"
    return render(graph, Path(out_path), what)


__all__ = [
    "FORMATS", "STYLES", "Figure2", "Link", "Stage", "build_graph", "draw", "figure2_graph",
    "figure2_stages", "layer_graph", "render",
]
