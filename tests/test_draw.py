"""`alexspec draw`: the structure of Figure 2 and of the layer graph, read back from the DOT
source (lanes, labels, edges, and cross-GPU edges equal to the spec's), rendering, determinism,
and what happens without graphviz's `dot`."""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import alexspec
from alexspec.cli import main
from alexspec.draw import build_graph, draw, figure2_stages
from alexspec.ir import WEIGHT_TYPES
from alexspec.net import Net

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
    nodes: dict[int, str] = field(default_factory=dict)  # net index -> label text
    clusters: dict[int, set[int]] = field(default_factory=dict)  # gpu -> net indices
    edges: list[tuple[int, int, str]] = field(default_factory=list)  # (src, dst, attrs)

    def edge_label(self, u: int, v: int) -> str:
        return next(label_text(a) for s, d, a in self.edges if (s, d) == (u, v))

    def cross(self) -> set[tuple[int, int]]:
        return {(u, v) for u, v, a in self.edges if 'class=cross' in a}

    def same(self) -> set[tuple[int, int]]:
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


ROOT = Path(__file__).resolve().parents[1]
ALEXNET = ROOT / "specs" / "alexnet.cfg"
ALEXNET_1GPU = ROOT / "specs" / "alexnet-1gpu.cfg"
ALEXNET_TOWERS = ROOT / "specs" / "alexnet-towers.cfg"  # cuda-convnet2's explicit a/b sections
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")

FOUR_GPU = """\
[net]
type=net
innerSize=32

[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

[conv1]
type=conv
inputs=data
columns=4
channels=3
filters=16
filterSize=5
padding=2
neuron=relu

[pool1]
type=pool
inputs=conv1
pool=max
sizeX=3
stride=2
channels=16

[conv2]
type=conv
inputs=pool1
connect=all
channels=16
filters=16
filterSize=3
padding=1
neuron=relu

[fc3]
type=fc
inputs=conv2
connect=all
outputs=16
neuron=relu

[fc4]
type=fc
inputs=fc3
columns=1
outputs=10

[probs]
type=softmax
inputs=fc4

[logprob]
type=cost.logreg
inputs=labels,probs
"""

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


def _load_text(tmp_path: Path, text: str, name: str = "spec.cfg") -> alexspec.Net:
    path = tmp_path / name
    path.write_text(text)
    return alexspec.load(str(path))


def _ablated_alexnet(tmp_path: Path) -> alexspec.Net:
    """AlexNet with conv4 removed (the paper's section 7 ablation): conv5 reads conv3."""
    text = ALEXNET.read_text()
    text = re.sub(r"\n\[conv4\]\n.*?\n(?=\[conv5\])", "\n", text, flags=re.S)
    text = text.replace("[conv5]\ntype=conv\ninputs=conv4", "[conv5]\ntype=conv\ninputs=conv3")
    assert "[conv4]" not in text and "inputs=conv3\n" in text
    return _load_text(tmp_path, text, "alexnet-no-conv4.cfg")


@pytest.fixture(scope="module")
def alexnet() -> alexspec.Net:
    return alexspec.load(str(ALEXNET))


def _lane_labels(net: alexspec.Net, lane: int) -> list[str]:
    """The first label row of each box of a lane, left to right, read from the DOT source."""
    dot = parse_dot(build_graph(net).source)
    fig = figure2_stages(net)
    order = [s.index for s in fig.stages if s.index in dot.clusters[lane]]
    return [dot.nodes[i].split(" | ")[0] + ("" if not dot.nodes[i].startswith("dense") else
                                            " " + dot.nodes[i].split(" | ")[1]) for i in order]


# ----------------------------------------------------------------------------- Figure 2


def test_alexnet_figure2_lanes_and_stage_labels(alexnet):
    dot = parse_dot(build_graph(alexnet).source)
    assert sorted(dot.clusters) == [0, 1]
    assert _lane_labels(alexnet, 0) == [
        "55x55x48", "27x27x128", "13x13x192", "13x13x192", "13x13x128",
        "dense 2048", "dense 2048", "dense 1000"]
    assert _lane_labels(alexnet, 1) == [
        "55x55x48", "27x27x128", "13x13x192", "13x13x192", "13x13x128",
        "dense 2048", "dense 2048"]
    names = [n.name for n in alexnet.nodes]
    data = names.index("data")
    assert dot.nodes[data].startswith("224x224x3")
    assert all(data not in members for members in dot.clusters.values())  # one input box
    assert {v for u, v in dot.same() if u == data} == {names.index("conv1a"), names.index("conv1b")}
    assert "11x11, stride 4" in dot.nodes[names.index("conv1a")]
    assert "5x5, stride 1, pad 2" in dot.nodes[names.index("conv2b")]
    assert "labels" not in " ".join(dot.nodes.values())  # the labels layer is not a stage


def test_alexnet_figure2_transitions_carry_pooling_and_normalisation(alexnet):
    dot = parse_dot(build_graph(alexnet).source)
    idx = {n.name: i for i, n in enumerate(alexnet.nodes)}
    label = lambda a, b: dot.edge_label(idx[a], idx[b])  # noqa: E731
    for col in "ab":
        assert label(f"conv1{col}", f"conv2{col}") == (
            "Response normalisation (n=5) | Max pooling 3x3, stride 2")
        assert label(f"conv3{col}", f"conv4{col}") == ""
        assert label(f"conv5{col}", f"fc6{col}") == "Max pooling 3x3, stride 2"
        assert label(f"fc6{col}", f"fc7{col}") == "Dropout 0.5"
    assert label("fc8", "logprob") == "Softmax"


def test_alexnet_cross_gpu_links_exactly_at_conv3_and_the_dense_layers(alexnet):
    dot = parse_dot(build_graph(alexnet).source)
    names = [n.name for n in alexnet.nodes]
    drawn = {(names[u], names[v]) for u, v in dot.cross()}
    assert drawn == {("conv2b", "conv3a"), ("conv2a", "conv3b"), ("conv5b", "fc6a"),
                     ("conv5a", "fc6b"), ("fc6b", "fc7a"), ("fc6a", "fc7b"), ("fc7b", "fc8")}
    assert drawn == expected_cross_stage_pairs(alexnet)
    assert len(alexnet.cross_gpu_edges) == 7
    # distinct look, and they do not pull the lanes out of line
    for u, v, attrs in dot.edges:
        if (u, v) in dot.cross():
            assert 'style=dashed' in attrs and 'constraint=false' in attrs
        else:
            assert 'style=solid' in attrs and 'constraint' not in attrs


def test_alexnet_caption_counts_neurons_from_the_spec(alexnet):
    source = build_graph(alexnet).source
    assert "input 150,528-dimensional" in source
    assert "290,400–186,624–64,896–64,896–43,264–4,096–4,096–1,000" in source
    assert "253,440" in source  # the caption's erratum, noted next to the computed count


def _cross_hops(net: alexspec.Net) -> set:
    fig = figure2_stages(net)
    return {e for link in fig.cross_links for e in link.hops if e.crosses_gpus}


@pytest.mark.parametrize("case", ["alexnet", "towers", "1gpu", "4gpu", "ablated", "odd-names",
                                  "mid-crossing"])
def test_any_spec_draws_with_cross_edges_equal_to_the_specs(case, tmp_path, alexnet):
    net = {
        "alexnet": lambda: alexnet,
        "towers": lambda: alexspec.load(str(ALEXNET_TOWERS)),
        "1gpu": lambda: alexspec.load(str(ALEXNET_1GPU)),
        "4gpu": lambda: _load_text(tmp_path, FOUR_GPU, "four.cfg"),
        "ablated": lambda: _ablated_alexnet(tmp_path),
        "odd-names": lambda: _load_text(tmp_path, ODD_NAMES, "odd.cfg"),
        "mid-crossing": lambda: _load_text(tmp_path, MID_CROSSING, "mid.cfg"),
    }[case]()
    for style in ("figure2", "graph"):
        dot = parse_dot(build_graph(net, style).source)
        names = [n.name for n in net.nodes]
        lanes = sorted({n.gpu for n in net if n.type != "data"})
        assert sorted(dot.clusters) == lanes
        if style == "graph":  # every layer is a node, every net edge an edge
            assert set(dot.nodes) == set(range(len(net)))
            assert sorted((u, v) for u, v, _ in dot.edges) == sorted(
                (names.index(e.src), names.index(e.dst)) for e in net.edges)
            drawn = {(names[u], names[v]) for u, v in dot.cross()}
            assert drawn == {(e.src, e.dst) for e in net.cross_gpu_edges}
            for i, node in enumerate(net.nodes):
                if node.type != "data":
                    assert i in dot.clusters[node.gpu]
        else:
            drawn = {(names[u], names[v]) for u, v in dot.cross()}
            assert drawn == expected_cross_stage_pairs(net)
            assert _cross_hops(net) == set(net.cross_gpu_edges)
    if case == "4gpu":
        assert len(net.cross_gpu_edges) == 27  # conv2 and fc3: 4x3 each; fc4 reads 3 others
    if case == "1gpu":
        assert net.cross_gpu_edges == () and len(lanes) == 1
    if case == "mid-crossing":
        assert [(e.src, e.dst) for e in net.cross_gpu_edges] == [("conv1", "pool1")]
        fig = figure2_stages(net)
        assert [(link.src, link.dst, link.via) for link in fig.cross_links] == [
            ("conv1", "fc2", ("pool1",))]
    if case == "towers":  # the same drawing as the compact spec's
        assert len(net.cross_gpu_edges) == 7
        assert _lane_labels(net, 0) == _lane_labels(alexnet, 0)
    if case == "ablated":
        assert _lane_labels(net, 1) == [
            "55x55x48", "27x27x128", "13x13x192", "13x13x128", "dense 2048", "dense 2048"]


@needs_dot
def test_odd_names_survive_into_the_svg(tmp_path):
    net = _load_text(tmp_path, ODD_NAMES, "odd.cfg")
    for style in ("figure2", "graph"):
        out = tmp_path / f"odd-{style}.svg"
        draw(net, out, style)
        svg = out.read_text()
        texts = [t for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
        shown = " ".join(html.unescape(t) for t in texts)
        # Figure 2 writes only the weight layers' names; the graph writes every name.
        for name in (ODD if style == "graph" else ODD[::2]):
            assert name in shown, (style, name)


@needs_dot
def test_lanes_run_top_to_bottom_by_gpu(tmp_path):
    """GPU 0 is the top lane (graphviz's plain output: y grows upwards)."""
    net = _load_text(tmp_path, FOUR_GPU, "four.cfg")
    plain = build_graph(net).pipe(format="plain").decode()
    ys: dict[str, float] = {}
    for line in plain.splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            ys[parts[1]] = float(parts[3])
    fig = figure2_stages(net)
    lane_ys = {lane: [ys[f"L{s.index}"] for s in fig.stages if s.lane == lane] for lane in fig.lanes}
    for upper, lower in zip(fig.lanes, fig.lanes[1:]):
        assert min(lane_ys[upper]) > max(lane_ys[lower])


# ----------------------------------------------------------------------------- output


@needs_dot
@pytest.mark.parametrize("ext", ["svg", "pdf", "png", "dot"])
def test_output_by_extension_is_deterministic(ext, tmp_path, alexnet):
    a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    draw(alexnet, a)
    draw(alexnet, b)
    data = a.read_bytes()
    assert data == b.read_bytes()
    magic = {"svg": b"<?xml", "pdf": b"%PDF", "png": b"\x89PNG", "dot": b"digraph"}[ext]
    assert data.startswith(magic)
    if ext == "pdf":  # cairo's time stamp is replaced, so runs in different seconds agree too
        assert b"/CreationDate (D:19700101000000Z)" in data


def test_unknown_extension_is_a_clear_error(tmp_path, alexnet):
    with pytest.raises(alexspec.RunError, match="extension"):
        draw(alexnet, tmp_path / "a.jpeg")


def test_without_dot_the_dot_file_is_written_and_the_fix_is_named(tmp_path, monkeypatch, alexnet):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    message = draw(alexnet, tmp_path / "fig.svg")
    assert not (tmp_path / "fig.svg").exists()
    assert (tmp_path / "fig.dot").read_text().startswith("digraph figure2")
    assert "apt-get install graphviz" in message and str(tmp_path / "fig.dot") in message


def test_cli_without_dot(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["draw", str(ALEXNET), "-o", str(tmp_path / "x.png"), "--style", "graph"]) == 0
    assert (tmp_path / "x.dot").read_text().startswith("digraph layers")
    assert "apt-get install graphviz" in capsys.readouterr().out


@needs_dot
def test_cli_default_output_is_spec_stem_svg_in_cwd(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", str(ALEXNET)]) == 0
    svg = (tmp_path / "alexnet.svg").read_text()
    assert "55x55x48" in svg and "224x224x3" in svg
    assert "alexnet.svg" in capsys.readouterr().out


def test_cli_bad_spec_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[conv1]\ntype=conv\ninputs=nowhere\n")
    assert main(["draw", str(bad), "-o", str(tmp_path / "bad.svg")]) == 2
    err = capsys.readouterr().err
    assert "bad.cfg:" in err and "Traceback" not in err
    assert not (tmp_path / "bad.svg").exists()
