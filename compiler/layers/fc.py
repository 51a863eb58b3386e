"""fc: y = sum_i W_i flatten(x_i) + b, then the neuron (one weight matrix per input, one bias)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers.common import WeightLayer, apply, maybe_neuron, pick
from alexspec.ir import FcLayer
from alexspec.net import Shape


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
