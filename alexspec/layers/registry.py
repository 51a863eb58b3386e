"""The layer-type registry: each family file registers its types where it defines them.

`@register(...)` on an IR model (as Caffe's REGISTER_LAYER_CLASS and timm's @register_model)
records, per `type=` value, everything the front end needs: the model and its keys, how many
inputs it takes, its shape rule (output, parameters, multiply-adds), which keys the layer params
file may set, how it is drawn, and an example that tests/test_registry.py checks and draws. A
missing piece is a TypeError at import: there is no central table and no fallback.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Callable

from alexspec.shapes import Problem, Result, Shape

ShapeRule = Callable[[typing.Any, tuple[Shape, ...], list[Problem]], "Result | None"]

ONE = (1, 1)
ANY = (1, None)  # one or more
NO_INPUTS = (0, 0)


@dataclass(frozen=True)
class Drawing:
    """How a type is drawn: its fill colour in the layer graph, the lines that define it there
    (Caffe draw_net style) and the text it leaves on a Figure 2 link when collapsed."""

    colour: str
    details: Callable[[typing.Any], list[str]]
    annotation: Callable[[typing.Any], str]


@dataclass(frozen=True)
class Example:
    """A minimal section of the type (`inputs=` names `in0`, `in1`, ...), the shapes of those
    inputs, and the output its shape rule must give (as `Shape` prints it)."""

    section: str
    inputs: tuple[Shape, ...]
    output: str


@dataclass(frozen=True)
class LayerKind:
    """Everything about one `type=` value."""

    type: str
    model: type
    arity: tuple[int, int | None]  # (min, max) inputs; None = no upper bound
    shape: ShapeRule
    drawing: Drawing
    examples: tuple[Example, ...]
    params_keys: frozenset[str] = field(default_factory=frozenset)  # attributes a params file may set
    weights: bool = False  # a weight layer (conv, local, fc, sfc): a Figure 2 stage, learning rules

    def describe_arity(self) -> str:
        """'no inputs', 'exactly one input', 'two inputs' or 'at least N input(s)'."""
        lo, hi = self.arity
        return {(0, 0): "no inputs", (1, 1): "exactly one input", (2, 2): "two inputs"}.get(
            (lo, hi), f"at least {lo} input{'s' if lo > 1 else ''}")


_KINDS: dict[str, LayerKind] = {}


def _types_of(model: type) -> tuple[str, ...]:
    ann = model.model_fields["type"].annotation
    return tuple(typing.get_args(ann))


def register(*types: str, arity: tuple[int, int | None], shape: ShapeRule, drawing: Drawing,
             examples: tuple[Example, ...] | list[Example], params: frozenset[str] | tuple[str, ...] = (),
             weights: bool = False):
    """Class decorator: register an IR model for each of `types` (its `type` Literal's values).

    Raises TypeError at import when a piece is missing or the types disagree with the model.
    """

    def wrap(model: type) -> type:
        declared = _types_of(model)
        if set(declared) != set(types):
            raise TypeError(f"{model.__name__}: type Literal {declared} != registered {types}")
        for t in types:
            if not callable(shape):
                raise TypeError(f"layer type {t!r} has no shape rule")
            if not isinstance(drawing, Drawing) or not callable(drawing.details) \
                    or not callable(drawing.annotation) or not drawing.colour:
                raise TypeError(f"layer type {t!r} has no drawing")
            mine = [e for e in examples if f"type={t}\n" in e.section + "\n"]
            if not mine:
                raise TypeError(f"layer type {t!r} has no example")
            unknown = set(params) - set(model.model_fields)
            if unknown:
                raise TypeError(f"layer type {t!r}: params keys {sorted(unknown)} are not fields")
            if t in _KINDS:
                raise TypeError(f"layer type {t!r} is registered twice")
            _KINDS[t] = LayerKind(t, model, arity, shape, drawing, tuple(mine), frozenset(params), weights)
        return model

    return wrap


def kinds() -> dict[str, LayerKind]:
    """`type=` value -> LayerKind, in registration order."""
    return dict(_KINDS)
