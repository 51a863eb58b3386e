"""pool and cmpool: max, maxabs or avg over windows (cuda-convnet semantics).

pool: sizeX x sizeX windows at `start + m*stride`; the output grid is the checked node's
(`ceil((size - start - sizeX) / stride) + 1` unless `outputsX`, alexspec/shapes.py). Windows may
overlap and hang over the image edge: max and maxabs see only the pixels inside, avg divides by
the number of pixels inside (cuda-convnet's AvgPooler) or sums them when `sum=true`. maxabs keeps
the value of largest magnitude, with its sign (MaxAbsPooler: `|a| > |b| ? a : b`).

cmpool (cuda-convnet2 CrossMapPoolLayer, kPoolCrossMap): output map o is the max over input maps
`[start + o*stride, start + o*stride + size)` clipped to the maps (`start` <= 0 pads).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers.common import apply, maybe_neuron
from alexspec.shapes import span_pads
from alexspec.compiler.layers.registry import lowers
from alexspec.ir import CrossMapPoolLayer, PoolLayer
from alexspec.net import Node, Shape


class Pool(nn.Module):
    def __init__(self, layer: PoolLayer, in_shape: Shape, out: Shape):
        super().__init__()
        h, w = in_shape.height, in_shape.width
        ph = span_pads(h, out.height, layer.size_x, layer.start, layer.stride)
        pw = span_pads(w, out.width, layer.size_x, layer.start, layer.stride)
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
        elif self.kind == "maxabs":
            # The window position of the largest |x| (outside pixels: -1 < any |x|), then x there.
            mag = F.pad(x.abs(), self.pads, value=-1.0)
            xp = F.pad(x, self.pads)
            _, idx = F.max_pool2d(mag, k, s, return_indices=True)  # flat indices into padded H*W
            y = xp.flatten(2).gather(2, idx.flatten(2)).view_as(idx)
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


class CrossMapPool(nn.Module):
    """Max over `size` neighbouring maps, output map o starting at map `start + o*stride`."""

    def __init__(self, layer: CrossMapPoolLayer, in_shape: Shape, out: Shape):
        super().__init__()
        self.size, self.stride, self.start, self.outputs = layer.size, layer.stride, layer.start, out.channels
        before, after = span_pads(in_shape.channels, out.channels, layer.size, layer.start, layer.stride)
        self.pads = (0, 0, 0, 0, before, after)  # on the map axis of (N, C, H, W)
        self.neuron = maybe_neuron(layer.neuron, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        xp = F.pad(x, self.pads, value=float("-inf"))  # (N, C + pads, H, W)
        windows = xp.unfold(1, self.size, self.stride)  # (N, outputs, H, W, size)
        y = windows.amax(-1)
        return apply(self.neuron, y)

    def extra_repr(self) -> str:
        return f"max over maps {self.size}/{self.stride} start {self.start} -> {self.outputs}"


@lowers("pool")
def _pool(node: Node) -> nn.Module:
    return Pool(node.layer, node.input_shapes[0], node.output)


@lowers("cmpool")
def _cmpool(node: Node) -> nn.Module:
    return CrossMapPool(node.layer, node.input_shapes[0], node.output)
