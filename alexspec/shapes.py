"""shapes: one layer's output shape, parameter count and multiply-adds, from its input shapes.

The formulas and the per-layer rules are cuda-convnet's (layer.py of cuda-convnet and
cuda-convnet2): conv/local `out = 1 + ceil((2*pad + in - k) / stride)`, pool
`out = ceil((in - start - sizeX) / stride) + 1` unless `outputsX` is given, conv output channels
`filters * groups`, and the divisibility rules its GPU kernels needed. Multiply-adds count the
weight layers only (conv, local, fc, sfc), per image, forward.

`infer(layer, inputs, out)` returns a `Result`, or None after adding at least one `Problem` to
`out`; a problem names the field it is about so that check.py can point at its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alexspec import ir
from alexspec.net import Shape


@dataclass(frozen=True)
class Problem:
    field: str | None  # the layer field whose value is wrong; None = the section header
    code: str
    message: str
    hint: str | None = None
    index: int | None = None  # the input the problem is about, for per-input fields


@dataclass(frozen=True)
class Result:
    output: Shape
    params: int = 0
    macs: int = 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _as_image(shape: Shape, channels: int) -> Shape | None:
    """cuda-convnet reads a vector input as square `channels`-channel images when it can."""
    if shape.is_image or shape.channels == channels:
        return shape
    if shape.numel % channels == 0:
        side = math.isqrt(shape.numel // channels)
        if side * side * channels == shape.numel:
            return Shape(channels, side, side)
    return None


def _window(out: list[Problem], n: int, k: int, pad: int, stride: int, i: int, size: str, what: str) -> int | None:
    """1 + ceil((2*pad + n - k) / stride), after checking that the windows cover the input."""
    bad = len(out)
    if k > n + 2 * pad:
        out.append(Problem(size, "shape", f"{size}={k} is larger than the {what} input "
                           f"({n} pixels + 2x{pad} padding)", index=i))
    if pad >= k:
        out.append(Problem("padding", "shape", f"padding={pad} must be smaller than {size}={k}", index=i))
    if stride > k:
        out.append(Problem("stride", "shape", f"stride={stride} is larger than {size}={k}: "
                           "the windows would skip pixels", index=i))
    if len(out) > bad:
        return None
    return 1 + _ceil_div(2 * pad + n - k, stride)


def _filtered(layer: ir.ConvLayer | ir.LocalLayer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    bad = len(out)
    sizes, weights, macs_per_pixel = [], 0, 0
    n_out = layer.filters[0] * layer.groups[0]
    if len(set(f * g for f, g in zip(layer.filters, layer.groups))) > 1:
        out.append(Problem("filters", "shape", "every input must give the same number of filters "
                           f"(filters x groups = {[f * g for f, g in zip(layer.filters, layer.groups)]})"))
    for i, s in enumerate(ins):
        c, f, g, k = layer.channels[i], layer.filters[i], layer.groups[i], layer.filter_size[i]
        img = _as_image(s, c)
        if img is None or img.channels != c:
            got = s.channels if img is None or s.is_image else img.channels
            out.append(Problem("channels", "channels", f"channels={c} but input {layer.inputs[i]!r} gives "
                               f"{got} channels ({s})", f"write channels={got}", index=i))
            continue
        if c > 3 and c % 4:
            out.append(Problem("channels", "divisibility", f"channels={c} must be at most 3 or a multiple of 4",
                               index=i))
        if f % 16:
            out.append(Problem("filters", "divisibility", f"filters={f} must be a multiple of 16", index=i))
        if c % g:
            out.append(Problem("groups", "divisibility", f"groups={g} does not divide channels={c}", index=i))
            continue
        h = _window(out, img.height, k, layer.padding[i], layer.stride[i], i, "filterSize", "padded")
        w = _window([], img.width, k, layer.padding[i], layer.stride[i], i, "filterSize", "padded")
        if h is None or w is None:
            continue
        sizes.append((h, w))
        fan_in = (c // g) * k * k
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


def _fc(layer: ir.FcLayer | ir.SfcLayer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    parts = getattr(layer, "parts", 1)
    if layer.outputs % parts:
        out.append(Problem("parts", "divisibility", f"parts={parts} does not divide outputs={layer.outputs}"))
        return None
    weights = 0
    for i, s in enumerate(ins):
        if s.numel % parts:
            out.append(Problem("parts", "divisibility",
                               f"parts={parts} does not divide the {s.numel} inputs of {layer.inputs[i]!r}"))
            return None
        weights += s.numel * layer.outputs // parts
    return Result(Shape(layer.outputs), weights + layer.outputs, weights)


def _declared(layer, s: Shape, out: list[Problem]) -> Shape | None:
    img = _as_image(s, layer.channels)
    if img is None or img.channels != layer.channels:
        got = s.channels
        out.append(Problem("channels", "channels", f"channels={layer.channels} but input "
                           f"{layer.inputs[0]!r} gives {got} channels ({s})", f"write channels={got}"))
        return None
    return img


def _pool(layer: ir.PoolLayer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = _declared(layer, ins[0], out)
    if s is None:
        return None
    bad = len(out)
    if layer.stride > layer.size_x:
        out.append(Problem("stride", "shape", f"stride={layer.stride} must not exceed sizeX={layer.size_x}"))
    if layer.size_x > min(s.height, s.width) - layer.start:
        out.append(Problem("sizeX", "shape", f"sizeX={layer.size_x} is larger than the input "
                           f"({s.height}x{s.width}, start={layer.start})"))
    if len(out) > bad:
        return None
    if layer.outputs_x:
        h = w = layer.outputs_x
    else:
        h = _ceil_div(s.height - layer.start - layer.size_x, layer.stride) + 1
        w = _ceil_div(s.width - layer.start - layer.size_x, layer.stride) + 1
    return Result(Shape(s.channels, h, w))


def _cmpool(layer: ir.CrossMapPoolLayer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = _declared(layer, ins[0], out)
    if s is None:
        return None
    if layer.size > s.channels - layer.start:
        out.append(Problem("size", "shape", f"size={layer.size} exceeds the {s.channels} channels"))
        return None
    n = layer.outputs or _ceil_div(s.channels - layer.start - layer.size, layer.stride) + 1
    return Result(Shape(n, s.height, s.width))


def _norm(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = _declared(layer, ins[0], out)
    if s is None:
        return None
    if layer.type == "cmrnorm":
        if s.channels % 16:
            out.append(Problem("channels", "divisibility",
                               f"cmrnorm needs channels divisible by 16 (got {s.channels})"))
        if not 2 <= layer.size <= s.channels:
            out.append(Problem("size", "shape", f"size={layer.size} must be between 2 and channels={s.channels}"))
    elif layer.size > min(s.height, s.width):
        out.append(Problem("size", "shape", f"size={layer.size} is larger than the {s.height}x{s.width} image"))
    return Result(s)


def _same_numel(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    if len({s.numel for s in ins}) > 1:
        out.append(Problem("inputs", "shape", "inputs must have equal sizes, got " + ", ".join(map(str, ins))))
        return None
    return Result(ins[0])


def _concat(layer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    if all(s.is_image for s in ins) and len({(s.height, s.width) for s in ins}) == 1:
        return Result(Shape(sum(s.channels for s in ins), ins[0].height, ins[0].width))
    return Result(Shape(sum(s.numel for s in ins)))


def _sum(layer: ir.SumLayer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = ins[0]
    if s.channels % layer.stride:
        out.append(Problem("stride", "divisibility", f"stride={layer.stride} does not divide {s.channels} channels"))
        return None
    return Result(Shape(s.channels // layer.stride, s.height, s.width))


def _image_op(layer: ir.ImageOpLayer, ins: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    s = ins[0]
    if layer.type in ("nailbed", "blur") and layer.stride:
        return Result(Shape(s.channels, _ceil_div(s.height, layer.stride), _ceil_div(s.width, layer.stride)))
    if layer.type == "resize" and layer.scale:
        return Result(Shape(s.channels, max(1, round(s.height / layer.scale)), max(1, round(s.width / layer.scale))))
    if layer.type == "rscale" and layer.tgt_size:
        return Result(Shape(s.channels, layer.tgt_size, layer.tgt_size))
    if layer.type == "crop" and layer.size_x:
        return Result(Shape(s.channels, layer.size_x, layer.size_x))
    return Result(s)


_RULES = {
    "conv": _filtered, "local": _filtered, "fc": _fc, "sfc": _fc, "pool": _pool, "cmpool": _cmpool,
    "cmrnorm": _norm, "rnorm": _norm, "cnorm": _norm, "eltsum": _same_numel, "eltmax": _same_numel,
    "concat": _concat, "pass": _concat, "sum": _sum,
}


def infer(layer: ir.Layer, inputs: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    """The output of a non-data layer; None (with problems added to `out`) if it has none."""
    rule = _RULES.get(layer.type)
    if rule is not None:
        return rule(layer, inputs, out)
    if layer.type.startswith("cost."):
        return Result(Shape(1))
    if isinstance(layer, ir.ImageOpLayer):
        return _image_op(layer, inputs, out)
    return Result(inputs[0])  # neuron, softmax, dropout: elementwise
