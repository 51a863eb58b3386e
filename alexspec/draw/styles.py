"""Colours, fonts and text escaping shared by the two drawing styles."""

from __future__ import annotations

import html

FONT = "Helvetica"

# Fill colour by layer kind: Caffe draw_net's colours for conv, pool and fc; greens and blues for
# the elementwise and normalisation layers; grey for data.
KIND_COLOURS: dict[str, str] = {
    "data": "#D9D9D9",
    "conv": "#FF5050",
    "local": "#FF7F7F",
    "pool": "#FF9900",
    "cmpool": "#FFB84D",
    "fc": "#CC33FF",
    "sfc": "#DD77FF",
    "neuron": "#90EE90",
    "cmrnorm": "#7FC8F8",
    "rnorm": "#7FC8F8",
    "cnorm": "#A6D8FA",
    "dropout": "#B5E8B5",
    "dropout2": "#B5E8B5",
    "softmax": "#FFE680",
    "cost": "#F2D16B",
    "merge": "#C6E2FF",  # eltsum, eltmax, concat, pass, sum
    "image": "#E6E6E6",  # cuda-convnet's image-manipulation layers
}

MERGE_TYPES = ("eltsum", "eltmax", "concat", "pass", "sum")
IMAGE_OP_TYPES = ("nailbed", "blur", "resize", "rgb2yuv", "rgb2lab", "rscale", "href", "crop")

# Lane colours for Figure 2 (GPU 0, 1, ...): pale backgrounds and the box fills drawn on them.
LANE_BACKGROUNDS = ("#EEF4FB", "#FDF1EC", "#EFF8EE", "#F6F0FA", "#FBF8E8", "#EDF7F7")
LANE_FILLS = ("#BFD7F0", "#F6C9B4", "#C5E6C0", "#DCC8EC", "#F0E4A8", "#BFE3E3")

SAME_GPU_EDGE = {"color": "#404040", "style": "solid", "penwidth": "1.4"}
CROSS_GPU_EDGE = {"color": "#D62728", "style": "dashed", "penwidth": "2.0", "constraint": "false"}


def kind_colour(layer_type: str) -> str:
    """The fill colour of a layer of this type."""
    if layer_type.startswith("cost."):
        return KIND_COLOURS["cost"]
    if layer_type in MERGE_TYPES:
        return KIND_COLOURS["merge"]
    if layer_type in IMAGE_OP_TYPES:
        return KIND_COLOURS["image"]
    return KIND_COLOURS.get(layer_type, "#FFFFFF")


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
