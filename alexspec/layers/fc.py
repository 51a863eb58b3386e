"""Fully connected layers: `fc`, and `sfc` (cuda-convnet2's block-sparse fc: `parts` blocks, each
output block reading one input block)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alexspec.layers.base import WEIGHT_PARAMS_KEYS, CodeHooks, Finite, Layer, NeuronMixin, WeightParams
from alexspec.layers.registry import ANY, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape


def fully_connected(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    """outputs x inputs weights (divided by `parts` for sfc) plus one bias per output."""
    parts = getattr(layer, "parts", 1)
    if layer.outputs % parts:
        out.append(Problem("parts", "divisibility", f"parts={parts} does not divide outputs={layer.outputs}"))
        return None
    weights = 0
    for i, s in enumerate(ins):
        if s.numel % parts:
            out.append(Problem("parts", "divisibility",
                               f"parts={parts} does not divide the {s.numel} inputs of {layer.inputs[i]!r}"))
            return None
        weights += s.numel * layer.outputs // parts
    return Result(Shape(layer.outputs), weights + layer.outputs, weights)


def _details(layer) -> list[str]:
    return [f"outputs {layer.outputs}" + (f" / {layer.parts} parts" if getattr(layer, "parts", 1) > 1 else "")]


class _Dense(Layer, NeuronMixin, WeightParams, CodeHooks):
    outputs: int = Field(gt=0)
    init_w: tuple[Finite, ...] = Field((), alias="initW")
    init_b: float = Field(0.0, alias="initB", allow_inf_nan=False)


@register("fc", arity=ANY, shape=fully_connected, weights=True, params=WEIGHT_PARAMS_KEYS,
          drawing=Drawing("#CC33FF", _details, lambda layer: "fc"),
          examples=[Example("type=fc\ninputs=in0,in1\noutputs=10", (Shape(16, 2, 2), Shape(8)), "10")])
class FcLayer(_Dense):
    type: Literal["fc"]


@register("sfc", arity=ANY, shape=fully_connected, weights=True, params=WEIGHT_PARAMS_KEYS,
          drawing=Drawing("#DD77FF", _details, lambda layer: "sparse fc"),
          examples=[Example("type=sfc\ninputs=in0\noutputs=16\nparts=4", (Shape(16, 2, 2),), "16")])
class SfcLayer(_Dense):
    type: Literal["sfc"]
    parts: int = Field(gt=0)
