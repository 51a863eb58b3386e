"""One file per layer family: each holds its types' IR models, keys, arity, shape rules,
parameter and multiply-add counts and drawing, registered where they are defined
(`registry.register`). Importing this package imports every family module in it, so adding a
type is adding (or editing) one file here; see docs/architecture.md, "How to add a layer type".
"""

from __future__ import annotations

import importlib
import pkgutil

from alexspec.layers.registry import Drawing, Example, LayerKind, kinds

_NOT_FAMILIES = {"base", "registry"}

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m not in _NOT_FAMILIES:
        importlib.import_module(f"{__name__}.{_m}")


def kind_of(type_: str) -> LayerKind:
    """The registered kind of a `type=` value (KeyError for a type no family registers)."""
    return kinds()[type_]


def models() -> tuple[type, ...]:
    """Each registered IR model once, in registration order."""
    return tuple(dict.fromkeys(k.model for k in kinds().values()))


__all__ = ["Drawing", "Example", "LayerKind", "kind_of", "kinds", "models"]
