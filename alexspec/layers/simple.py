"""Layers without weights that combine or pass their inputs: eltsum, eltmax, concat/pass, sum,
softmax, dropout/dropout2."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alexspec.layers.base import Finite, Layer, NeuronMixin
from alexspec.layers.neuron import elementwise
from alexspec.layers.registry import ANY, ONE, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape

_MERGE = "#C6E2FF"


def _same_numel(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    if len({s.numel for s in ins}) > 1:
        out.append(Problem("inputs", "shape", "inputs must have equal sizes, got " + ", ".join(map(str, ins))))
        return None
    return Result(ins[0])


def _concat(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    if all(s.is_image for s in ins) and len({(s.height, s.width) for s in ins}) == 1:
        return Result(Shape(sum(s.channels for s in ins), ins[0].height, ins[0].width))
    return Result(Shape(sum(s.numel for s in ins)))


def _sum(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = ins[0]
    if s.channels % layer.stride:
        out.append(Problem("stride", "divisibility", f"stride={layer.stride} does not divide {s.channels} channels"))
        return None
    return Result(Shape(s.channels // layer.stride, s.height, s.width))


def _none(layer) -> list[str]:
    return []


@register("eltsum", arity=ANY, shape=_same_numel, params=("coeffs",),
          drawing=Drawing(_MERGE, _none, lambda layer: "sum"),
          examples=[Example("type=eltsum\ninputs=in0,in1\ncoeffs=1,0.5", (Shape(8, 4, 4), Shape(8, 4, 4)), "4x4x8")])
class EltSumLayer(Layer, NeuronMixin):
    type: Literal["eltsum"]
    coeffs: tuple[Finite, ...] = ()


@register("eltmax", arity=(2, None), shape=_same_numel, drawing=Drawing(_MERGE, _none, lambda layer: "max"),
          examples=[Example("type=eltmax\ninputs=in0,in1", (Shape(8, 4, 4), Shape(8, 4, 4)), "4x4x8")])
class EltMaxLayer(Layer, NeuronMixin):
    type: Literal["eltmax"]


@register("concat", "pass", arity=ANY, shape=_concat, drawing=Drawing(_MERGE, _none, lambda layer: layer.type),
          examples=[Example("type=concat\ninputs=in0,in1", (Shape(8, 4, 4), Shape(4, 4, 4)), "4x4x12"),
                    Example("type=pass\ninputs=in0", (Shape(10),), "10")])
class ConcatLayer(Layer, NeuronMixin):
    type: Literal["concat", "pass"]


@register("sum", arity=ONE, shape=_sum, drawing=Drawing(_MERGE, _none, lambda layer: "channel sum"),
          examples=[Example("type=sum\ninputs=in0\nstride=4", (Shape(16, 4, 4),), "4x4x4")])
class SumLayer(Layer, NeuronMixin):
    type: Literal["sum"]
    stride: int = Field(1, gt=0)


@register("softmax", arity=ONE, shape=elementwise, drawing=Drawing("#FFE680", _none, lambda layer: "softmax"),
          examples=[Example("type=softmax\ninputs=in0", (Shape(10),), "10")])
class SoftmaxLayer(Layer, NeuronMixin):
    type: Literal["softmax"]


@register("dropout", "dropout2", arity=ONE, shape=elementwise, params=("enable", "keep"),
          drawing=Drawing("#B5E8B5", lambda layer: [f"keep {layer.keep:g}"],
                          lambda layer: f"dropout {1 - layer.keep:g}"),
          examples=[Example("type=dropout\ninputs=in0", (Shape(100),), "100"),
                    Example("type=dropout2\ninputs=in0\nkeep=0.8", (Shape(100),), "100")])
class DropoutLayer(Layer, NeuronMixin):
    """`dropout` is inverted (x/keep at train time); `dropout2` scales by keep at test time."""

    type: Literal["dropout", "dropout2"]
    enable: bool = True
    keep: float = Field(0.5, gt=0, le=1)
