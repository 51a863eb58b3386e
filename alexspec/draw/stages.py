"""The Figure-2 reading of a Net: stages (data in, weight layers, sinks) and the links between them.

Figure 2 of the paper draws only what holds weights: each conv or dense layer is a box showing
its output before pooling, and the layers between two of them (ReLU layers, response
normalisation, pooling, dropout, softmax, merges) become text on the link. This module computes
that reading from any checked Net, with no graphviz and no torch, so tests can check it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from alexspec.ir import WEIGHT_TYPES
from alexspec.net import Edge, Net, Node

StageKind = Literal["input", "weight", "sink"]


@dataclass(frozen=True)
class Stage:
    """One box of Figure 2. `lane` is the logical GPU, None for the input and the sinks, which
    sit outside the lanes (the input is fed to every GPU)."""

    node: Node
    index: int  # position of the layer in net.nodes: stable, escape-free DOT ids
    kind: StageKind
    depth: int  # column, left to right
    lane: int | None

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(frozen=True)
class Link:
    """`src` stage feeds `dst` stage through the collapsed layers `via` (in data-flow order).
    `hops` are the Net edges of that path; the link crosses GPUs when any hop does."""

    src: str
    dst: str
    via: tuple[str, ...]
    hops: tuple[Edge, ...]

    @property
    def crosses_gpus(self) -> bool:
        return any(e.crosses_gpus for e in self.hops)


@dataclass(frozen=True)
class Figure2:
    """The stages in drawing order (by depth, then lane, then net order) and the links."""

    stages: tuple[Stage, ...]
    links: tuple[Link, ...]
    lanes: tuple[int, ...]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def cross_links(self) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.crosses_gpus)

    def neurons_by_depth(self) -> list[tuple[int, int]]:
        """(depth, neurons summed over the lanes) for each column of weight stages."""
        sums: dict[int, int] = {}
        for s in self.stages:
            if s.kind == "weight":
                sums[s.depth] = sums.get(s.depth, 0) + s.node.neurons
        return sorted(sums.items())


def _is_image_data(net: Net, node: Node) -> bool:
    """A data layer read by something other than a cost layer (labels only feed costs)."""
    return node.type == "data" and any(
        not c.type.startswith("cost.") for c in net.consumers(node.name)
    )


def _stage_kind(net: Net, node: Node) -> StageKind | None:
    if node.type in WEIGHT_TYPES:
        return "weight"
    if node.type == "data":
        return "input" if _is_image_data(net, node) else None
    if not net.consumers(node.name):
        return "sink"
    return None


def figure2_stages(net: Net) -> Figure2:
    """Collapse `net` into Figure 2's stages and links."""
    kinds = {n.name: k for n in net if (k := _stage_kind(net, n)) is not None}
    incoming: dict[str, list[Edge]] = {}
    for e in net.edges:
        incoming.setdefault(e.dst, []).append(e)

    links: list[Link] = []
    seen: set[tuple[str, str, tuple[str, ...]]] = set()

    def walk(name: str, dst: str, via: tuple[str, ...], hops: tuple[Edge, ...]) -> None:
        if name in kinds:
            key = (name, dst, via)
            if key not in seen:
                seen.add(key)
                links.append(Link(name, dst, via, hops))
            return
        if net[name].type == "data":  # a labels layer: not drawn
            return
        for e in sorted(incoming.get(name, []), key=lambda e: e.index):
            walk(e.src, dst, (name, *via), (e, *hops))

    for node in net:  # topological order, so links come out sorted by destination
        if kinds.get(node.name) in ("weight", "sink"):
            for e in sorted(incoming.get(node.name, []), key=lambda e: e.index):
                walk(e.src, node.name, (), (e,))

    depth: dict[str, int] = {}
    for node in net:
        if node.name in kinds:
            ins = [depth[link.src] for link in links if link.dst == node.name]
            depth[node.name] = 1 + max(ins) if ins else 0
    last = max((d for n, d in depth.items() if kinds[n] != "sink"), default=0)
    index = {n.name: i for i, n in enumerate(net.nodes)}
    stages = []
    for node in net:
        kind = kinds.get(node.name)
        if kind is None:
            continue
        d = max(depth[node.name], last + 1) if kind == "sink" else depth[node.name]
        lane = node.gpu if kind == "weight" else None
        stages.append(Stage(node, index[node.name], kind, d, lane))
    stages.sort(key=lambda s: (s.depth, -1 if s.lane is None else s.lane, s.index))
    lanes = tuple(sorted({s.lane for s in stages if s.lane is not None}))
    return Figure2(tuple(stages), tuple(links), lanes)
