"""pool: max or avg over sizeX x sizeX windows at `start + m*stride` (cuda-convnet semantics).

Output size `ceil((size - start - sizeX) / stride) + 1` unless `outputsX` is given. Windows may
overlap and may hang over the image edge: max ignores the outside (as if -inf), avg divides by the
number of pixels inside the image (cuda-convnet's AvgPooler), or sums when `sum=true`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers.common import apply, maybe_neuron
from alexspec.compiler.layers.geometry import pool_out, span_pads
from alexspec.ir import PoolLayer
from alexspec.net import Shape


class Pool(nn.Module):
    def __init__(self, layer: PoolLayer, in_shape: Shape, out: Shape):
        super().__init__()
        h, w = in_shape.height, in_shape.width
        oh = layer.outputs_x or pool_out(h, layer.size_x, layer.start, layer.stride)
        ow = layer.outputs_x or pool_out(w, layer.size_x, layer.start, layer.stride)
        if (oh, ow) != (out.height, out.width):
            raise ValueError(f"layer {layer.name!r}: {oh}x{ow} pool output, but the checked net "
                             f"says {out.height}x{out.width}")
        ph = span_pads(h, oh, layer.size_x, layer.start, layer.stride)
        pw = span_pads(w, ow, layer.size_x, layer.start, layer.stride)
        self.pads = (pw[0], pw[1], ph[0], ph[1])
        self.kind, self.size, self.stride, self.sum = layer.pool, layer.size_x, layer.stride, layer.sum
        self.start = layer.start
        self.exact = not any(self.pads)
        # Pixels of each window inside the image (avg divides by this, not by sizeX^2).
        ones = F.pad(torch.ones(1, 1, h, w), self.pads)
        self.register_buffer(
            "counts", F.avg_pool2d(ones, self.size, self.stride, divisor_override=1),
            persistent=False)
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.size, self.stride
        if self.kind == "max":
            if not self.exact:
                x = F.pad(x, self.pads, value=float("-inf"))
            y = F.max_pool2d(x, k, s)
        elif self.exact and not self.sum:
            y = F.avg_pool2d(x, k, s)
        else:
            y = F.avg_pool2d(F.pad(x, self.pads), k, s, divisor_override=1)
            if not self.sum:
                y = y / self.counts
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return (f"{self.kind} {self.size}x{self.size}/{self.stride} start {self.start}"
                + ("" if self.exact else f" pad {self.pads}"))
