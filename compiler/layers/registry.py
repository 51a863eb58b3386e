"""The lowering registry: each family file registers the types it lowers where it defines them.

    @lowers("pool")
    def _pool(node: Node) -> nn.Module: ...

    @lowers_cost("cost.logreg")
    def _logreg(layer: CostLayer) -> CostFn: ...

A type with no lowering is refused with the located reason of `alexspec.support` (a torch-free
table that `check` reads too); there is no fallback. `tests/test_compiler_registry.py` walks every
type of the IR's union and fails when one has neither a lowering nor a refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from alexspec.net import Node

Maker = Callable[[Node], nn.Module]


@dataclass(frozen=True)
class Lowering:
    """How one IR type is lowered: `make` builds its module; `kind` says who runs it."""

    type: str
    make: Maker | None  # None for layers the compiled model feeds or evaluates itself
    kind: str  # "module" | "data" | "cost"
    origin: str  # module.function that registered it (for messages)


LOWERINGS: dict[str, Lowering] = {}
COST_LOWERINGS: dict[str, Callable] = {}


def _register(types: tuple[str, ...], fn: Callable, kind: str, make: Maker | None) -> None:
    origin = f"{fn.__module__}.{fn.__qualname__}"
    for t in types:
        if t in LOWERINGS:
            raise RuntimeError(f"type {t!r} is lowered twice: {LOWERINGS[t].origin} and {origin}")
        LOWERINGS[t] = Lowering(t, make, kind, origin)


def lowers(*types: str) -> Callable[[Maker], Maker]:
    """Register `fn(node) -> nn.Module` as the lowering of `types`."""
    def deco(fn: Maker) -> Maker:
        _register(types, fn, "module", fn)
        return fn
    return deco


def fed(*types: str) -> Callable[[Callable], Callable]:
    """Register a marker for types the compiled model feeds itself (data layers)."""
    def deco(fn: Callable) -> Callable:
        _register(types, fn, "data", None)
        return fn
    return deco


def lowers_cost(*types: str) -> Callable[[Callable], Callable]:
    """Register `fn(layer) -> cost function` for cost layer `types` (evaluated by CompiledNet.cost)."""
    def deco(fn: Callable) -> Callable:
        _register(types, fn, "cost", None)
        for t in types:
            COST_LOWERINGS[t] = fn
        return fn
    return deco


def lowering(layer_type: str) -> Lowering | None:
    """The registered lowering of `layer_type`, or None."""
    return LOWERINGS.get(layer_type)
