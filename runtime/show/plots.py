"""Drawing Figures 3 and 4 with matplotlib's Agg canvas (no pyplot, no display, no global state).

matplotlib is imported inside the functions: `alexspec` starts without it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch

from alexspec.runtime.show.filters import FilterGrid
from alexspec.runtime.show.predict import Neighbours, TopK

BAR = "#4C72B0"
TRUE_BAR = "#D62728"
DPI = 100


def _figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=DPI, layout=None)


def _title(fig, title: str, fontsize: float) -> None:
    """A title wrapped to the figure's width."""
    chars = max(40, int(fig.get_figwidth() * 72 / (fontsize * 0.6)))
    fig.suptitle(textwrap.fill(title, chars), fontsize=fontsize, y=0.998, va="top")


def _save(fig, out: Path) -> tuple[int, int]:
    """Write `fig` as PNG; returns (width, height) in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    w, h = canvas.get_width_height()
    return int(w), int(h)


def to_display(images: torch.Tensor) -> np.ndarray:
    """uint8 (B, C, h, w) -> float (B, h, w, 3) in [0, 1] (grey repeated to RGB)."""
    x = images.detach().to("cpu").float() / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x[:, :3].permute(0, 2, 3, 1).numpy()


def draw_filters(grid: FilterGrid, out: Path, title: str) -> tuple[int, int]:
    """Figure 3: the tile grid, each GPU's block labelled on the left."""
    h, w = grid.image.shape[:2]
    scale = max(2.0, 900.0 / w)  # pixels per kernel pixel, so an 11x11 kernel stays visible
    label_w = 1.3
    fig = _figure(w * scale / DPI + label_w, h * scale / DPI + 0.6)
    ax = fig.add_axes((label_w / fig.get_figwidth(), 0.02, 1 - label_w / fig.get_figwidth() - 0.01,
                       1 - 0.62 / fig.get_figheight()))
    ax.imshow(grid.image, interpolation="nearest")
    ax.set_axis_off()
    for block in grid.blocks:
        rows_px = block.rows * (grid.tile[0] + 1)
        ax.text(-2, block.top + rows_px / 2, f"GPU {block.gpu}\n{block.name}", ha="right",
                va="center", fontsize=10)
    _title(fig, title, 11)
    return _save(fig, out)


def _caption(labels: torch.Tensor, i: int, classes: tuple[str, ...], captions: list[str] | None) -> str:
    """The true class of image i, or (label -1: a file of the user's, class unknown) its caption."""
    return classes[int(labels[i])] if int(labels[i]) >= 0 else (captions[i] if captions else "?")


def draw_predictions(images: torch.Tensor, labels: torch.Tensor, top: TopK,
                     classes: tuple[str, ...], out: Path, title: str,
                     captions: list[str] | None = None) -> tuple[int, int]:
    """Figure 4 left: each image above its top-k bars; the true label under the image, and its
    bar red when it is among the k. A label of -1 (a file, class unknown) shows `captions[i]`."""
    n = len(images)
    cols = min(4, n)
    rows = -(-n // cols)
    pics = to_display(images)
    fig = _figure(3.0 * cols, 3.6 * rows + 0.4)
    gs = fig.add_gridspec(2 * rows, cols, height_ratios=[2.0, 1.3] * rows, hspace=0.45,
                          wspace=0.55, left=0.12, right=0.98, top=1 - 0.4 / fig.get_figheight(),
                          bottom=0.03)
    k = top.classes.shape[1]
    for i in range(n):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(gs[2 * r, c])
        ax.imshow(pics[i], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        true = int(labels[i])
        ax.set_xlabel(_caption(labels, i, classes, captions), fontsize=10, fontweight="bold")
        bx = fig.add_subplot(gs[2 * r + 1, c])
        probs = top.probs[i].numpy()
        names = [classes[int(j)] for j in top.classes[i]]
        colours = [TRUE_BAR if int(j) == true else BAR for j in top.classes[i]]
        bx.barh(np.arange(k), probs, color=colours, height=0.7)
        bx.set_yticks(np.arange(k), names, fontsize=8)
        bx.invert_yaxis()
        bx.set_xlim(0, 1)
        bx.tick_params(axis="x", labelsize=7)
        for side in ("top", "right"):
            bx.spines[side].set_visible(False)
    _title(fig, title, 11)
    return _save(fig, out)


def draw_neighbours(queries: torch.Tensor, query_labels: torch.Tensor, found: Neighbours,
                    found_images: list[torch.Tensor], found_labels: torch.Tensor,
                    classes: tuple[str, ...], out: Path, title: str,
                    captions: list[str] | None = None) -> tuple[int, int]:
    """Figure 4 right: each query test image (first column), then its nearest training images
    (`found_images[r]` (k, C, h, w) and `found_labels` (Q, k) for query r), nearest first.
    A query label of -1 (a file, class unknown) shows `captions[r]`."""
    q, k = found.indices.shape
    qpics = to_display(queries)
    fig = _figure(1.45 * (k + 1) + 0.4, 1.6 * q + 0.7)
    gs = fig.add_gridspec(q, k + 2, width_ratios=[1.0, 0.25] + [1.0] * k, hspace=0.45, wspace=0.08,
                          left=0.02, right=0.98, top=1 - 0.75 / fig.get_figheight(), bottom=0.02)
    for r in range(q):
        ax = fig.add_subplot(gs[r, 0])
        ax.imshow(qpics[r], interpolation="nearest")
        ax.set_axis_off()
        what = "test: " if int(query_labels[r]) >= 0 else ""
        ax.set_title(what + _caption(query_labels, r, classes, captions), fontsize=8, fontweight="bold")
        nb = to_display(found_images[r])
        for j in range(k):
            bx = fig.add_subplot(gs[r, j + 2])
            bx.imshow(nb[j], interpolation="nearest")
            bx.set_axis_off()
            name = classes[int(found_labels[r, j])]
            bx.set_title(f"{name}\nd={float(found.distances[r, j]):.3g}", fontsize=7)
    _title(fig, title, 10)
    return _save(fig, out)
