"""The `neuron` layer: an elementwise activation (the table of activations is
`base.NEURON_PARAMS`; `neuron=` on any layer with inputs applies one to its output, as
cuda-convnet's detach_neuron_layers did)."""

from __future__ import annotations

from typing import Literal

from alexspec.layers.base import Layer, Neuron
from alexspec.layers.registry import ONE, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape


def neuron_text(neuron: Neuron) -> str:
    """'ReLU' for relu, else the spec's own spelling (tanh[1.7159,0.6666])."""
    return "ReLU" if neuron.kind == "relu" else str(neuron)


def elementwise(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    """The output is the input's shape."""
    return Result(ins[0])


@register("neuron", arity=ONE, shape=elementwise,
          drawing=Drawing("#90EE90", lambda layer: [str(layer.neuron)], lambda layer: neuron_text(layer.neuron)),
          examples=[Example("type=neuron\ninputs=in0\nneuron=tanh[1.7159,0.6666]", (Shape(8, 4, 4),), "4x4x8")])
class NeuronLayer(Layer):
    type: Literal["neuron"]
    neuron: Neuron
