"""Pooling: `pool` over a sizeX x sizeX window in each map, `cmpool` across maps.

pool (cuda-convnet): `out = ceil((in - start - sizeX) / stride) + 1` unless `outputsX` is given;
`pool=max|avg|maxabs`, and `sum=1` on avg sums instead of averaging (cuda-convnet2).
cmpool (cuda-convnet2 CrossMapPoolLayerParser): `size` maps per window, `stride` between windows,
`outputs = ceil((channels - start - size) / stride) + 1` maps unless given.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alexspec.layers.base import Layer, NeuronMixin
from alexspec.layers.registry import ONE, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape, ceil_div, declared, pool_out


def _pool(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = declared(layer, ins[0], out)
    if s is None:
        return None
    bad = len(out)
    if layer.stride > layer.size_x:
        out.append(Problem("stride", "shape", f"stride={layer.stride} must not exceed sizeX={layer.size_x}"))
    if layer.size_x > min(s.height, s.width) - layer.start:
        out.append(Problem("sizeX", "shape", f"sizeX={layer.size_x} is larger than the input "
                           f"({s.height}x{s.width}, start={layer.start})"))
    if len(out) > bad:
        return None
    if layer.outputs_x:
        h = w = layer.outputs_x
    else:
        h = pool_out(s.height, layer.size_x, layer.start, layer.stride)
        w = pool_out(s.width, layer.size_x, layer.start, layer.stride)
    return Result(Shape(s.channels, h, w))


def _cmpool(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = declared(layer, ins[0], out)
    if s is None:
        return None
    if layer.size > s.channels - layer.start:
        out.append(Problem("size", "shape", f"size={layer.size} exceeds the {s.channels} channels"))
        return None
    n = layer.outputs or ceil_div(s.channels - layer.start - layer.size, layer.stride) + 1
    return Result(Shape(n, s.height, s.width))


@register("pool", arity=ONE, shape=_pool,
          drawing=Drawing("#FF9900",
                          lambda layer: [f"{layer.pool.upper()} {layer.size_x}x{layer.size_x} / stride {layer.stride}"],
                          lambda layer: f"{layer.pool} pooling {layer.size_x}x{layer.size_x} stride {layer.stride}"),
          examples=[Example("type=pool\ninputs=in0\npool=max\nsizeX=3\nstride=2\nchannels=16",
                            (Shape(16, 13, 13),), "6x6x16")])
class PoolLayer(Layer, NeuronMixin):
    type: Literal["pool"]
    pool: Literal["max", "avg", "maxabs"]
    size_x: int = Field(alias="sizeX", gt=0)
    stride: int = Field(gt=0)
    channels: int = Field(gt=0)
    start: int = 0
    outputs_x: int = Field(0, alias="outputsX", ge=0)
    sum: bool = False


@register("cmpool", arity=ONE, shape=_cmpool,
          drawing=Drawing("#FFB84D",
                          lambda layer: [f"{layer.pool.upper()} over {layer.size} maps / stride {layer.stride}"],
                          lambda layer: f"cross-map {layer.pool} pooling"),
          examples=[Example("type=cmpool\ninputs=in0\nsize=4\nstride=4\nchannels=16",
                            (Shape(16, 16, 16),), "16x16x4")])
class CrossMapPoolLayer(Layer, NeuronMixin):
    type: Literal["cmpool"]
    pool: Literal["max", "avg", "maxabs"] = "max"
    size: int = Field(gt=0)
    stride: int = Field(1, gt=0)
    start: int = 0
    outputs: int = Field(0, ge=0)
    channels: int = Field(gt=0)
