"""`alexspec draw`, the paper's Figure 2: AlexNet's lanes, stage labels, transitions, cross-GPU
links and caption, read back from the DOT source, and the lanes' order in graphviz's layout."""

from __future__ import annotations

import pytest

import alexspec
from alexspec.draw import build_graph, figure2_stages
from tests.draw_dot import (
    ALEXNET, FOUR_GPU, expected_cross_stage_pairs, lane_labels, load_text, needs_dot, parse_dot,
)


@pytest.fixture(scope="module")
def alexnet() -> alexspec.Net:
    return alexspec.load(str(ALEXNET))


def test_alexnet_figure2_lanes_and_stage_labels(alexnet):
    dot = parse_dot(build_graph(alexnet).source)
    assert sorted(dot.clusters) == [0, 1]
    assert lane_labels(alexnet, 0) == [
        "55x55x48", "27x27x128", "13x13x192", "13x13x192", "13x13x128",
        "dense 2048", "dense 2048", "dense 1000"]
    assert lane_labels(alexnet, 1) == [
        "55x55x48", "27x27x128", "13x13x192", "13x13x192", "13x13x128",
        "dense 2048", "dense 2048"]
    names = [n.name for n in alexnet.nodes]
    data = names.index("data")
    assert dot.nodes[data].startswith("224x224 | x3 | input")
    assert all(data not in members for members in dot.clusters.values())  # one input box
    assert {v for u, v in dot.same() if u == data} == {names.index("conv1a"), names.index("conv1b")}
    # one short line each: kernel, stride (1 is not written), padding, activation, name
    assert "11x11 | stride 4 | ReLU | conv1a" in dot.nodes[names.index("conv1a")]
    assert "x128 | 5x5 | pad 2 | ReLU | conv2b" in dot.nodes[names.index("conv2b")]
    assert dot.nodes[names.index("fc8")] == "dense | 1000 | fc8"  # no activation: none written
    assert "labels" not in " ".join(dot.nodes.values())  # the labels layer is not a stage


def test_alexnet_figure2_transitions_carry_pooling_and_normalisation(alexnet):
    dot = parse_dot(build_graph(alexnet).source)
    idx = {n.name: i for i, n in enumerate(alexnet.nodes)}
    label = lambda a, b: dot.edge_label(idx[a], idx[b])  # noqa: E731
    for col in "ab":
        # each annotation wrapped to lines of at most 8 characters, so the gaps between the
        # boxes stay narrow (tests/test_draw_layout.py measures the result)
        assert label(f"conv1{col}", f"conv2{col}") == (
            "LRN | (n=5) | Max | pooling | 3x3 | stride 2")
        assert label(f"conv3{col}", f"conv4{col}") == ""
        assert label(f"conv5{col}", f"fc6{col}") == "Max | pooling | 3x3 | stride 2"
        assert label(f"fc6{col}", f"fc7{col}") == "Dropout | 0.5"
    assert label("fc8", "logprob") == "Softmax"
    assert dot.nodes[idx["logprob"]] == "cost | logreg | logprob"  # the sink: cost.logreg


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



@needs_dot
def test_lanes_run_top_to_bottom_by_gpu(tmp_path):
    """GPU 0 is the top lane (graphviz's plain output: y grows upwards)."""
    net = load_text(tmp_path, FOUR_GPU, "four.cfg")
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



def test_link_text_is_wrapped_between_words_only():
    """Short lines for narrow gaps, but a word longer than a line stays whole."""
    from alexspec.draw.figure2 import LINK_CHARS, _link_lines

    text = "Local response normalisation (3x3)\nMax pooling 3x3 stride 2"
    lines = _link_lines(text)
    assert " ".join(lines).split() == text.split()
    assert "normalisation" in lines
    assert all(len(x) <= LINK_CHARS for x in lines if x != "normalisation")
