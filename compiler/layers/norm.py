"""Response and contrast normalisation, cuda-convnet conventions (scale divided by size or size^2).

cmrnorm (across maps):  b = a / (minDiv + scale/size * sum_{j in W(i)} a_j^2)^pow,
    W(i) = [i - size//2, i - size//2 + size) clipped to the maps (centred for odd size);
    `blocked=true`: W(i) is the block of `size` maps that contains i.
rnorm (same map):       b = a / (minDiv + scale/size^2 * sum_{size x size window} a^2)^pow
cnorm (contrast):       d = a - mean_{window}(a)  (mean over the window's pixels inside the image)
                        b = a / (minDiv + scale/size^2 * sum_{window} d^2)^pow
The spatial window of rnorm/cnorm is [x - size//2, x - size//2 + size), zeros outside the image.
`blocked` is read by cuda-convnet2 for every norm type but used only by cmrnorm's kernel, so on
rnorm and cnorm it changes nothing here either.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers.common import apply, maybe_neuron
from alexspec.compiler.layers.registry import lowers
from alexspec.ir import ContrastNormLayer, CrossMapNormLayer, ResponseNormLayer
from alexspec.net import Node


def _params(layer) -> tuple[float, float, float]:
    return float(layer.scale if layer.scale is not None else 1.0), float(
        layer.pow if layer.pow is not None else 0.75), float(layer.min_div)


def _window_sum(x: Tensor, size: int) -> Tensor:
    """Sum over a size x size window at [p - size//2, p - size//2 + size), zeros outside."""
    a, b = size // 2, size - 1 - size // 2
    return F.avg_pool2d(F.pad(x, (a, b, a, b)), size, 1, divisor_override=1)


def _map_window_sum(sq: Tensor, size: int) -> Tensor:
    """Sum over maps [i - size//2, i - size//2 + size), zeros outside: `size` shifted slices.

    The same window as `F.local_response_norm`, whose 3-D average pooling is ~2.7x slower on CPU.
    """
    c = sq.shape[1]
    padded = F.pad(sq, (0, 0, 0, 0, size // 2, size - 1 - size // 2))  # (N, C + size - 1, H, W)
    s = padded[:, 0:c]
    for j in range(1, size):
        s = s + padded[:, j:j + c]
    return s


class CrossMapNorm(nn.Module):
    def __init__(self, layer: CrossMapNormLayer):
        super().__init__()
        self.scale, self.pow, self.min_div = _params(layer)
        self.size, self.blocked = layer.size, layer.blocked
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        if not self.blocked:
            s = _map_window_sum(x * x, self.size)
            y = x / (self.min_div + self.scale / self.size * s) ** self.pow
        else:
            n, c, h, w = x.shape
            blocks = -(-c // self.size)
            sq = F.pad(x * x, (0, 0, 0, 0, 0, blocks * self.size - c))
            s = sq.reshape(n, blocks, self.size, h, w).sum(2, keepdim=True)
            s = s.expand(n, blocks, self.size, h, w).reshape(n, blocks * self.size, h, w)[:, :c]
            y = x / (self.min_div + self.scale / self.size * s) ** self.pow
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return (f"size {self.size}, k {self.min_div:g}, alpha/size {self.scale:g}/{self.size}, "
                f"beta {self.pow:g}" + (", blocked" if self.blocked else ""))


class ResponseNorm(nn.Module):
    def __init__(self, layer: ResponseNormLayer):
        super().__init__()
        self.scale, self.pow, self.min_div = _params(layer)
        self.size = layer.size
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        s = _window_sum(x * x, self.size)
        y = x / (self.min_div + self.scale / self.size**2 * s) ** self.pow
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return f"same-map {self.size}x{self.size}, k {self.min_div:g}, scale {self.scale:g}, pow {self.pow:g}"


class ContrastNorm(nn.Module):
    def __init__(self, layer: ContrastNormLayer, height: int, width: int):
        super().__init__()
        self.scale, self.pow, self.min_div = _params(layer)
        self.size = layer.size
        self.register_buffer("counts", _window_sum(torch.ones(1, 1, height, width), self.size),
                             persistent=False)
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        d = x - _window_sum(x, self.size) / self.counts
        s = _window_sum(d * d, self.size)
        y = x / (self.min_div + self.scale / self.size**2 * s) ** self.pow
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return f"contrast {self.size}x{self.size}, k {self.min_div:g}, scale {self.scale:g}, pow {self.pow:g}"


@lowers("cmrnorm")
def _cmrnorm(node: Node) -> nn.Module:
    return CrossMapNorm(node.layer)


@lowers("rnorm")
def _rnorm(node: Node) -> nn.Module:
    return ResponseNorm(node.layer)


@lowers("cnorm")
def _cnorm(node: Node) -> nn.Module:
    return ContrastNorm(node.layer, node.output.height, node.output.width)
