"""Filter layers: `conv` (shared weights) and `local` (unshared, one filter bank per position).

cuda-convnet's rules (LocalLayerParser in layer.py): `filters` counts filters per group, so the
output has filters x groups channels; channels at most 3 or a multiple of 4; filters a multiple
of 16; groups divide channels. With `randSparse`, each filter reads `filterChannels` channels
chosen at random (groups > 1, filterChannels divides channels and is a multiple of 4, groups x
filterChannels a multiple of channels), so a filter has filterChannels x filterSize^2 weights.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alexspec.layers.base import WEIGHT_PARAMS_KEYS, CodeHooks, Finite, Layer, NeuronMixin, WeightParams
from alexspec.layers.registry import ANY, Drawing, Example, register
from alexspec.shapes import Problem, Result, Shape, as_image, window


def _fan_in(layer, i: int, c: int, g: int, out: list[Problem]) -> int | None:
    """Input channels one filter of input i reads, after cuda-convnet's divisibility rules."""
    sparse = bool(layer.rand_sparse) and layer.rand_sparse[i]
    if not sparse:
        if c % g:
            out.append(Problem("groups", "divisibility", f"groups={g} does not divide channels={c}", index=i))
            return None
        return c // g
    fc = layer.filter_channels[i] if layer.filter_channels else c // g
    bad = len(out)
    if g == 1:
        out.append(Problem("groups", "divisibility", "randSparse needs groups > 1 (cuda-convnet's rule)", index=i))
    if c % fc:
        out.append(Problem("filterChannels", "divisibility", f"filterChannels={fc} does not divide channels={c}",
                           index=i))
    if fc % 4:
        out.append(Problem("filterChannels", "divisibility", f"filterChannels={fc} must be a multiple of 4",
                           index=i))
    if (g * fc) % c:
        out.append(Problem("filterChannels", "divisibility",
                           f"groups x filterChannels = {g * fc} must be a multiple of channels={c}", index=i))
    return None if len(out) > bad else fc


def filtered(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    """Output, parameters and multiply-adds of a conv or local layer."""
    bad = len(out)
    sizes, weights, macs_per_pixel = [], 0, 0
    n_out = layer.filters[0] * layer.groups[0]
    if len(set(f * g for f, g in zip(layer.filters, layer.groups))) > 1:
        out.append(Problem("filters", "shape", "every input must give the same number of filters "
                           f"(filters x groups = {[f * g for f, g in zip(layer.filters, layer.groups)]})"))
    for i, s in enumerate(ins):
        c, f, g, k = layer.channels[i], layer.filters[i], layer.groups[i], layer.filter_size[i]
        img = as_image(s, c)
        if img is None or img.channels != c:
            got = s.channels if img is None or s.is_image else img.channels
            out.append(Problem("channels", "channels", f"channels={c} but input {layer.inputs[i]!r} gives "
                               f"{got} channels ({s})", f"write channels={got}", index=i, actual=got))
            continue
        if c > 3 and c % 4:
            out.append(Problem("channels", "divisibility", f"channels={c} must be at most 3 or a multiple of 4",
                               index=i))
        if f % 16:
            out.append(Problem("filters", "divisibility", f"filters={f} must be a multiple of 16", index=i))
        fan_c = _fan_in(layer, i, c, g, out)
        if fan_c is None:
            continue
        h = window(out, img.height, k, layer.padding[i], layer.stride[i], i, "filterSize", "padded")
        w = window([], img.width, k, layer.padding[i], layer.stride[i], i, "filterSize", "padded")
        if h is None or w is None:
            continue
        sizes.append((h, w))
        fan_in = fan_c * k * k
        weights += fan_in * f * g
        macs_per_pixel += fan_in * f * g
    if len(out) > bad:
        return None
    if len(set(sizes)) > 1:
        out.append(Problem("filterSize", "shape", "the inputs give outputs of different sizes: "
                           + ", ".join(f"{h}x{w}" for h, w in sizes)))
        return None
    h, w = sizes[0]
    if layer.type == "local":
        weights *= h * w
        biases = n_out * h * w
    else:
        biases = n_out if layer.shared_biases else n_out * h * w
    return Result(Shape(n_out, h, w), weights + biases, macs_per_pixel * h * w)


def _join(values: tuple, default: object = "") -> str:
    vals = list(dict.fromkeys(values)) or [default]
    return "/".join(str(v) for v in vals)


def _details(layer) -> list[str]:
    k = _join(layer.filter_size)
    return [f"kernel {k}x{k} / stride {_join(layer.stride, 1)} / pad {_join(layer.padding, 0)}",
            f"filters {_join(layer.filters)}" + (
                f" x {_join(layer.groups)} groups" if any(g > 1 for g in layer.groups) else "")]


def _annotation(layer) -> str:
    return layer.type


_EXAMPLES = [
    Example("type=conv\ninputs=in0\nchannels=3\nfilters=16\nfilterSize=5\npadding=2\nstride=2",
            (Shape(3, 16, 16),), "9x9x16"),
    # cuda-convnet: 16 x 3 x 3 x 64 weights + 64 biases = 9,280 parameters
    Example("type=conv\ninputs=in0\nchannels=32\nfilters=16\nfilterSize=3\ngroups=4\nrandSparse=1\n"
            "filterChannels=16", (Shape(32, 8, 8),), "6x6x64"),
    Example("type=local\ninputs=in0\nchannels=16\nfilters=16\nfilterSize=3", (Shape(16, 8, 8),), "6x6x16"),
]


class _Filter(Layer, NeuronMixin, WeightParams, CodeHooks):
    channels: tuple[int, ...]
    filters: tuple[int, ...]
    filter_size: tuple[int, ...] = Field(alias="filterSize")
    padding: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    init_w: tuple[Finite, ...] = Field((), alias="initW")
    init_b: float = Field(0.0, alias="initB", allow_inf_nan=False)
    rand_sparse: tuple[bool, ...] = Field((), alias="randSparse")
    filter_channels: tuple[int, ...] = Field((), alias="filterChannels")
    modules_x: int = Field(0, alias="modulesX", ge=0)


@register("conv", arity=ANY, shape=filtered, weights=True, params=WEIGHT_PARAMS_KEYS,
          drawing=Drawing("#FF5050", _details, _annotation), examples=_EXAMPLES)
class ConvLayer(_Filter):
    type: Literal["conv"]
    shared_biases: bool = Field(True, alias="sharedBiases")
    partial_sum: int | None = Field(None, alias="partialSum")
    sum_width: int | None = Field(None, alias="sumWidth")


@register("local", arity=ANY, shape=filtered, weights=True, params=WEIGHT_PARAMS_KEYS,
          drawing=Drawing("#FF7F7F", _details, _annotation), examples=_EXAMPLES)
class LocalLayer(_Filter):
    type: Literal["local"]
