"""The detailed layer graph (`--style graph`), in the manner of Caffe's draw_net.

Every layer is a node coloured by kind, labelled with its name, (type), kernel/stride/pad or
the numbers that define it, its placement and its output shape; edges carry the tensor shape
per image; nodes are clustered by GPU and the edges that cross GPUs are red and dashed.
"""

from __future__ import annotations

import graphviz

from alexspec.draw import styles
from alexspec.ir import (
    ConvLayer, CostLayer, CrossMapNormLayer, CrossMapPoolLayer, DropoutLayer, FcLayer, LocalLayer,
    NeuronLayer, PoolLayer, SfcLayer,
)
from alexspec.net import Net, Node


def _join(values: tuple, default: object = "") -> str:
    vals = list(dict.fromkeys(values)) or [default]
    return "/".join(str(v) for v in vals)


def _details(node: Node) -> list[str]:
    """The lines that define a layer, as Caffe's draw_net writes them."""
    layer = node.layer
    lines: list[str] = []
    if isinstance(layer, (ConvLayer, LocalLayer)):
        k = _join(layer.filter_size)
        lines.append(f"kernel {k}x{k} / stride {_join(layer.stride, 1)} / pad {_join(layer.padding, 0)}")
        lines.append(f"filters {_join(layer.filters)}" + (
            f" x {_join(layer.groups)} groups" if any(g > 1 for g in layer.groups) else ""))
    elif isinstance(layer, (FcLayer, SfcLayer)):
        lines.append(f"outputs {layer.outputs}")
    elif isinstance(layer, PoolLayer):
        lines.append(f"{layer.pool.upper()} {layer.size_x}x{layer.size_x} / stride {layer.stride}")
    elif isinstance(layer, CrossMapPoolLayer):
        lines.append(f"{layer.pool.upper()} over {layer.size} maps / stride {layer.stride}")
    elif isinstance(layer, CrossMapNormLayer) or node.type in ("rnorm", "cnorm"):
        lines.append(f"size {layer.size}" + (f" / scale {layer.scale:g}" if layer.scale else "")
                     + (f" / pow {layer.pow:g}" if layer.pow else ""))
    elif isinstance(layer, DropoutLayer):
        lines.append(f"keep {layer.keep:g}")
    elif isinstance(layer, NeuronLayer):
        lines.append(str(layer.neuron))
    elif isinstance(layer, CostLayer):
        lines.append(f"coeff {layer.coeff:g} / top-{layer.topk}")
    neuron = getattr(layer, "neuron", None)
    if neuron is not None and not isinstance(layer, NeuronLayer):
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
