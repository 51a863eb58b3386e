"""conv (shared weights) and local (unshared weights) layers, cuda-convnet semantics.

Several inputs: one weight set per input, outputs summed, one bias (cuda-convnet docs).
`groups=g`: the input channels are split into g groups; each group has `filters` filters, so the
output has `filters * g` channels (cuda-convnet counts filters per group, unlike Caffe).
The output grid is the checked node's (alexspec/shapes.py computes it with cuda-convnet's
`1 + ceil((2*padding + size - filterSize) / stride)`); alexspec/shapes.py derives the right/bottom padding
that grid implies.
`randSparse=true` (cuda-convnet 1): group g reads `filterChannels` input channels chosen at random,
`conns[g*filterChannels:(g+1)*filterChannels]`, where `conns` is `groups*filterChannels/channels`
random permutations of the channels one after the other (layer.py `gen_rand_conns`).
`sharedBiases=false`: one bias per output channel and position. Local layers always have one
bias per channel and position (cuda-convnet2 `LocalUnsharedLayerParser`).
"""

from __future__ import annotations

from dataclasses import dataclass

import zlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers.common import WeightLayer, apply, maybe_neuron, pick
from alexspec.shapes import span_pads
from alexspec.compiler.layers.registry import lowers
from alexspec.ir import ConvLayer, LocalLayer
from alexspec.net import Node, Shape


@dataclass(frozen=True)
class InputGeometry:
    """How one input is convolved: channels, filters per group, kernel, stride, groups, padding."""

    channels: int
    filters: int
    size: int
    stride: int
    groups: int
    pad_h: tuple[int, int]  # (top, bottom)
    pad_w: tuple[int, int]  # (left, right)
    filter_channels: int  # channels one group reads (channels // groups unless randSparse)
    conns: tuple[int, ...] | None = None  # randSparse: the input channel of each group slot

    @property
    def symmetric(self) -> bool:
        return self.pad_h[0] == self.pad_h[1] == self.pad_w[0] == self.pad_w[1] >= 0

    def pad(self, x: Tensor) -> Tensor:
        return F.pad(x, (self.pad_w[0], self.pad_w[1], self.pad_h[0], self.pad_h[1]))


def input_geometries(layer: ConvLayer | LocalLayer, in_shapes: tuple[Shape, ...],
                     out: Shape) -> list[InputGeometry]:
    """Per-input geometry; the output grid is the checked node's `out` (alexspec/shapes.py)."""
    geoms = []
    oh, ow = out.height, out.width
    for i, shape in enumerate(in_shapes):
        fs = pick(layer.filter_size, i, 1)
        pad = pick(layer.padding, i, 0)
        stride = pick(layer.stride, i, 1)
        groups = pick(layer.groups, i, 1)
        channels = shape.channels
        sparse = pick(layer.rand_sparse, i, False)
        fc = pick(layer.filter_channels, i, 0) if sparse else 0
        fc = fc or channels // groups
        geoms.append(InputGeometry(
            channels=channels, filters=pick(layer.filters, i, 16), size=fs, stride=stride,
            groups=groups,
            pad_h=span_pads(shape.height, oh, fs, -pad, stride),
            pad_w=span_pads(shape.width, ow, fs, -pad, stride),
            filter_channels=fc,
            conns=random_connections(layer.name, i, channels, groups, fc) if sparse else None,
        ))
    return geoms


def random_connections(name: str, index: int, channels: int, groups: int,
                       filter_channels: int) -> tuple[int, ...]:
    """cuda-convnet's `gen_rand_conns`: groups*filterChannels/channels permutations of the
    channels, concatenated. Drawn from a generator seeded by the layer name and input index, so
    a spec gives the same connections on every build (they are also saved as a buffer)."""
    g = torch.Generator().manual_seed(zlib.crc32(f"{name}[{index}]".encode()))
    over = groups * filter_channels // channels
    return tuple(int(c) for _ in range(over) for c in torch.randperm(channels, generator=g))


class Conv(WeightLayer):
    """Shared-weight convolution: y = sum_i conv(x_i, W_i) + b, then the neuron."""

    def __init__(self, layer: ConvLayer, in_shapes: tuple[Shape, ...], out: Shape):
        super().__init__()
        self.geoms = input_geometries(layer, in_shapes, out)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(g.filters * g.groups, g.filter_channels, g.size, g.size))
            for g in self.geoms)
        _register_conns(self, self.geoms)
        bias_shape = (out.channels,) if layer.shared_biases else (out.channels, out.height, out.width)
        self.bias = nn.Parameter(torch.empty(bias_shape))
        self.shared_biases = layer.shared_biases
        self.init_w = tuple(pick(layer.init_w, i, 0.01) for i in range(len(self.geoms)))
        self.init_b = layer.init_b
        self.neuron = maybe_neuron(layer.neuron, inplace=True)
        # Inputs with one geometry are one conv over their concatenation (same sum, and one wide
        # conv is faster than several narrow ones on the CPU).
        first = self.geoms[0]
        self.concat_inputs = len(self.geoms) > 1 and all(
            (g.size, g.stride, g.groups, g.pad_h, g.pad_w)
            == (first.size, first.stride, 1, first.pad_h, first.pad_w) and g.conns is None
            for g in self.geoms)

    def forward(self, *xs: Tensor) -> Tensor:
        xs = _gather_sparse(self, xs)
        if self.concat_inputs:
            xs, weights = (torch.cat(xs, 1),), (torch.cat(list(self.weights), 1),)
        else:
            weights = self.weights
        y = None
        for i, (g, x, w) in enumerate(zip(self.geoms, xs, weights)):
            b = self.bias if (i == 0 and self.shared_biases) else None
            if g.symmetric:
                t = F.conv2d(x, w, b, g.stride, g.pad_h[0], 1, g.groups)
            else:
                t = F.conv2d(g.pad(x), w, b, g.stride, 0, 1, g.groups)
            y = t if y is None else y + t
        if not self.shared_biases:
            y = y + self.bias
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        parts = [f"{g.channels}->{g.filters * g.groups} {g.size}x{g.size}/{g.stride} "
                 f"pad {_pads(g)}" + (f" groups={g.groups}" if g.groups > 1 else "")
                 + (f" randSparse {g.filter_channels}" if g.conns is not None else "")
                 for g in self.geoms]
        return "; ".join(parts) + ("" if self.shared_biases else "; unshared biases")


class Local(WeightLayer):
    """Locally connected: like conv, but every output position has its own filters.

    out[n, g*F+f, p] = sum_i sum_k W_i[p, g, f, k] * patch_i[n, g, k, p] + b[g*F+f, p]
    """

    def __init__(self, layer: LocalLayer, in_shapes: tuple[Shape, ...], out: Shape):
        super().__init__()
        self.geoms = input_geometries(layer, in_shapes, out)
        self.out = out
        positions = out.height * out.width
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(positions, g.groups, g.filters,
                                     g.filter_channels * g.size * g.size))
            for g in self.geoms)
        _register_conns(self, self.geoms)
        self.bias = nn.Parameter(torch.empty(out.channels, out.height, out.width))
        self.init_w = tuple(pick(layer.init_w, i, 0.01) for i in range(len(self.geoms)))
        self.init_b = layer.init_b
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, *xs: Tensor) -> Tensor:
        xs = _gather_sparse(self, xs)
        n = xs[0].shape[0]
        y = self.bias
        for g, x, w in zip(self.geoms, xs, self.weights):
            cols = F.unfold(g.pad(x), g.size, stride=g.stride)  # (N, C*k*k, P)
            cols = cols.reshape(n, g.groups, -1, cols.shape[-1])  # (N, G, Cg*k*k, P)
            t = torch.einsum("ngkp,pgfk->ngfp", cols, w)  # (N, G, F, P)
            y = y + t.reshape(n, self.out.channels, self.out.height, self.out.width)
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return "; ".join(f"{g.channels}->{g.filters * g.groups} {g.size}x{g.size}/{g.stride} "
                         f"pad {_pads(g)} unshared" for g in self.geoms)


def _register_conns(mod: nn.Module, geoms: list[InputGeometry]) -> None:
    for i, g in enumerate(geoms):
        if g.conns is not None:  # persistent: a checkpoint keeps the random connectivity
            mod.register_buffer(f"conns{i}", torch.tensor(g.conns, dtype=torch.long))


def _gather_sparse(mod: nn.Module, xs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """randSparse inputs become (N, groups*filterChannels, H, W): group g's channels in a row."""
    return tuple(x if g.conns is None else x.index_select(1, getattr(mod, f"conns{i}"))
                 for i, (g, x) in enumerate(zip(mod.geoms, xs)))


@lowers("conv")
def _conv(node: Node) -> nn.Module:
    return Conv(node.layer, node.input_shapes, node.output)


@lowers("local")
def _local(node: Node) -> nn.Module:
    return Local(node.layer, node.input_shapes, node.output)


def _pads(g: InputGeometry) -> str:
    if g.symmetric:
        return str(g.pad_h[0])
    return f"({g.pad_h[0]},{g.pad_h[1]})x({g.pad_w[0]},{g.pad_w[1]})"
