"""Layers without weights: neuron, softmax, dropout/dropout2, concat/pass, eltsum, eltmax, sum."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from alexspec.compiler.layers.common import apply, maybe_neuron
from alexspec.compiler.layers.neurons import Activation
from alexspec.compiler.layers.registry import fed, lowers
from alexspec.ir import ConcatLayer, DropoutLayer, EltMaxLayer, EltSumLayer, Neuron, SumLayer
from alexspec.net import Node, Shape


class NeuronOnly(nn.Module):
    """`type=neuron`: the activation alone."""

    def __init__(self, neuron: Neuron):
        super().__init__()
        self.act = Activation(neuron)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x)


class Softmax(nn.Module):
    """Softmax over the flattened features of each image."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(x.flatten(1), dim=1)


class Dropout(nn.Module):
    """`dropout`: inverted, x*m/keep at train time, identity at test time.
    `dropout2`: the paper's, x*m at train time, x*keep at test time. m ~ Bernoulli(keep)."""

    def __init__(self, layer: DropoutLayer):
        super().__init__()
        self.keep, self.inverted, self.enable = layer.keep, layer.type == "dropout", layer.enable

    def forward(self, x: Tensor) -> Tensor:
        if not self.enable or self.keep >= 1.0:
            return x
        if self.training:
            mask = torch.empty_like(x).bernoulli_(self.keep)
            return x * mask / self.keep if self.inverted else x * mask
        return x if self.inverted else x * self.keep

    def extra_repr(self) -> str:
        kind = "inverted" if self.inverted else "test-time scaling"
        return f"keep {self.keep:g}, {kind}" + ("" if self.enable else ", disabled")


class Concat(nn.Module):
    """concat/pass: the inputs' flattened features one after the other (cuda-convnet), shaped
    as the output (for images with equal H x W that is concatenation along channels)."""

    def __init__(self, layer: ConcatLayer, out: Shape):
        super().__init__()
        self.out = out
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, *xs: Tensor) -> Tensor:
        if all(x.dim() == 4 and x.shape[2:] == xs[0].shape[2:] for x in xs):
            y = torch.cat(xs, 1)
        else:
            y = torch.cat([x.flatten(1) for x in xs], 1)
            if self.out.is_image:
                y = y.reshape(-1, self.out.channels, self.out.height, self.out.width)
        return apply(self.neuron, y)


class EltSum(nn.Module):
    """y = sum_i coeffs[i] * x_i (coeffs default to 1)."""

    def __init__(self, layer: EltSumLayer, n_inputs: int):
        super().__init__()
        c = tuple(layer.coeffs) or (1.0,)
        self.coeffs = c if len(c) == n_inputs else c[:1] * n_inputs
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, *xs: Tensor) -> Tensor:
        y = None
        for c, x in zip(self.coeffs, xs):
            t = x if c == 1.0 else c * x
            y = t if y is None else y + t
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return "coeffs " + ",".join(f"{c:g}" for c in self.coeffs)


class EltMax(nn.Module):
    """y = elementwise max of the inputs."""

    def __init__(self, layer: EltMaxLayer):
        super().__init__()
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, *xs: Tensor) -> Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = torch.maximum(y, x)
        return apply(self.neuron, y)


class ChannelSum(nn.Module):
    """`sum` with stride s: y[c] = sum_{j<s} x[c*s + j] (groups of s consecutive maps).

    cuda-convnet2's layer.py parses `sum` (outputs = inputs / stride) but convnet.cu never builds
    one, so there is no kernel to follow: this is the reading of the checked shape (maps / s).
    """

    def __init__(self, layer: SumLayer):
        super().__init__()
        self.stride = layer.stride
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        y = x.reshape(n, c // self.stride, self.stride, *x.shape[2:]).sum(2)
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return f"maps in groups of {self.stride}"


@fed("data")
def _data(node: Node) -> None:
    """Data layers are fed by the compiled model (no module)."""


@lowers("neuron")
def _neuron(node: Node) -> nn.Module:
    return NeuronOnly(node.layer.neuron)


@lowers("softmax")
def _softmax(node: Node) -> nn.Module:
    return Softmax()


@lowers("dropout", "dropout2")
def _dropout(node: Node) -> nn.Module:
    return Dropout(node.layer)


@lowers("concat", "pass")
def _concat(node: Node) -> nn.Module:
    return Concat(node.layer, node.output)


@lowers("eltsum")
def _eltsum(node: Node) -> nn.Module:
    return EltSum(node.layer, len(node.layer.inputs))


@lowers("eltmax")
def _eltmax(node: Node) -> nn.Module:
    return EltMax(node.layer)


@lowers("sum")
def _sum(node: Node) -> nn.Module:
    return ChannelSum(node.layer)
