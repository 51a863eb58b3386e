"""The layer registry: which IR layer types the compiler lowers, and to what module.

`module_for(node)` makes the torch module of one checked node; `unsupported(node)` says, as a
located Diagnostic, why a node cannot be lowered (a type or key the compiler does not do yet).
Data layers and the cost layer are not modules: the compiled model feeds and evaluates them.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

from torch import nn

from alexspec.compiler.layers.conv import Conv, Local
from alexspec.compiler.layers.fc import FullyConnected
from alexspec.compiler.layers.norm import ContrastNorm, CrossMapNorm, ResponseNorm
from alexspec.compiler.layers.pool import Pool
from alexspec.compiler.layers.simple import Concat, Dropout, EltMax, EltSum, NeuronOnly, Softmax
from alexspec.errors import Diagnostic
from alexspec.ir import AnyLayer
from alexspec.net import Node

Maker = Callable[[Node], nn.Module]

MAKERS: dict[str, Maker] = {
    "conv": lambda n: Conv(n.layer, n.input_shapes, n.output),
    "local": lambda n: Local(n.layer, n.input_shapes, n.output),
    "fc": lambda n: FullyConnected(n.layer, n.input_shapes, n.output),
    "pool": lambda n: Pool(n.layer, n.input_shapes[0], n.output),
    "cmrnorm": lambda n: CrossMapNorm(n.layer),
    "rnorm": lambda n: ResponseNorm(n.layer),
    "cnorm": lambda n: ContrastNorm(n.layer, n.output.height, n.output.width),
    "neuron": lambda n: NeuronOnly(n.layer.neuron),
    "softmax": lambda n: Softmax(),
    "dropout": lambda n: Dropout(n.layer),
    "dropout2": lambda n: Dropout(n.layer),
    "concat": lambda n: Concat(n.layer, n.output),
    "pass": lambda n: Concat(n.layer, n.output),
    "eltsum": lambda n: EltSum(n.layer, len(n.layer.inputs)),
    "eltmax": lambda n: EltMax(n.layer),
}
# Handled by the compiled model itself rather than by a module.
FED = ("data",)
COSTS = ("cost.logreg",)
LOWERED = frozenset(MAKERS) | frozenset(FED) | frozenset(COSTS)


def all_ir_types() -> list[str]:
    """Every `type=` value the IR knows (from the `AnyLayer` union)."""
    union = typing.get_args(AnyLayer)[0]
    out: list[str] = []
    for model in typing.get_args(union):
        out.extend(typing.get_args(model.model_fields["type"].annotation))
    return out


def unsupported(node: Node) -> Diagnostic | None:
    """Why this node cannot be lowered, or None when it can."""
    layer = node.layer
    name = layer.name

    def diag(field: str, what: str, hint: str | None = None) -> Diagnostic:
        return Diagnostic(layer.where(field), "unsupported", f"layer {name!r}: {what}", hint)

    if layer.type not in LOWERED:
        return diag("type", f"type {layer.type!r} is not supported by the compiler yet",
                    "supported: " + ", ".join(sorted(LOWERED)))
    if getattr(layer, "pool", None) == "maxabs":
        return diag("pool", "pool=maxabs is not supported by the compiler yet", "use max or avg")
    if layer.type == "rnorm" and layer.blocked:
        return diag("blocked", "blocked=true is not supported for rnorm yet")
    if layer.type in ("cmrnorm", "rnorm", "cnorm"):
        for key, value in (("scale", layer.scale), ("pow", layer.pow)):
            if value is None:
                return diag("type", f"{key} is required for {layer.type} (layer params)")
    for key, attr in (("initWFunc", "init_w_func"), ("initBFunc", "init_b_func"),
                      ("initCFunc", "init_c_func")):
        if getattr(layer, attr, None):
            return diag(key, f"{key} is not supported by the compiler yet")
    if any(getattr(layer, "weight_source", ())):
        return diag("weightSource", "weightSource (weight sharing) is not supported by the compiler yet")
    if any(getattr(layer, "rand_sparse", ())):
        return diag("randSparse", "randSparse=true is not supported by the compiler yet")
    if layer.type in ("conv", "local"):
        for i, fc in enumerate(layer.filter_channels):
            ch, g = node.input_shapes[i].channels, (layer.groups[i] if i < len(layer.groups)
                                                     else (layer.groups or (1,))[0])
            if fc != ch // g:
                return diag("filterChannels", f"filterChannels={fc} (sparse connectivity) is not "
                            f"supported yet; only channels/groups = {ch // g}")
    return None


def module_for(node: Node) -> nn.Module:
    """The torch module computing `node` (on the CPU, parameters uninitialised)."""
    return MAKERS[node.type](node)
