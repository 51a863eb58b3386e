"""shapes: the one geometry of the front end and the compiler.

`Shape` (one layer's output per image), the window formulas of cuda-convnet (layer.py of
cuda-convnet and cuda-convnet2): conv/local `out = 1 + ceil((2*pad + in - k) / stride)`, pool
`out = ceil((in - start - sizeX) / stride) + 1`, and the padding a PyTorch lowering needs to get
the same windows; `Problem` / `Result`, what a family's shape rule returns. Each layer type's rule
lives in its family file (`alexspec/layers/`); `infer` finds it in the registry, with no fallback.

`infer(layer, inputs, out)` returns a `Result`, or None after adding at least one `Problem` to
`out`; a problem names the field it is about so that check.py can point at its value.
Nothing here imports torch or pydantic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """The output of one layer for one image: channels x height x width (1x1 for vectors)."""

    channels: int
    height: int = 1
    width: int = 1

    @property
    def numel(self) -> int:
        """Values per image."""
        return self.channels * self.height * self.width

    @property
    def is_image(self) -> bool:
        """True for a feature map, False for a vector (1x1)."""
        return self.height > 1 or self.width > 1

    def __str__(self) -> str:
        # The paper's H x W x C order for images; a bare count for vectors.
        return f"{self.height}x{self.width}x{self.channels}" if self.is_image else str(self.channels)


@dataclass(frozen=True)
class Problem:
    field: str | None  # the layer field whose value is wrong; None = the section header
    code: str
    message: str
    hint: str | None = None
    index: int | None = None  # the input the problem is about, for per-input fields
    actual: int | None = None  # a `channels` problem: the channels the input gives


@dataclass(frozen=True)
class Result:
    output: Shape
    params: int = 0
    macs: int = 0


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers (exact, unlike math.ceil on floats for huge values)."""
    return -(-a // b)


def conv_out(size: int, filt: int, pad: int, stride: int) -> int:
    """cuda-convnet's output size of a conv/local layer along one axis."""
    return 1 + ceil_div(2 * pad + size - filt, stride)


def pool_out(size: int, window: int, start: int, stride: int) -> int:
    """cuda-convnet's pool output size along one axis when `outputsX=0`."""
    return ceil_div(size - start - window, stride) + 1


def span_pads(size: int, out: int, window: int, start: int, stride: int) -> tuple[int, int]:
    """(before, after) padding so that `out` windows of `window` at `start + m*stride` fit.

    `start` is the first window's offset (cuda-convnet's `-padding` or pool `start`). The last
    window can hang over the right/bottom edge by more than the padding (AlexNet conv1: 224 -> 55
    needs pad (0, 3)); a negative result crops instead of padding (F.pad accepts negative pads).
    """
    before = -start
    after = start + (out - 1) * stride + window - size
    return before, after


def as_image(shape: Shape, channels: int) -> Shape | None:
    """cuda-convnet reads a vector input as square `channels`-channel images when it can."""
    if shape.is_image or shape.channels == channels:
        return shape
    if shape.numel % channels == 0:
        side = math.isqrt(shape.numel // channels)
        if side * side * channels == shape.numel:
            return Shape(channels, side, side)
    return None


def window(out: list[Problem], n: int, k: int, pad: int, stride: int, i: int, size: str, what: str) -> int | None:
    """`conv_out`, after checking that the windows cover the input (problems go to `out`)."""
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
    return conv_out(n, k, pad, stride)


def declared(layer, s: Shape, out: list[Problem]) -> Shape | None:
    """The input as the `channels=` a one-input layer declares, or None with a problem."""
    img = as_image(s, layer.channels)
    if img is None or img.channels != layer.channels:
        got = s.channels
        out.append(Problem("channels", "channels", f"channels={layer.channels} but input "
                           f"{layer.inputs[0]!r} gives {got} channels ({s})", f"write channels={got}",
                           actual=got))
        return None
    return img


def infer(layer, inputs: tuple[Shape, ...], out: list[Problem]) -> Result | None:
    """The output of a non-data layer by its family's shape rule; None (with problems added to
    `out`) if it has none."""
    from alexspec.layers import kind_of  # the registry imports the families, which import this

    return kind_of(layer.type).shape(layer, inputs, out)
