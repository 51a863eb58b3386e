"""The keys each layer type accepts, read off the pydantic models in `alexspec.ir`.

`validate` and `expand` both need to know, for a `type=` value, which keys exist (by their
case-insensitive cuda-convnet spelling), which take a comma list, which of those have one entry
per input (and so broadcast), and which hold a schedule or a neuron. The table is built once from
the models, so a key added to the IR is accepted everywhere without a second list to keep in step.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel

from alexspec import ir
from alexspec.layers import kinds

# Tuple fields that are not one entry per input (cuda-convnet does not broadcast them).
_NOT_PER_INPUT = {"inputs", "gpu", "weight_source", "children"}
# Fields set by validate itself, never by a key.
_INTERNAL = {"name", "span", "spans"}
# The keys that name Python code to run (refused unless allow_code).
CODE_HOOKS = ("initwfunc", "initbfunc", "initcfunc")
# Keys of the compact-split extension, consumed by expand before validation.
SPLIT_KEYS = ("columns", "connect")


@dataclass(frozen=True)
class FieldSpec:
    """One key of one layer type."""

    name: str  # attribute name (snake_case)
    key: str  # the key as cuda-convnet spells it (the alias)
    is_list: bool  # a comma list in the file
    per_input: bool  # one entry per input, a single value broadcast
    element: str  # "schedule" | "neuron" | "plain"
    required: bool


def _unwrap_optional(ann: object) -> object:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann


def _element_kind(ann: object) -> str:
    if ann is ir.Schedule:
        return "schedule"
    if ann is ir.Neuron:
        return "neuron"
    return "plain"


def _fields_of(model: type[BaseModel]) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        if name in _INTERNAL:
            continue
        ann = _unwrap_optional(info.annotation)
        is_list = typing.get_origin(ann) is tuple
        elem = typing.get_args(ann)[0] if is_list else ann
        key = info.alias or name
        out[key.lower()] = FieldSpec(
            name=name, key=key, is_list=is_list,
            per_input=is_list and name not in _NOT_PER_INPUT,
            element=_element_kind(_unwrap_optional(elem)), required=info.is_required(),
        )
    return out


@lru_cache(maxsize=1)
def layer_models() -> dict[str, type[ir.Layer]]:
    """`type=` value -> its model, for every layer type the IR knows."""
    return {t: k.model for t, k in kinds().items()}


@lru_cache(maxsize=None)
def layer_fields(type_: str) -> dict[str, FieldSpec]:
    """Lower-cased key -> FieldSpec for one layer type (`type` itself included)."""
    return _fields_of(layer_models()[type_])


@lru_cache(maxsize=1)
def settings_fields() -> dict[str, FieldSpec]:
    """Lower-cased key -> FieldSpec of the `type=net` section."""
    return _fields_of(ir.RunSettings)
