"""`alexspec show`: what a trained checkpoint learned and predicts, as the paper's Figures 3 and 4.

- `show_filters`: the kernels of a conv layer, one block of rows per GPU (Figure 3);
- `show_predictions`: test images with their top-5 labels as bars (Figure 4, left);
- `show_neighbours`: test images followed by the training images nearest in Euclidean distance
  of the last hidden layer's output (Figure 4, right), searching a bounded training subset.

Each rebuilds the net from the spec text stored in the checkpoint, as `alexspec test` does, and
returns a `Shown` whose `message` is the line the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from alexspec.errors import RunError
from alexspec.ir import WEIGHT_TYPES
from alexspec.net import Net
from alexspec.runtime.restore import Restored, open_restored_data, restore
from alexspec.runtime.show import plots
from alexspec.runtime.show.filters import FilterGrid, filter_grid
from alexspec.runtime.show.predict import Neighbours, TopK, nearest, top_k
from alexspec.words import count

SEARCH_LIMIT = 10_000  # training images searched for neighbours
BATCH = 256

Warn = Callable[[str], None]


@dataclass
class Shown:
    """What a show command wrote: the PNG, its pixel size, the message, and what it drew."""

    path: Path
    size: tuple[int, int]
    message: str
    grid: FilterGrid | None = None
    top: TopK | None = None
    neighbours: Neighbours | None = None
    picked: torch.Tensor | None = None  # indices of the test images shown
    extra: dict[str, Any] = field(default_factory=dict)


def _default(path: Path | str | None, r: Restored, kind: str) -> Path:
    return Path(path) if path is not None else Path(f"{r.path.stem}-{kind}.png")


def conv_columns(net: Net, layer: str) -> list[str]:
    """The conv layers `layer` names: itself, or its columns `<layer>a`, `<layer>b`, ..."""
    if layer in net:
        names = [layer]
    else:
        names = [n.name for n in net if n.name[:-1] == layer and n.name[-1].isalpha()
                 and n.name[-1].islower()]
    convs = [n.name for n in net if n.type == "conv"]
    if not names:
        raise RunError(f"no layer or columns named {layer!r} in the net", where=net.path,
                       hint="conv layers: " + ", ".join(convs))
    wrong = [f"{n} ({net[n].type})" for n in names if net[n].type != "conv"]
    if wrong:
        raise RunError(f"--filters draws the kernels of conv layers; {', '.join(wrong)} is not one",
                       where=net.path, hint="conv layers: " + ", ".join(convs))
    return sorted(names, key=lambda n: (net[n].gpu, n))


def show_filters(checkpoint: str | Path, layer: str, out: str | Path | None = None, *,
                 gpu: str = "auto", warn: Warn | None = None) -> Shown:
    """Figure 3: the kernels of conv layer `layer` (compact or column name), one block per GPU."""
    from alexspec.compiler.model import module_key

    r = restore(checkpoint, gpu, warn)
    names = conv_columns(r.net, layer)
    columns = []
    for name in names:
        weights = list(r.model.layers[module_key(name)].weights)
        same = all(w.shape[2:] == weights[0].shape[2:] for w in weights)
        w = torch.cat([x.detach() for x in weights], dim=1) if same else weights[0].detach()
        columns.append((name, r.net[name].gpu, w))
    grid = filter_grid(columns)
    path = _default(out, r, "filters")
    kh, kw = grid.tile
    channels = columns[0][2].shape[1]
    total = sum(b.kernels for b in grid.blocks)
    gpus = sorted({b.gpu for b in grid.blocks})
    where = ("GPU " + ", ".join(map(str, gpus)) + " from top to bottom") if len(gpus) > 1 else f"GPU {gpus[0]}"
    shown = "RGB" if grid.rgb else f"grey, {grid.channels_shown} of {channels} input channels each"
    title = (f"{layer}: {total} kernels of {kh}x{kw}x{channels} ({shown}); {where}; "
             f"{r.path.name}, step {r.step}")
    size = plots.draw_filters(grid, path, title)
    return Shown(path, size, f"wrote {path}: {count(total, 'kernel')} of {layer} ({len(grid.blocks)} "
                 f"block{'s' if len(grid.blocks) != 1 else ''}, {where})", grid=grid)


def pick_images(n_total: int, count: int, seed: int) -> torch.Tensor:
    """A seeded choice of `count` test images (in a fixed order)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=g)[:min(count, n_total)]


@torch.no_grad()
def _centre(r: Restored, images: torch.Tensor) -> torch.Tensor:
    device = r.model.devices[0]
    return r.augment.views(images, r.stats, False)[0].to(device)


@torch.no_grad()
def show_predictions(checkpoint: str | Path, out: str | Path | None = None, *, data: str | None = None,
                     gpu: str = "auto", count: int = 8, seed: int = 0,
                     warn: Warn | None = None) -> Shown:
    """Figure 4 left: `count` test images, each with its top-5 labels as bars."""
    r = restore(checkpoint, gpu, warn)
    ds = open_restored_data(r, data, warn)
    picked = pick_images(len(ds.val), count, seed)
    images, labels = ds.val.get(picked)
    top = top_k(r.model(_centre(r, images)).float(), 5)
    path = _default(out, r, "preds")
    hits = int(top.contains(labels).sum())
    title = (f"{len(images)} test images of {ds.name}, top-{top.classes.shape[1]} predictions "
             f"(true label under each image, its bar in red); {r.path.name}, step {r.step}")
    size = plots.draw_predictions(images, labels, top, ds.classes, path, title)
    return Shown(path, size, f"wrote {path}: {len(images)} test images, true label in the top "
                 f"{top.classes.shape[1]} for {hits}", top=top, picked=picked)


def last_hidden(net: Net, logits: str) -> tuple[str, ...]:
    """The layers whose outputs feed the last weight layer before the class scores (for AlexNet
    drop7a and drop7b, the 4096-d vector the paper's Figure 4 compares)."""
    name = logits
    while net[name].type not in WEIGHT_TYPES:
        name = net[name].layer.inputs[0]
    return net[name].layer.inputs


@torch.no_grad()
def features(r: Restored, images: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """The concatenated, flattened outputs of `names` (N, D) for uint8 images, eval mode."""
    out = r.model.forward_layers(_centre(r, images), names)
    return torch.cat([out[n].detach().to("cpu", torch.float64).flatten(1) for n in names], dim=1)


def _get(split: Any, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, labels and the indices actually returned (a split skips undecodable images)."""
    images, labels = split.get(idx)
    if len(images) == len(idx):
        return images, labels, idx
    got = [(split.get(i.view(1)), i) for i in idx]
    got = [(im, lb, i) for (im, lb), i in got if len(im)]
    if not got:
        return images[:0], labels[:0], idx[:0]
    return (torch.cat([g[0] for g in got]), torch.cat([g[1] for g in got]),
            torch.stack([g[2] for g in got]))


@torch.no_grad()
def show_neighbours(checkpoint: str | Path, out: str | Path | None = None, *, data: str | None = None,
                    gpu: str = "auto", count: int = 5, k: int = 6, search: int = SEARCH_LIMIT,
                    seed: int = 0, warn: Warn | None = None) -> Shown:
    """Figure 4 right: `count` test images, each followed by the `k` training images nearest in
    Euclidean distance of the last hidden layer, among the first `search` training images."""
    if search <= 0:
        raise RunError(f"must be a positive number of training images (got {search})", where="--search")
    r = restore(checkpoint, gpu, warn)
    ds = open_restored_data(r, data, warn)
    names = last_hidden(r.net, r.model.plan.logits)
    picked = pick_images(len(ds.val), count, seed)
    queries, query_labels = ds.val.get(picked)
    q = features(r, queries, names)
    n = min(search, len(ds.train))
    bank, bank_labels, bank_index = [], [], []
    for start in range(0, n, BATCH):
        images, labels, kept = _get(ds.train, torch.arange(start, min(start + BATCH, n)))
        if len(kept):
            bank.append(features(r, images, names))
            bank_labels.append(labels)
            bank_index.append(kept)
    if not bank:
        raise RunError("no training image could be read for the neighbour search", where=ds.location)
    found = nearest(q, torch.cat(bank), k)
    all_labels, all_index = torch.cat(bank_labels), torch.cat(bank_index)
    found_images = [ds.train.get(all_index[found.indices[i]])[0] for i in range(len(q))]
    path = _default(out, r, "neighbors")
    layers = "+".join(names)
    title = (f"{len(q)} test images and the {k} training images nearest by the output of {layers} "
             f"({q.shape[1]}-d, Euclidean), searched among the first {n:,} of {len(ds.train):,}; "
             f"{r.path.name}, step {r.step}")
    size = plots.draw_neighbours(queries, query_labels, found, found_images,
                                 all_labels[found.indices], ds.classes, path, title)
    return Shown(path, size, f"wrote {path}: {len(q)} test images x {k} nearest training images "
                 f"by {layers} ({q.shape[1]}-d), searched the first {n:,} of {len(ds.train):,} "
                 f"training images", neighbours=found, picked=picked,
                 extra={"features": names, "searched": n, "query_features": q})


__all__ = ["Restored", "SEARCH_LIMIT", "Shown", "conv_columns", "features", "last_hidden",
           "pick_images", "restore", "show_filters", "show_neighbours", "show_predictions"]
