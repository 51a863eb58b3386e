"""Figure 3: the learned kernels of a conv layer as a grid of tiles, one block of rows per GPU."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

TILES_PER_ROW = 16  # the paper's Figure 3: 48 kernels per GPU in 3 rows of 16
MAX_GREY_CHANNELS = 8  # kernels of non-RGB inputs: one grey tile per input channel, at most this many
PAD = 1  # pixels between tiles
GAP = 4  # extra pixels between the blocks of two GPUs


@dataclass(frozen=True)
class Block:
    """The kernels of one column (one GPU) in the grid."""

    name: str
    gpu: int
    kernels: int
    tiles: int  # kernels x channels shown (RGB: one tile per kernel)
    rows: int
    cols: int
    top: int  # first pixel row of the block in the grid image


@dataclass(frozen=True)
class FilterGrid:
    """`image` (H, W, 3) floats in [0, 1]; background between tiles is white."""

    image: np.ndarray
    blocks: tuple[Block, ...]
    tile: tuple[int, int]  # (kh, kw)
    rgb: bool
    channels_shown: int


def kernel_tiles(weight: torch.Tensor) -> tuple[np.ndarray, bool, int]:
    """(tiles (n, kh, kw, 3) in [0, 1], rgb, channels shown per kernel) from a conv weight
    (filters, channels, kh, kw). Each kernel is scaled to [0, 1] on its own (min to 0, max to 1)
    over all the channels it shows; a constant kernel shows as mid grey."""
    w = weight.detach().to("cpu", torch.float64)
    filters, channels, kh, kw = w.shape
    rgb = channels == 3
    shown = 3 if rgb else min(channels, MAX_GREY_CHANNELS)
    w = w[:, :shown]
    flat = w.reshape(filters, -1)
    lo = flat.min(dim=1).values.view(-1, 1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1, 1)
    span = hi - lo
    scaled = torch.where(span > 0, (w - lo) / torch.where(span > 0, span, 1.0), 0.5)
    if rgb:
        tiles = scaled.permute(0, 2, 3, 1)  # (filters, kh, kw, 3)
    else:  # one grey tile per channel: (filters * shown, kh, kw, 3)
        tiles = scaled.reshape(filters * shown, kh, kw, 1).expand(-1, -1, -1, 3)
    return tiles.numpy().astype(np.float32), rgb, shown


def filter_grid(columns: list[tuple[str, int, torch.Tensor]], per_row: int = TILES_PER_ROW) -> FilterGrid:
    """Lay the kernels of each (name, gpu, weight) column out as Figure 3 does: the first column's
    kernels in the top rows, the next column's below, and so on."""
    if not columns:
        raise ValueError("no columns to draw")
    prepared = [(name, gpu, w.shape[0], *kernel_tiles(w)) for name, gpu, w in columns]
    rgb, shown = prepared[0][4], prepared[0][5]
    kh, kw = prepared[0][3].shape[1:3]
    cols = min(per_row, max(len(p[3]) for p in prepared))
    if not rgb:  # keep the channels of one kernel together on a row
        cols = max(cols - cols % shown, shown)
    blocks, top = [], 0
    for name, gpu, kernels, tiles, _, _ in prepared:
        rows = math.ceil(len(tiles) / cols)
        blocks.append(Block(name, gpu, kernels, len(tiles), rows, cols, top))
        top += rows * (kh + PAD) + PAD + GAP
    width = cols * (kw + PAD) + PAD
    image = np.ones((top - GAP, width, 3), dtype=np.float32)
    for block, entry in zip(blocks, prepared):
        for i, tile in enumerate(entry[3]):
            r, c = divmod(i, cols)
            y = block.top + PAD + r * (kh + PAD)
            x = PAD + c * (kw + PAD)
            image[y:y + kh, x:x + kw] = tile
    return FilterGrid(image, tuple(blocks), (kh, kw), rgb, shown)
