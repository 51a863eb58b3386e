"""What the compiler refuses to lower, as located reasons. Torch-free: `check` reads it too.

The compiler registers a lowering for every IR type (compiler/layers/registry.py); what it
cannot do is a key or a combination of keys, listed here as rules `layer -> Refusal | None`.
Each refusal names the field whose value it is about, so the error points at that value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from alexspec import ir
from alexspec.errors import Diagnostic


@dataclass(frozen=True)
class Refusal:
    field: str  # the layer key the reason is about ("type" for the whole layer)
    message: str
    hint: str | None = None


Rule = Callable[[ir.Layer], Refusal | None]
RULES: list[tuple[frozenset[str] | None, Rule, bool]] = []  # (types, rule, also at check time)
# Types the compiler has no lowering for, with the reason (empty: every IR type is lowered).
TYPE_REFUSALS: dict[str, str] = {}


def refuses(*types: str, at_check: bool = False) -> Callable[[Rule], Rule]:
    """Register a refusal rule for `types` (all types when none are given). `at_check`: `check`
    reports it too (rules that do not depend on a params file the user may give later)."""
    def deco(rule: Rule) -> Rule:
        RULES.append((frozenset(types) or None, rule, at_check))
        return rule
    return deco


def refusal(layer: ir.Layer, *, at_check: bool = False) -> Diagnostic | None:
    """Why the compiler cannot lower `layer`, located at the value concerned; None if it can.
    `at_check=True`: only the refusals `check` reports."""
    if layer.type in TYPE_REFUSALS:
        return _diag(layer, Refusal("type", f"type {layer.type!r} is not supported by the compiler: "
                                    + TYPE_REFUSALS[layer.type]))
    for types, rule, checked in RULES:
        if (types is None or layer.type in types) and (checked or not at_check):
            r = rule(layer)
            if r is not None:
                return _diag(layer, r)
    return None


def second_image(layer: ir.DataLayer) -> Diagnostic:
    """The refusal of a data layer that feeds images other than dataIdx=0 (cuda-convnet2's second
    image input: dataIdx >= 2 with channels=, its own or a reader's). It depends on the readers,
    so it is no per-layer rule: `check` finds it and reports it as a warning (cuda-convnet2 read
    such files), the compiler refuses the net with this same diagnostic as an error (`as_error`)."""
    r = Refusal("dataIdx", f"a second image input (dataIdx={layer.data_idx}) is not supported by the "
                "compiler: its data providers give each example one image (dataIdx=0) and one label "
                "(dataIdx=1)", "alexspec check accepts the file as cuda-convnet2 read it; to train it "
                "here, feed the net from the dataIdx=0 images only")
    return replace(_diag(layer, r), severity="warning")


def net_refusals(layers: tuple[ir.Layer, ...] | list[ir.Layer], labels: set[str]) -> list[Diagnostic]:
    """What the compiler refuses about the net as a whole, as warnings `check` reports (the files
    are valid cuda-convnet) and the compiler raises as errors (`refused_at_check`): no image data
    layer (dataIdx=0), a second cost layer (cuda-convnet summed its costs; the compiler returns
    one output), a label layer (`labels`: the data layers check shaped as 1-number vectors) read
    by a layer that is not a cost."""
    out: list[Diagnostic] = []
    data = [x for x in layers if x.type == "data"]
    if layers and not any(x.data_idx == 0 for x in data):
        first = data[0] if data else layers[0]
        out.append(_diag(first, Refusal("dataIdx" if data else "type", "the compiler needs a data "
                                        "layer with dataIdx=0 (the images) and the net has none",
                                        "add a [data] section with type=data and dataIdx=0")))
    costs = [x for x in layers if x.type.startswith("cost.")]
    if len(costs) > 1:
        out.append(_diag(costs[1], Refusal("type", f"a second cost layer is not supported by the "
                                           f"compiler (its model returns one output, the input of "
                                           f"{costs[0].name!r})", "keep one cost layer to train here")))
    for reader in layers:
        if reader.type.startswith("cost.") or reader.type == "data":
            continue
        read = [i for i in reader.inputs if i in labels]
        if read:
            idx = next(x.data_idx for x in data if x.name == read[0])
            out.append(_diag(reader, Refusal("inputs", f"reading the label layer {read[0]!r} "
                                             f"(dataIdx={idx}) outside a cost layer is not "
                                             "supported by the compiler",
                                             "only cost layers read the labels")))
    return [replace(d, severity="warning") for d in out]


def refused_at_check(warnings: tuple[Diagnostic, ...] | list[Diagnostic]) -> list[Diagnostic]:
    """The warnings of `check` that say what the compiler will refuse, as the compiler's errors."""
    return [replace(d, severity="error") for d in warnings if d.code == "unsupported"]


def _diag(layer: ir.Layer, r: Refusal) -> Diagnostic:
    return Diagnostic(layer.where(r.field), "unsupported", f"layer {layer.name!r}: {r.message}", r.hint)


@refuses()
def _code_hooks(layer: ir.Layer) -> Refusal | None:
    for key, attr in (("initWFunc", "init_w_func"), ("initBFunc", "init_b_func"),
                      ("initCFunc", "init_c_func")):
        if getattr(layer, attr, None):
            return Refusal(key, f"{key} (initialisation by Python code) is not supported by the "
                           "compiler", "remove it: initW/initB give the Gaussian/constant init")
    return None


@refuses("cmpool", at_check=True)
def _cmpool_kind(layer: ir.CrossMapPoolLayer) -> Refusal | None:
    if layer.pool != "max":
        return Refusal("pool", f"pool={layer.pool} is not supported by the compiler for cmpool: "
                       "cuda-convnet2 cross-map pools only with max (layer.py: "
                       "verify_str_in(pool, ['max']))", "use pool=max")
    return None


@refuses("conv", "local", at_check=True)
def _sparse(layer: ir.ConvLayer | ir.LocalLayer) -> Refusal | None:
    n = len(layer.inputs)
    sparse = _per_input(layer.rand_sparse, n, False)
    fcs = _per_input(layer.filter_channels, n, 0)
    for i in range(n):
        c, g = _per_input(layer.channels, n, 1)[i], _per_input(layer.groups, n, 1)[i]
        fc = fcs[i] or c // g
        if not sparse[i]:
            if fc != c // g:
                return Refusal("filterChannels", f"filterChannels={fc} on input {i} needs "
                               "randSparse=true (dense groups read channels/groups = "
                               f"{c // g} channels)", "set randSparse=true or drop filterChannels")
            continue
        if g == 1 or c % fc or (g * fc) % c:
            return Refusal("randSparse", f"randSparse on input {i} needs groups > 1, filterChannels "
                           f"dividing channels and channels dividing groups*filterChannels (got "
                           f"groups={g}, channels={c}, filterChannels={fc}; cuda-convnet layer.py)")
    return None


def _per_input(values: tuple, n: int, default):
    if not values:
        return (default,) * n
    return tuple(values) if len(values) == n else (values[0],) * n


@refuses("cmrnorm", "rnorm", "cnorm")
def _norm_constants(layer) -> Refusal | None:
    for key in ("scale", "pow"):
        if getattr(layer, key) is None:
            return Refusal("type", f"{key} is required for {layer.type} (layer params)",
                           f"add {key}= to the layer's section of the layer params file")
    return None
