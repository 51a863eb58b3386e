"""Normalisation: `cmrnorm` (across maps, the paper's LRN), `rnorm` (within a map), `cnorm`
(contrast). As in cuda-convnet, `scale` is divided by `size` (cmrnorm) or `size**2` (rnorm,
cnorm) and `minDiv` is the additive k: `b = a / (minDiv + scale/size * sum a^2)^pow`.
`scale`, `pow` and `minDiv` are read from the layer params file (NormLayerParser.add_params).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alexspec.layers.base import NORM_PARAMS_KEYS, Layer, NeuronMixin, NormParams
from alexspec.layers.registry import ONE, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape, declared


def _norm(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = declared(layer, ins[0], out)
    if s is None:
        return None
    if layer.type == "cmrnorm":
        if s.channels % 16:
            out.append(Problem("channels", "divisibility",
                               f"cmrnorm needs channels divisible by 16 (got {s.channels})"))
        if not 2 <= layer.size <= s.channels:
            out.append(Problem("size", "shape", f"size={layer.size} must be between 2 and channels={s.channels}"))
    elif layer.size > min(s.height, s.width):
        out.append(Problem("size", "shape", f"size={layer.size} is larger than the {s.height}x{s.width} image"))
    return Result(s)


def _details(layer) -> list[str]:
    return [f"size {layer.size}" + (f" / scale {layer.scale:g}" if layer.scale else "")
            + (f" / pow {layer.pow:g}" if layer.pow else "")]


class _Norm(Layer, NeuronMixin, NormParams):
    channels: int = Field(gt=0)
    size: int = Field(gt=0)
    blocked: bool = False  # cuda-convnet reads it on every norm layer (NormLayerParser)


@register("cmrnorm", arity=ONE, shape=_norm, params=NORM_PARAMS_KEYS,
          drawing=Drawing("#7FC8F8", _details, lambda layer: f"LRN (n={layer.size})"),
          examples=[Example("type=cmrnorm\ninputs=in0\nchannels=16\nsize=5", (Shape(16, 8, 8),), "8x8x16")])
class CrossMapNormLayer(_Norm):
    type: Literal["cmrnorm"]


@register("rnorm", arity=ONE, shape=_norm, params=NORM_PARAMS_KEYS,
          drawing=Drawing("#7FC8F8", _details,
                          lambda layer: f"local response normalisation ({layer.size}x{layer.size})"),
          examples=[Example("type=rnorm\ninputs=in0\nchannels=16\nsize=3", (Shape(16, 8, 8),), "8x8x16")])
class ResponseNormLayer(_Norm):
    type: Literal["rnorm"]


@register("cnorm", arity=ONE, shape=_norm, params=NORM_PARAMS_KEYS,
          drawing=Drawing("#A6D8FA", _details,
                          lambda layer: f"contrast normalisation ({layer.size}x{layer.size})"),
          examples=[Example("type=cnorm\ninputs=in0\nchannels=3\nsize=3", (Shape(3, 8, 8),), "8x8x3")])
class ContrastNormLayer(_Norm):
    type: Literal["cnorm"]
