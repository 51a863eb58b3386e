"""cuda-convnet's image layers (no gradient): nailbed, blur, resize, rgb2yuv, rgb2lab, rscale,
href, crop. Shapes and ranges as their parsers in layer.py of cuda-convnet / cuda-convnet2:
nailbed keeps every stride-th pixel (`ceil(size/stride)`); blur (filterSize 3, 5, 7 or 9) and the
colour transforms keep the shape; resize gives `floor(size/scale)` with scale in [0.5, 2]; rscale
gives `tgtSize` (cuda-convnet2) or `floor(size/maxScale)` (maxScale in [1, 2]); crop gives
sizeX x sizeX from (startX, startY) inside the image.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from alexspec.layers.base import Layer, NeuronMixin
from alexspec.layers.registry import ONE, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape, ceil_div

_TYPES = ("nailbed", "blur", "resize", "rgb2yuv", "rgb2lab", "rscale", "href", "crop")


def _in_range(out: list[Problem], field: str, v: float, lo: float, hi: float) -> bool:
    if lo <= v <= hi:
        return True
    out.append(Problem(field, "value", f"{field}={v:g} must be in the range {lo:g}-{hi:g} (cuda-convnet's rule)"))
    return False


def _image(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s, t = ins[0], layer.type
    if t == "nailbed" and layer.stride:
        return Result(Shape(s.channels, ceil_div(s.height, layer.stride), ceil_div(s.width, layer.stride)))
    if t == "blur" and layer.filter_size is not None:
        if layer.filter_size not in (3, 5, 7, 9):
            out.append(Problem("filterSize", "value", f"filterSize={layer.filter_size} must be 3, 5, 7 or 9"))
            return None
        if layer.filter_size > min(s.height, s.width):
            out.append(Problem("filterSize", "shape", f"filterSize={layer.filter_size} is larger than the "
                               f"{s.height}x{s.width} image"))
            return None
    if t == "resize" and layer.scale is not None:
        if not _in_range(out, "scale", layer.scale, 0.5, 2):
            return None
        return Result(Shape(s.channels, math.floor(s.height / layer.scale), math.floor(s.width / layer.scale)))
    if t == "rscale":
        if layer.max_scale is not None and not _in_range(out, "maxScale", layer.max_scale, 1, 2):
            return None
        if layer.tgt_size is not None:
            return Result(Shape(s.channels, layer.tgt_size, layer.tgt_size))
        if layer.max_scale is not None:
            n = math.floor(s.height / layer.max_scale)
            return Result(Shape(s.channels, n, n))
    if t == "crop" and layer.size_x is not None:
        x, y = layer.start_x or 0, layer.start_y if layer.start_y is not None else (layer.start_x or 0)
        bad = len(out)
        for field, v in (("startX", x), ("startY", y)):
            if v + layer.size_x > min(s.height, s.width):
                out.append(Problem(field, "shape", f"{field}={v} + sizeX={layer.size_x} runs past the "
                                   f"{s.height}x{s.width} image"))
        if len(out) > bad:
            return None
        return Result(Shape(s.channels, layer.size_x, layer.size_x))
    return Result(s)


def _details(layer) -> list[str]:
    keys = ("stride", "filter_size", "stdev", "scale", "max_scale", "tgt_size", "start_x", "start_y", "size_x")
    shown = [f"{k} {getattr(layer, k):g}" for k in keys if getattr(layer, k) is not None]
    return [" / ".join(shown)] if shown else []


@register(*_TYPES, arity=ONE, shape=_image, drawing=Drawing("#E6E6E6", _details, lambda layer: layer.type),
          examples=[Example("type=nailbed\ninputs=in0\nchannels=3\nstride=2", (Shape(3, 9, 9),), "5x5x3"),
                    Example("type=blur\ninputs=in0\nchannels=3\nfilterSize=5\nstdev=1", (Shape(3, 8, 8),), "8x8x3"),
                    Example("type=resize\ninputs=in0\nchannels=3\nscale=1.5", (Shape(3, 9, 9),), "6x6x3"),
                    Example("type=rgb2yuv\ninputs=in0", (Shape(3, 8, 8),), "8x8x3"),
                    Example("type=rgb2lab\ninputs=in0\ncenter=1", (Shape(3, 8, 8),), "8x8x3"),
                    Example("type=rscale\ninputs=in0\nchannels=3\nmaxScale=2\ntgtSize=6", (Shape(3, 8, 8),), "6x6x3"),
                    Example("type=href\ninputs=in0\nchannels=3", (Shape(3, 8, 8),), "8x8x3"),
                    Example("type=crop\ninputs=in0\nchannels=3\nstartX=1\nsizeX=4", (Shape(3, 8, 8),), "4x4x3")])
class ImageOpLayer(Layer, NeuronMixin):
    """cuda-convnet's data-manipulation layers (no gradient)."""

    type: Literal[_TYPES]  # type: ignore[valid-type]
    channels: int | None = Field(None, gt=0)
    stride: int | None = Field(None, gt=0)
    filter_size: int | None = Field(None, alias="filterSize", gt=0)
    stdev: float | None = Field(None, gt=0, allow_inf_nan=False)
    scale: float | None = Field(None, gt=0, allow_inf_nan=False)
    center: bool | None = None
    max_scale: float | None = Field(None, alias="maxScale", gt=0, allow_inf_nan=False)
    tgt_size: int | None = Field(None, alias="tgtSize", gt=0)
    start_x: int | None = Field(None, alias="startX", ge=0)
    start_y: int | None = Field(None, alias="startY", ge=0)
    size_x: int | None = Field(None, alias="sizeX", gt=0)
