"""Colours, fonts and text escaping shared by the two drawing styles. A layer type's own colour,
detail lines and link text are in its family file (`alexspec/layers/`, read via the registry)."""

from __future__ import annotations

import html

from alexspec.layers import kind_of

# Arial, not Helvetica: graphviz hands "Helvetica" to pango as a generic sans (DejaVu Sans on Debian,
# about 19% wider), so the layout's text widths did not match the Helvetica a viewer draws the SVG
# with; "Arial" resolves to Liberation Sans on Linux (graphviz's recommended fonts-liberation2),
# metric-compatible with what viewers use.
FONT = "Arial"

# Lane colours for Figure 2 (GPU 0, 1, ...): pale backgrounds and the box fills drawn on them.
LANE_BACKGROUNDS = ("#EEF4FB", "#FDF1EC", "#EFF8EE", "#F6F0FA", "#FBF8E8", "#EDF7F7")
LANE_FILLS = ("#BFD7F0", "#F6C9B4", "#C5E6C0", "#DCC8EC", "#F0E4A8", "#BFE3E3")

SAME_GPU_EDGE = {"color": "#404040", "style": "solid", "penwidth": "1.4"}
CROSS_GPU_EDGE = {"color": "#D62728", "style": "dashed", "penwidth": "2.0", "constraint": "false"}


def kind_colour(layer_type: str) -> str:
    """The fill colour of a layer of this type (its family file's drawing, via the registry)."""
    return kind_of(layer_type).drawing.colour


def lane_colours(gpu: int) -> tuple[str, str]:
    """(background, box fill) of the lane of logical GPU `gpu`."""
    return LANE_BACKGROUNDS[gpu % len(LANE_BACKGROUNDS)], LANE_FILLS[gpu % len(LANE_FILLS)]


def html_text(text: str) -> str:
    """Text for a graphviz HTML-like label: XML-escaped, and backslashes doubled because
    graphviz turns `\\\\` into `\\` even inside HTML labels (names like `a\\b` survive)."""
    return html.escape(text, quote=True).replace("\\", "\\\\")


def dot_string(text: str) -> str:
    """A plain DOT attribute value (tooltips): backslashes and quotes escaped, newlines as `\\n`."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def count(n: int) -> str:
    """12345 -> '12,345'."""
    return f"{n:,}"
