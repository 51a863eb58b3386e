"""cuda-convnet window geometry: output sizes and the padding they imply.

cuda-convnet places output module m's window at `-padding + m*stride` and asks only that the
windows cover the image, so its output size is `1 + ceil((2*padding + size - filter) / stride)`.
The last window can hang over the right/bottom edge by more than `padding`; in PyTorch terms that
is extra zero padding on the right/bottom only (AlexNet conv1: 224 -> 55 needs pad (0, 3)).
"""

from __future__ import annotations

import math


def conv_out(size: int, filt: int, pad: int, stride: int) -> int:
    """cuda-convnet's output size for a conv/local layer along one axis."""
    return 1 + math.ceil((2 * pad + size - filt) / stride)


def pool_out(size: int, window: int, start: int, stride: int) -> int:
    """cuda-convnet's pool output size when `outputsX=0`."""
    return math.ceil((size - start - window) / stride) + 1


def span_pads(size: int, out: int, window: int, start: int, stride: int) -> tuple[int, int]:
    """(before, after) padding so that `out` windows of `window` at `start + m*stride` fit.

    `start` is the first window's offset (cuda-convnet's `-padding` or pool `start`). A negative
    result crops instead of padding (F.pad accepts negative pads).
    """
    before = -start
    after = start + (out - 1) * stride + window - size
    return before, after
