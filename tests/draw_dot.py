"""Shared pieces of the `alexspec draw` tests: reading the DOT source back (nodes, lanes, edge
labels, cross-GPU edges), the cross-GPU stage pairs a spec implies, and the specs drawn.

(Not a test module: tests/test_draw_*.py import it.)
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import alexspec
from alexspec.draw import build_graph, figure2_stages
from alexspec.ir import WEIGHT_TYPES
from alexspec.net import Net
from tests.tiny_spec import tiny_spec

# ----------------------------------------------------------------------------- reading DOT back

_NODE = re.compile(r"^\s*L(\d+) \[(.*)\]$")
_EDGE = re.compile(r"^\s*L(\d+) -> L(\d+) \[(.*)\]$")
_CLUSTER = re.compile(r"^\s*subgraph cluster_gpu(\d+) \{$")
_TAG = re.compile(r"<[^>]*>")


def label_text(attrs: str) -> str:
    """The visible text of an HTML-like `label=<...>` attribute: tags dropped, rows joined by
    ' | ', entities decoded and graphviz's doubled backslashes undone."""
    start = attrs.find("label=<")
    if start < 0:
        return ""
    depth, i = 0, start + len("label=")
    for i in range(start + len("label="), len(attrs)):  # the matching '>' of an HTML label
        depth += {"<": 1, ">": -1}.get(attrs[i], 0)
        if depth == 0:
            break
    body = attrs[start + len("label=<"):i].replace("</TD></TR><TR><TD>", " | ").replace("<BR/>", " | ")
    text = _TAG.sub("", body).replace("\\\\", "\\")
    return html.unescape(text)


@dataclass
class Dot:
    """What `parse_dot` reads back from a DOT source."""

    nodes: dict[int, str] = field(default_factory=dict)  # net index -> label text
    clusters: dict[int, set[int]] = field(default_factory=dict)  # gpu -> net indices
    edges: list[tuple[int, int, str]] = field(default_factory=list)  # (src, dst, attrs)

    def edge_label(self, u: int, v: int) -> str:
        """The visible label of the edge u -> v."""
        return next(label_text(a) for s, d, a in self.edges if (s, d) == (u, v))

    def cross(self) -> set[tuple[int, int]]:
        """The edges drawn as crossing GPUs."""
        return {(u, v) for u, v, a in self.edges if 'class=cross' in a}

    def same(self) -> set[tuple[int, int]]:
        """The edges drawn as staying on one GPU."""
        return {(u, v) for u, v, a in self.edges if 'class=same' in a}


def parse_dot(source: str) -> Dot:
    """Nodes, clusters and edges of a DOT source written by alexspec.draw."""
    dot = Dot()
    cluster: int | None = None
    for line in source.splitlines():
        if m := _CLUSTER.match(line):
            cluster = int(m.group(1))
            dot.clusters[cluster] = set()
        elif line.strip() == "}":
            cluster = None
        elif m := _EDGE.match(line):
            dot.edges.append((int(m.group(1)), int(m.group(2)), m.group(3)))
        elif m := _NODE.match(line):
            idx = int(m.group(1))
            dot.nodes[idx] = label_text(m.group(2))
            if cluster is not None:
                dot.clusters[cluster].add(idx)
    return dot


def expected_cross_stage_pairs(net: Net) -> set[tuple[str, str]]:
    """For every cross-GPU edge of the net, the weight/data/sink layers it joins once the
    weightless layers are collapsed: walk back from its source and forward from its target."""
    def is_stage(name: str) -> bool:
        n = net[name]
        return n.type in WEIGHT_TYPES or n.type == "data" or not net.consumers(name)

    def back(name: str) -> set[str]:
        if is_stage(name):
            return {name}
        return set().union(*(back(s) for s in net[name].layer.inputs))

    def forward(name: str) -> set[str]:
        if is_stage(name):
            return {name}
        return set().union(*(forward(c.name) for c in net.consumers(name)))

    return {(s, d) for e in net.cross_gpu_edges for s in back(e.src) for d in forward(e.dst)}


# ----------------------------------------------------------------------------- the specs drawn

ROOT = Path(__file__).resolve().parents[1]
ALEXNET = ROOT / "specs" / "alexnet.cfg"
ALEXNET_1GPU = ROOT / "specs" / "alexnet-1gpu.cfg"
ALEXNET_TOWERS = ROOT / "specs" / "alexnet-towers.cfg"  # cuda-convnet2's explicit a/b sections
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")

# The tests' tiny two-column net split four ways: conv2 and fc3 read every column, fc4 all four.
FOUR_GPU = tiny_spec({"conv1": {"columns": "4"}})

# A crossing in the middle of a collapsed chain: pool1 sits on GPU 1 and reads conv1 on GPU 0.
MID_CROSSING = """\
[net]
type=net
innerSize=16

[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

[conv1]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
neuron=relu
gpu=0

[pool1]
type=pool
inputs=conv1
pool=max
sizeX=2
stride=2
channels=16
gpu=1

[fc2]
type=fc
inputs=pool1
outputs=10

[probs]
type=softmax
inputs=fc2

[logprob]
type=cost.logreg
inputs=labels,probs
"""

# Names that broke Caffe's draw_net: quotes, spaces, backslashes, HTML and record specials.
ODD = ['conv "one"', "pool\\1", "<fc>{2}|x\\y", "a\\\\b & c"]
ODD_NAMES = f"""\
[net]
type=net
innerSize=16

[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

[{ODD[0]}]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
neuron=relu

[{ODD[1]}]
type=pool
inputs={ODD[0]}
pool=max
sizeX=2
stride=2
channels=16

[{ODD[2]}]
type=fc
inputs={ODD[1]}
outputs=10

[{ODD[3]}]
type=softmax
inputs={ODD[2]}

[cost]
type=cost.logreg
inputs=labels,{ODD[3]}
"""



def load_text(tmp_path: Path, text: str, name: str = "spec.cfg") -> alexspec.Net:
    """`alexspec.load` of `text` written to tmp_path/name."""
    path = tmp_path / name
    path.write_text(text)
    return alexspec.load(str(path))


def ablated_alexnet(tmp_path: Path) -> alexspec.Net:
    """AlexNet with conv4 removed (the paper's section 7 ablation): conv5 reads conv3."""
    text = ALEXNET.read_text()
    text = re.sub(r"\n\[conv4\]\n.*?\n(?=\[conv5\])", "\n", text, flags=re.S)
    text = text.replace("[conv5]\ntype=conv\ninputs=conv4", "[conv5]\ntype=conv\ninputs=conv3")
    assert "[conv4]" not in text and "inputs=conv3\n" in text
    return load_text(tmp_path, text, "alexnet-no-conv4.cfg")



def lane_labels(net: alexspec.Net, lane: int) -> list[str]:
    """The size each box of a lane shows, left to right, read from the DOT source: an image's
    two bold rows ('55x55' over 'x48') joined, 'dense' and its width joined."""
    dot = parse_dot(build_graph(net).source)
    fig = figure2_stages(net)
    order = [s.index for s in fig.stages if s.index in dot.clusters[lane]]
    rows = [dot.nodes[i].split(" | ") for i in order]
    return [r[0] + r[1] if r[1].startswith("x") else f"{r[0]} {r[1]}" if r[0] == "dense" else r[0]
            for r in rows]



def cross_hops(net: alexspec.Net) -> set:
    """The cross-GPU net edges inside Figure 2's cross links."""
    fig = figure2_stages(net)
    return {e for link in fig.cross_links for e in link.hops if e.crosses_gpus}

