"""The checked network: the output of `alexspec.load` and the input of draw, build and run.

A `Net` is the validated `Spec` plus what the checker derived: each layer's logical GPU(s),
input and output shapes, parameter and multiply-add counts, and the edges between layers with
the ones that cross GPUs marked. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from alexspec.ir import AnyLayer, RunSettings, Spec


@dataclass(frozen=True)
class Shape:
    """The output of one layer for one image: channels x height x width (1x1 for vectors)."""

    channels: int
    height: int = 1
    width: int = 1

    @property
    def numel(self) -> int:
        return self.channels * self.height * self.width

    @property
    def is_image(self) -> bool:
        return self.height > 1 or self.width > 1

    def __str__(self) -> str:
        # The paper's H x W x C order for images; a bare count for vectors.
        return f"{self.height}x{self.width}x{self.channels}" if self.is_image else str(self.channels)


@dataclass(frozen=True)
class Edge:
    """`src` feeds input number `index` of `dst`."""

    src: str
    dst: str
    index: int
    src_gpu: int
    dst_gpu: int
    shape: Shape

    @property
    def crosses_gpus(self) -> bool:
        return self.src_gpu != self.dst_gpu

    @property
    def bytes_per_image(self) -> int:
        return 4 * self.shape.numel  # float32


@dataclass(frozen=True)
class Node:
    """One checked layer."""

    layer: AnyLayer
    gpus: tuple[int, ...]  # logical GPUs; more than one = data-parallel replicas (cuda-convnet2)
    input_shapes: tuple[Shape, ...]
    output: Shape
    params: int
    macs: int  # multiply-adds per image, forward

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def type(self) -> str:
        return self.layer.type

    @property
    def gpu(self) -> int:
        """The logical GPU this layer's module lives on (the first replica's)."""
        return self.gpus[0]

    @property
    def neurons(self) -> int:
        return self.output.numel


@dataclass(frozen=True)
class Net:
    """A checked network, in an order where every layer comes after its inputs."""

    spec: Spec
    nodes: tuple[Node, ...]
    source_text: str = ""

    @cached_property
    def _by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def __getitem__(self, name: str) -> Node:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def settings(self) -> RunSettings:
        return self.spec.settings

    @property
    def path(self) -> str:
        return self.spec.path

    @cached_property
    def edges(self) -> tuple[Edge, ...]:
        out = []
        for node in self.nodes:
            for i, src in enumerate(node.layer.inputs):
                s = self[src]
                # Data layers are fed straight to every device that reads them: never a crossing.
                src_gpu = node.gpu if s.type == "data" else s.gpu
                out.append(Edge(src, node.name, i, src_gpu, node.gpu, s.output))
        return tuple(out)

    @property
    def cross_gpu_edges(self) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.crosses_gpus)

    def consumers(self, name: str) -> tuple[Node, ...]:
        return tuple(self[e.dst] for e in self.edges if e.src == name)

    @property
    def num_gpus(self) -> int:
        """How many logical GPUs the spec uses (max index + 1)."""
        return 1 + max(g for n in self.nodes for g in n.gpus)

    @property
    def replicas(self) -> int:
        """Data-parallel replica count (cuda-convnet2 `gpu=0,1` on the first layers)."""
        return max((len(n.gpus) for n in self.nodes if n.type != "data"), default=1)

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def data_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.type == "data")

    @property
    def cost_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.type.startswith("cost."))

    @cached_property
    def architecture_hash(self) -> str:
        """A hash of the architecture only (not learning parameters), to refuse a wrong resume."""
        arch = [
            (n.name, n.type, n.layer.inputs, n.gpus, str(n.output), n.params) for n in self.nodes
        ]
        return hashlib.sha256(repr(arch).encode()).hexdigest()[:16]
