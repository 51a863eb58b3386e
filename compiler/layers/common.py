"""Small helpers shared by the layer modules."""

from __future__ import annotations

from typing import Sequence, TypeVar

from torch import Tensor, nn

from alexspec.compiler.layers.neurons import Activation
from alexspec.ir import Neuron

T = TypeVar("T")


def pick(values: Sequence[T], i: int, default: T) -> T:
    """Entry `i` of a per-input tuple: broadcast a single value, default when empty."""
    if not values:
        return default
    return values[i] if len(values) > i else values[0]


class WeightLayer(nn.Module):
    """Base of layers with weights: `weights` (one per input), `bias`, and their init values.

    Build initialises every WeightLayer the same way: weight i ~ N(0, init_w[i]^2), bias = init_b.
    """

    weights: nn.ParameterList
    bias: nn.Parameter
    init_w: tuple[float, ...]
    init_b: float


def maybe_neuron(neuron: Neuron | None, inplace: bool) -> nn.Module | None:
    if neuron is None or neuron.kind == "ident":
        return None
    return Activation(neuron, inplace=inplace)


def apply(act: nn.Module | None, x: Tensor) -> Tensor:
    return x if act is None else act(x)
