"""Cost layers (the sinks): cost.logreg (labels, softmax), cost.crossent (labels, probabilities),
cost.bce and cost.dce (cuda-convnet2's binary / detection cross-entropy: labels, predictions),
cost.sum2 (sum of squares of one input). `coeff` and `topk` come from the layer params file;
`children` names cuda-convnet2's composite-cost members (recorded, not evaluated separately).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alexspec.layers.base import Layer, NeuronMixin
from alexspec.layers.registry import ONE, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape

_DRAWING = Drawing("#F2D16B", lambda layer: [f"coeff {layer.coeff:g} / top-{layer.topk}"], lambda layer: layer.type)


def _scalar(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    """A cost is one number per batch."""
    return Result(Shape(1))


class _Cost(Layer, NeuronMixin):
    """Keys of every cost type."""

    coeff: float = Field(1.0, allow_inf_nan=False)
    topk: int = Field(1, ge=1)
    children: tuple[str, ...] = ()


@register("cost.logreg", "cost.crossent", "cost.bce", "cost.dce", arity=(2, 2), shape=_scalar,
          params=("coeff", "topk"), drawing=_DRAWING,
          examples=[Example(f"type={t}\ninputs=in0,in1", (Shape(1), Shape(10)), "1")
                    for t in ("cost.logreg", "cost.crossent", "cost.bce", "cost.dce")])
class CostLayer(_Cost):
    type: Literal["cost.logreg", "cost.crossent", "cost.bce", "cost.dce"]


@register("cost.sum2", arity=ONE, shape=_scalar, params=("coeff",), drawing=_DRAWING,
          examples=[Example("type=cost.sum2\ninputs=in0", (Shape(10),), "1")])
class SumOfSquaresCostLayer(CostLayer):
    type: Literal["cost.sum2"]  # type: ignore[assignment]
