"""The paper's Figure 2 as a graphviz graph: one lane per logical GPU, left to right.

Boxes are the outputs of the weight layers before pooling (the caption's neuron counts), labelled
with their size per GPU and the kernel and stride that produced them; pooling, normalisation and
the other weightless layers are written on the links; links inside a lane are solid, links that
cross GPUs are red, dashed and do not pull the lanes out of line (constraint=false).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import graphviz

from alexspec.draw import styles
from alexspec.draw.stages import Figure2, Link, Stage, figure2_stages
from alexspec.ir import ConvLayer, LocalLayer
from alexspec.layers import kind_of
from alexspec.layers.neuron import neuron_text  # noqa: F401  (re-exported)
from alexspec.net import Net, Node

# Legibility at page width (16 cm, 453.5 points). Graphviz's gaps and arrows have fixed sizes in
# inches while text grows with its font, so large text on short lines is what reads when the
# picture is scaled to the page: every text at POINTS, at most LINK_CHARS characters a line on a
# link, the size, kernel, stride, padding and activation on lines of their own in a box. Printed
# 16 cm wide, the smallest text of the landscape drawing reads at about 7.3 points (the test in
# tests/test_draw_layout.py measures it on the SVG; it was 3.2 with 12- to 15-point text).
POINTS = 28  # every text of the drawing: box text, link text, lane names, caption
LINK_POINTS = BOX_POINTS = DETAIL_POINTS = LANE_POINTS = str(POINTS)
LINK_CHARS = 8  # a link's text is wrapped to lines of at most this many characters

# The Figure 2 caption prints 253,440 neurons for conv1; 55*55*96 is 290,400 (an erratum).
PAPER_CONV1_NEURONS = 290_400
CAPTION_CONV1_NEURONS = 253_440


def _pair(values: tuple[int, ...], default: int) -> str:
    vals = sorted(set(values)) or [default]
    return "/".join(str(v) for v in vals)


def _kernel_lines(node: Node) -> list[str]:
    """['11x11', 'stride 4'] (and 'pad 2' when there is padding; stride 1 is not written) for
    conv and local layers: one short line each, so a box stays narrow."""
    layer = node.layer
    if not isinstance(layer, (ConvLayer, LocalLayer)):
        return []
    k = _pair(layer.filter_size, 1)
    stride = _pair(layer.stride, 1)
    lines = [f"{k}x{k}"] + ([f"stride {stride}"] if stride != "1" else [])
    if any(layer.padding):
        lines.append(f"pad {_pair(layer.padding, 0)}")
    return lines


def _annotation(node: Node) -> str:
    """The text a collapsed (weightless) layer leaves on its link (its family's drawing)."""
    layer = node.layer
    text = kind_of(node.type).drawing.annotation(layer)
    neuron = getattr(layer, "neuron", None)
    if neuron is not None and node.type != "neuron":
        text += f" + {neuron_text(neuron)}"
    return text[0].upper() + text[1:]


def _link_label(net: Net, link: Link) -> str:
    return "\n".join(_annotation(net[name]) for name in link.via)


def _link_lines(label: str) -> list[str]:
    """The lines a link's text is drawn in: each annotation wrapped to LINK_CHARS, so the
    space between two boxes stays narrow."""
    return [line for text in label.split("\n")
            for line in textwrap.wrap(text, LINK_CHARS, break_long_words=False) or [""]]


def _stage_size(stage: Stage) -> tuple[float, float]:
    """(width, height) in inches: height grows with the spatial size, width with the depth,
    dense layers are tall thin bars (as in the paper)."""
    out = stage.node.output
    if stage.kind == "sink":
        return 0.5, 0.5
    if out.is_image:
        height = 0.55 + 0.32 * math.log2(max(out.height, 1))
        width = 0.3 + 0.05 * math.log2(max(out.channels, 1))
    else:
        height = 0.9 + 0.16 * math.log2(max(out.channels, 1))
        width = 0.5
    scale = POINTS / 14  # the sizes above were chosen for 14-point text
    return round(width * scale, 2), round(height * scale, 2)


def _size_rows(node: Node) -> list[str]:
    """An image's size per GPU in bold, the spatial size over the depth ('55x55' over 'x48'):
    two short lines keep the box narrow."""
    out = node.output
    return [f"<B>{out.height}x{out.width}</B>", f"<B>x{out.channels}</B>"]


def _stage_label(stage: Stage) -> str:
    node = stage.node
    name = styles.html_text(node.name)
    grey = f'<FONT POINT-SIZE="{DETAIL_POINTS}" COLOR="#555555">'
    if stage.kind == "input":
        rows = _size_rows(node) + ["input", f"{grey}{name}</FONT>"]
    elif stage.kind == "sink":
        family, dot, kind = node.type.rpartition(".")  # cost.logreg: 'cost' over 'logreg'
        rows = ([styles.html_text(family)] if dot else []) + [f"<B>{styles.html_text(kind)}</B>",
                                                             f"{grey}{name}</FONT>"]
    else:
        neuron = getattr(node.layer, "neuron", None)
        act = [styles.html_text(neuron_text(neuron))] if neuron else []
        if node.output.is_image:
            rows = _size_rows(node) + _kernel_lines(node) + act + [f"{grey}{name}</FONT>"]
        else:
            rows = ["dense", f"<B>{node.output.channels}</B>"] + act + [f"{grey}{name}</FONT>"]
    cells = "".join(f"<TR><TD>{row}</TD></TR>" for row in rows)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">{cells}</TABLE>>'


def _caption(net: Net, fig: Figure2) -> str:
    """Title and the paper's caption-like neuron count line, computed from the spec."""
    counts = [n for _, n in fig.neurons_by_depth()]
    inputs = [s.node.neurons for s in fig.stages if s.kind == "input"]
    lanes = len(fig.lanes)
    crossing = len(fig.cross_links)
    title = (f"{Path(net.path).name}: {lanes} GPU lane{'s' if lanes != 1 else ''}, "
             f"{crossing} cross-GPU link{'s' if crossing != 1 else ''}")
    rows = [f"<B>{styles.html_text(title)}</B>",
            styles.html_text("input " + ", ".join(styles.count(n) for n in inputs) + "-dimensional;"),
            styles.html_text("neurons per stage " + "–".join(styles.count(n) for n in counts))]
    if crossing:
        rows.append(f'solid arrows stay on one GPU; <FONT COLOR="{styles.CROSS_GPU_EDGE["color"]}">'
                    "red dashed arrows cross GPUs</FONT> (the only transfers)")
    if counts and counts[0] == PAPER_CONV1_NEURONS:
        first = [s.node.output for s in fig.stages if s.kind == "weight" and s.depth == 1]
        size = f"{first[0].height}x{first[0].width}x{sum(o.channels for o in first)}"
        rows.append(styles.html_text(
            f"(the paper's caption prints {styles.count(CAPTION_CONV1_NEURONS)} for the first "
            f"layer; {size} = {styles.count(PAPER_CONV1_NEURONS)})"))
    cells = "".join(f"<TR><TD>{row}</TD></TR>" for row in rows)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">{cells}</TABLE>>'


def _tooltip(link: Link) -> str:
    hops = ", ".join(f"{e.src} -> {e.dst} ({e.shape})" for e in link.hops)
    return styles.dot_string(hops)


def figure2_graph(net: Net, rankdir: str = "LR") -> graphviz.Digraph:
    """The Figure 2 diagram of `net` as a graphviz graph (deterministic source): stages left
    to right and GPU lanes one above the other (LR, the paper's), or stages top to bottom and
    the lanes side by side (TB: narrow and tall, legible on a portrait page)."""
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"unknown rankdir {rankdir!r} (expected LR or TB)")
    tb = rankdir == "TB"
    fig = figure2_stages(net)
    g = graphviz.Digraph("figure2")
    g.attr(rankdir=rankdir, newrank="true", nodesep="0.12", ranksep="0.02", splines="line",
           fontname=styles.FONT, fontsize=BOX_POINTS, labelloc="b", label=_caption(net, fig),
           outputorder="edgesfirst")
    g.attr("node", fontname=styles.FONT, fontsize=BOX_POINTS, shape="box3d", style="filled",
           color="#333333", margin="0.06,0.03")
    g.attr("edge", fontname=styles.FONT, fontsize=LINK_POINTS, arrowsize="1.2")

    def add_node(sub: graphviz.Digraph, stage: Stage, fill: str) -> None:
        width, height = _stage_size(stage)
        if tb:  # the spatial size runs across the page, the depth down it
            width, height = height, width
        shape = "plaintext" if stage.kind == "sink" else "box3d"
        sub.node(f"L{stage.index}", label=_stage_label(stage), fillcolor=fill, shape=shape,
                 width=str(width), height=str(height))

    for stage in fig.stages:
        if stage.kind == "input":
            add_node(g, stage, styles.kind_colour("data"))
    for lane in fig.lanes:
        background, fill = styles.lane_colours(lane)
        with g.subgraph(name=f"cluster_gpu{lane}") as c:
            c.attr(label=f"GPU {lane}", labeljust="l", style="filled,rounded", color=background,
                   fillcolor=background, fontsize=LANE_POINTS, fontname=styles.FONT)
            for stage in fig.stages:
                if stage.lane == lane:
                    add_node(c, stage, fill)
    for stage in fig.stages:
        if stage.kind == "sink":
            add_node(g, stage, "white")

    index = {s.name: s.index for s in fig.stages}
    lane_of = {s.name: s.lane for s in fig.stages}
    # A crossing link is drawn without ranking constraint unless it is the only way in.
    has_straight_input = {link.dst for link in fig.links if not link.crosses_gpus}
    straight_labels = {(link.dst, _link_label(net, link)) for link in fig.links
                       if not link.crosses_gpus}
    for link in fig.links:
        label = _link_label(net, link)
        attrs: dict[str, str] = {"tooltip": _tooltip(link), "tailport": "s" if tb else "e",
                                 "headport": "n" if tb else "w"}
        if link.crosses_gpus:
            attrs.update(styles.CROSS_GPU_EDGE, **{"class": "cross"})
            if link.dst not in has_straight_input:
                attrs["constraint"] = "true"
            if (link.dst, label) in straight_labels:
                label = ""  # already written on the straight link into the same box
        else:
            attrs.update(styles.SAME_GPU_EDGE, **{"class": "same"})
            if lane_of[link.src] is not None and lane_of[link.src] == lane_of[link.dst]:
                attrs["weight"] = "8"  # keep the lanes straight
        if label:
            attrs["label"] = "<" + "<BR/>".join(styles.html_text(x) for x in _link_lines(label)) + ">"
        g.edge(f"L{index[link.src]}", f"L{index[link.dst]}", **attrs)
    return g
