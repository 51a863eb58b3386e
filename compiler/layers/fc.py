"""fc and sfc.

fc: y = sum_i W_i flatten(x_i) + b, then the neuron (one weight matrix per input, one bias).
sfc (cuda-convnet2 SplitFCLayer): the inputs and the outputs are cut into `parts` equal blocks and
block p of the output reads only block p of each input, y_p = sum_i W_i,p x_i,p + b_p: a
block-diagonal fc. The output size is the checked node's (alexspec/shapes.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers.common import WeightLayer, apply, maybe_neuron, pick
from alexspec.compiler.layers.registry import lowers
from alexspec.ir import FcLayer, SfcLayer
from alexspec.net import Node, Shape


class FullyConnected(WeightLayer):
    """Weights are (outputs, inputs_i) as in torch.nn.Linear; inputs are flattened (C, H, W)."""

    def __init__(self, layer: FcLayer, in_shapes: tuple[Shape, ...], out: Shape):
        super().__init__()
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(layer.outputs, s.numel)) for s in in_shapes)
        self.bias = nn.Parameter(torch.empty(layer.outputs))
        self.init_w = tuple(pick(layer.init_w, i, 0.01) for i in range(len(in_shapes)))
        self.init_b = layer.init_b
        self.neuron = maybe_neuron(layer.neuron, inplace=True)

    def forward(self, *xs: Tensor) -> Tensor:
        y = F.linear(xs[0].flatten(1), self.weights[0], self.bias)
        for x, w in zip(xs[1:], self.weights[1:]):
            y = y + F.linear(x.flatten(1), w)
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return " + ".join(f"{w.shape[1]}" for w in self.weights) + f" -> {self.bias.shape[0]}"


class SplitFullyConnected(WeightLayer):
    """Weights are (parts, outputs/parts, inputs_i/parts): one block per part."""

    def __init__(self, layer: SfcLayer, in_shapes: tuple[Shape, ...], out: Shape):
        super().__init__()
        self.parts = layer.parts
        outputs = out.numel
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(self.parts, outputs // self.parts, s.numel // self.parts))
            for s in in_shapes)
        self.bias = nn.Parameter(torch.empty(outputs))
        self.init_w = tuple(pick(layer.init_w, i, 0.01) for i in range(len(in_shapes)))
        self.init_b = layer.init_b
        self.neuron = maybe_neuron(layer.neuron, inplace=True)

    def forward(self, *xs: Tensor) -> Tensor:
        y = None
        for x, w in zip(xs, self.weights):
            blocks = x.flatten(1).reshape(x.shape[0], self.parts, -1)  # (N, P, I/P)
            t = torch.einsum("npi,poi->npo", blocks, w).flatten(1)  # (N, P*O/P)
            y = t if y is None else y + t
        return apply(self.neuron, y + self.bias)

    def extra_repr(self) -> str:
        return (" + ".join(f"{w.shape[0] * w.shape[2]}" for w in self.weights)
                + f" -> {self.bias.shape[0]} in {self.parts} parts")


@lowers("fc")
def _fc(node: Node) -> nn.Module:
    return FullyConnected(node.layer, node.input_shapes, node.output)


@lowers("sfc")
def _sfc(node: Node) -> nn.Module:
    return SplitFullyConnected(node.layer, node.input_shapes, node.output)
