"""The checked network: the output of `alexspec.load` and the input of draw, build and run.

A `Net` is the validated `Spec` plus what the checker derived: each layer's logical GPU(s),
input and output shapes, parameter and multiply-add counts, and the edges between layers with
the ones that cross GPUs marked. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from alexspec.errors import Diagnostic
from alexspec.ir import AnyLayer, RunSettings, Spec
from alexspec.layers.base import INIT_KEYS, WEIGHT_PARAMS_KEYS
from alexspec.shapes import Shape

__all__ = ["Edge", "Net", "Node", "Shape", "NOT_ARCHITECTURE", "source_gpu"]

# What may change between a checkpoint and the spec it resumes into: learning parameters (as the
# layer params file could change them in cuda-convnet) and initialisation, which only matters
# before the first step. Every other field of a layer is architecture (norm constants, dropout
# rates and cost coefficients change what the layers compute, so they count).
NOT_ARCHITECTURE = WEIGHT_PARAMS_KEYS | INIT_KEYS


def source_gpu(src_type: str, src_gpu: int, dst_gpu: int) -> int:
    """The logical GPU an input arrives from: its layer's, except that data layers are fed
    straight to every device that reads them (so an edge out of a data layer never crosses
    GPUs). The one GPU-crossing rule: `Net.edges` and the compiler's plan both use it."""
    return dst_gpu if src_type == "data" else src_gpu


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
        """True when the edge joins layers on different logical GPUs (a transfer)."""
        return self.src_gpu != self.dst_gpu

    @property
    def bytes_per_image(self) -> int:
        """Bytes the edge carries per image."""
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
        """The layer's name."""
        return self.layer.name

    @property
    def type(self) -> str:
        """The layer's type (`conv`, `cost.logreg`, ...)."""
        return self.layer.type

    @property
    def gpu(self) -> int:
        """The logical GPU this layer's module lives on (the first replica's)."""
        return self.gpus[0]

    @property
    def neurons(self) -> int:
        """Output values per image (the paper's neuron count)."""
        return self.output.numel

    @property
    def architecture(self) -> str:
        """One line with everything `Net.architecture_hash` covers for this layer: name, type,
        inputs, GPUs, output shape, parameter count and every written layer key that is not a
        learning parameter or an initialisation (`NOT_ARCHITECTURE`)."""
        keys = self.layer.model_dump(
            by_alias=True, exclude_defaults=True,
            exclude=set(NOT_ARCHITECTURE) | {"name", "type", "inputs", "gpu"})
        neuron = getattr(self.layer, "neuron", None)
        if neuron is not None:  # `relu`, not pydantic's {kind, args}
            keys["neuron"] = str(neuron)
        shown = " ".join(f"{k}={_value(v)}" for k, v in sorted(keys.items()))
        return (f"{self.name}: {self.type} inputs={','.join(self.layer.inputs)} "
                f"gpu={','.join(map(str, self.gpus))} out={self.output} params={self.params}"
                + (f" {shown}" if shown else ""))


def _value(v: object) -> str:
    return ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)


@dataclass(frozen=True)
class Net:
    """A checked network, in an order where every layer comes after its inputs."""

    spec: Spec
    nodes: tuple[Node, ...]
    source_text: str = ""
    warnings: tuple[Diagnostic, ...] = ()  # located, what cuda-convnet accepted silently

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
        """The spec's `[net]` run settings."""
        return self.spec.settings

    @property
    def path(self) -> str:
        """The spec file's path (or the name given to `loads`)."""
        return self.spec.path

    @cached_property
    def edges(self) -> tuple[Edge, ...]:
        """Every input connection, in layer order then input order."""
        out = []
        for node in self.nodes:
            for i, src in enumerate(node.layer.inputs):
                s = self[src]
                out.append(Edge(src, node.name, i, source_gpu(s.type, s.gpu, node.gpu), node.gpu, s.output))
        return tuple(out)

    @property
    def cross_gpu_edges(self) -> tuple[Edge, ...]:
        """The edges that join different logical GPUs: the transfers the lowering makes."""
        return tuple(e for e in self.edges if e.crosses_gpus)

    def consumers(self, name: str) -> tuple[Node, ...]:
        """The layers that read layer `name`, once per edge."""
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
        """Learned parameters of the whole net."""
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        """Forward multiply-adds per image of the whole net."""
        return sum(n.macs for n in self.nodes)

    @property
    def data_nodes(self) -> tuple[Node, ...]:
        """The `type=data` layers."""
        return tuple(n for n in self.nodes if n.type == "data")

    @property
    def cost_nodes(self) -> tuple[Node, ...]:
        """The `cost.*` layers."""
        return tuple(n for n in self.nodes if n.type.startswith("cost."))

    @cached_property
    def architecture_hash(self) -> str:
        """A hash of the architecture only, to refuse a wrong resume: every layer's
        `Node.architecture` line, so learning parameters and initialisation may change."""
        text = "\n".join(n.architecture for n in self.nodes)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
