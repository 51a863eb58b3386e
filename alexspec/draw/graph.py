"""The detailed layer graph (`--style graph`), in the manner of Caffe's draw_net.

Every layer is a node coloured by kind, labelled with its name, (type), kernel/stride/pad or
the numbers that define it, its placement and its output shape; edges carry the tensor shape
per image; nodes are clustered by GPU and the edges that cross GPUs are red and dashed.
"""

from __future__ import annotations

import graphviz

from alexspec.draw import styles
from alexspec.layers import kind_of
from alexspec.net import Net, Node


def _details(node: Node) -> list[str]:
    """The lines that define a layer, as Caffe's draw_net writes them (its family's drawing)."""
    layer = node.layer
    lines = list(kind_of(node.type).drawing.details(layer))
    neuron = getattr(layer, "neuron", None)
    if neuron is not None and node.type != "neuron":
        lines.append(f"neuron {neuron}")
    return lines


def _placement(node: Node) -> str:
    if node.type == "data":
        return "fed to every GPU"
    if len(node.gpus) > 1:
        return f"GPU {','.join(map(str, node.gpus))} (replicas)"
    return f"GPU {node.gpu}"


def _label(node: Node) -> str:
    colour = styles.kind_colour(node.type)
    rows = [f"<B>{styles.html_text(node.name)}</B>", f"({styles.html_text(node.type)})"]
    rows += [styles.html_text(line) for line in _details(node)]
    rows.append(f'<FONT POINT-SIZE="9">{styles.html_text(_placement(node))} · out {node.output}</FONT>')
    cells = "".join(f"<TR><TD>{row}</TD></TR>" for row in rows)
    return (f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2" '
            f'BGCOLOR="{colour}" COLOR="#333333">{cells}</TABLE>>')


RANKDIRS = ("TB", "LR")


def layer_graph(net: Net, rankdir: str = "TB") -> graphviz.Digraph:
    """Every layer of `net` as a node, clustered by GPU (deterministic source). `rankdir` TB
    draws the layers top to bottom (the GPU clusters side by side: a page-shaped picture for a
    deep net), LR left to right."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"unknown rankdir {rankdir!r} (expected one of {', '.join(RANKDIRS)})")
    g = graphviz.Digraph("layers")
    g.attr(rankdir=rankdir, nodesep="0.25", ranksep="0.45", fontname=styles.FONT, fontsize="11",
           newrank="true", outputorder="edgesfirst")
    g.attr("node", shape="plain", fontname=styles.FONT, fontsize="10")
    g.attr("edge", fontname=styles.FONT, fontsize="9", arrowsize="0.7")
    index = {n.name: i for i, n in enumerate(net.nodes)}
    for node in net.data_nodes:
        g.node(f"L{index[node.name]}", label=_label(node))
    for gpu in range(net.num_gpus):
        members = [n for n in net if n.type != "data" and n.gpu == gpu]
        if not members:
            continue
        background, _ = styles.lane_colours(gpu)
        with g.subgraph(name=f"cluster_gpu{gpu}") as c:
            c.attr(label=f"GPU {gpu}", labeljust="l", style="filled,rounded", color=background,
                   fillcolor=background, fontsize="12", fontname=styles.FONT)
            for node in members:
                c.node(f"L{index[node.name]}", label=_label(node))
    straight = {e.dst for e in net.edges if not e.crosses_gpus}
    for e in net.edges:
        attrs = {"label": str(e.shape),
                 "tooltip": styles.dot_string(f"{e.src} -> {e.dst}: {e.shape}")}
        if e.crosses_gpus:
            attrs.update(styles.CROSS_GPU_EDGE, **{"class": "cross"})
            if e.dst not in straight:
                attrs["constraint"] = "true"
        else:
            attrs.update(styles.SAME_GPU_EDGE, **{"class": "same"})
        g.edge(f"L{index[e.src]}", f"L{index[e.dst]}", **attrs)
    return g
