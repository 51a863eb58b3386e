"""The compiler's layers: each family file registers its lowerings where it defines them.

`module_for(node)` makes the torch module of one checked node; `unsupported(node)` says, as a
located Diagnostic, why a node cannot be lowered (alexspec/support.py's torch-free refusals, or
a type nobody registered). Data layers and cost layers are not modules: the compiled model feeds
and evaluates them (`cost_for`).
"""

from __future__ import annotations

import typing

from torch import nn

# Importing the family files registers their lowerings (compiler/layers/registry.py).
from alexspec.compiler.layers import conv, cost, fc, image, norm, pool, simple  # noqa: F401
from alexspec.compiler.layers.cost import Cost, CostFn
from alexspec.compiler.layers.registry import COST_LOWERINGS, LOWERINGS, lowering
from alexspec.errors import Diagnostic
from alexspec.ir import AnyLayer, CostLayer
from alexspec.net import Node
from alexspec.support import refusal

FED = tuple(t for t, low in LOWERINGS.items() if low.kind == "data")
COSTS = tuple(t for t, low in LOWERINGS.items() if low.kind == "cost")
LOWERED = frozenset(LOWERINGS)


def all_ir_types() -> list[str]:
    """Every `type=` value the IR knows (from the `AnyLayer` union, not from the registry)."""
    union = typing.get_args(AnyLayer)[0]
    out: list[str] = []
    for model in typing.get_args(union):
        out.extend(typing.get_args(model.model_fields["type"].annotation))
    return out


def unsupported(node: Node) -> Diagnostic | None:
    """Why this node cannot be lowered, or None when it can."""
    layer = node.layer
    if lowering(layer.type) is None:
        return Diagnostic(layer.where("type"), "unsupported",
                          f"layer {layer.name!r}: type {layer.type!r} is not supported by the "
                          "compiler (no lowering is registered for it)",
                          "supported: " + ", ".join(sorted(LOWERINGS)))
    return refusal(layer)


def module_for(node: Node) -> nn.Module:
    """The torch module computing `node` (on the CPU, parameters uninitialised)."""
    low = lowering(node.type)
    if low is None or low.make is None:
        raise ValueError(f"layer {node.name!r}: type {node.type!r} has no module lowering")
    return low.make(node)


def cost_for(layer: CostLayer) -> CostFn:
    """The function `(model output, labels) -> Cost` of a cost layer."""
    return COST_LOWERINGS[layer.type](layer)


__all__ = ["COSTS", "FED", "LOWERED", "Cost", "CostFn", "all_ir_types", "cost_for", "module_for",
           "unsupported"]
