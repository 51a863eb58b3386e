"""The zero padding that cuda-convnet's window placement implies, in PyTorch terms.

Output sizes are the front end's (alexspec/shapes.py, cuda-convnet's formulas); the compiler
takes the checked node's output grid and only derives the padding here. cuda-convnet places
window m at `start + m*stride` (`start` = -padding for conv/local, the pool's `start`) and asks
only that the windows cover the image, so the last window can hang over the right/bottom edge by
more than `padding`: extra zero padding on the right/bottom only (AlexNet conv1: 224 -> 55 needs
pad (0, 3)).
"""

from __future__ import annotations


def span_pads(size: int, out: int, window: int, start: int, stride: int) -> tuple[int, int]:
    """(before, after) padding so that `out` windows of `window` at `start + m*stride` fit.

    A negative result crops instead of padding (F.pad accepts negative pads).
    """
    before = -start
    after = start + (out - 1) * stride + window - size
    return before, after
