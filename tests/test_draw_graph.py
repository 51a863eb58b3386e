"""`alexspec draw` on any spec, both styles (Figure 2 and the layer graph): lanes, nodes, edges,
and cross-GPU edges equal to the spec's; names that broke Caffe's draw_net survive into the SVG."""

from __future__ import annotations

import html
import re

import pytest

import alexspec
from alexspec.draw import build_graph, draw, figure2_stages
from tests.draw_dot import (
    ALEXNET, ALEXNET_1GPU, ALEXNET_TOWERS, FOUR_GPU, MID_CROSSING, ODD, ODD_NAMES, ablated_alexnet,
    cross_hops, expected_cross_stage_pairs, lane_labels, load_text, needs_dot, parse_dot,
)


@pytest.fixture(scope="module")
def alexnet() -> alexspec.Net:
    return alexspec.load(str(ALEXNET))


@pytest.mark.parametrize("case", ["alexnet", "towers", "1gpu", "4gpu", "ablated", "odd-names",
                                  "mid-crossing"])
def test_any_spec_draws_with_cross_edges_equal_to_the_specs(case, tmp_path, alexnet):
    net = {
        "alexnet": lambda: alexnet,
        "towers": lambda: alexspec.load(str(ALEXNET_TOWERS)),
        "1gpu": lambda: alexspec.load(str(ALEXNET_1GPU)),
        "4gpu": lambda: load_text(tmp_path, FOUR_GPU, "four.cfg"),
        "ablated": lambda: ablated_alexnet(tmp_path),
        "odd-names": lambda: load_text(tmp_path, ODD_NAMES, "odd.cfg"),
        "mid-crossing": lambda: load_text(tmp_path, MID_CROSSING, "mid.cfg"),
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
            assert cross_hops(net) == set(net.cross_gpu_edges)
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
        assert lane_labels(net, 0) == lane_labels(alexnet, 0)
    if case == "ablated":
        assert lane_labels(net, 1) == [
            "55x55x48", "27x27x128", "13x13x192", "13x13x128", "dense 2048", "dense 2048"]


@needs_dot
def test_odd_names_survive_into_the_svg(tmp_path):
    net = load_text(tmp_path, ODD_NAMES, "odd.cfg")
    for style in ("figure2", "graph"):
        out = tmp_path / f"odd-{style}.svg"
        draw(net, out, style)
        svg = out.read_text()
        texts = [t for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
        shown = " ".join(html.unescape(t) for t in texts)
        # Figure 2 writes only the weight layers' names; the graph writes every name.
        for name in (ODD if style == "graph" else ODD[::2]):
            assert name in shown, (style, name)

