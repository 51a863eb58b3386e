"""The data layer: cuda-convnet's `type=data`, one matrix of the data provider (`dataIdx`).

Its shape is set by check.py (the image size is a run setting, not a key): `dataIdx=0` is the
image, a layer with `channels=` is an image input too (cuda-convnet2's second image input,
`dataIdx` >= 2), every other one a 1-number label.
"""

from __future__ import annotations

from pydantic import Field
from typing import Literal

from alexspec.layers.base import Layer
from alexspec.layers.registry import NO_INPUTS, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape


def _no_rule(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    raise TypeError("a data layer's shape comes from the run settings (check.py), not its inputs")


@register("data", arity=NO_INPUTS, shape=_no_rule,
          drawing=Drawing("#D9D9D9", lambda layer: [f"dataIdx {layer.data_idx}"],
                          lambda layer: f"data {layer.data_idx}"),
          examples=[Example("type=data\ndataIdx=0\nchannels=3", (), "")])
class DataLayer(Layer):
    type: Literal["data"]
    data_idx: int = Field(alias="dataIdx", ge=0)
    start: int = Field(0, ge=0)
    end: int | None = Field(None, ge=0)
    channels: int | None = Field(None, gt=0)  # image channels (else from consumers, else 3)
