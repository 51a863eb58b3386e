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


def _check_count(count: int) -> None:
    if count <= 0:
        raise RunError(f"must be a positive number of images (got {count})", where="--images")


def read_files(r: Restored, files: list[str | Path]) -> tuple[torch.Tensor, list[str]]:
    """The user's image files as uint8 (B, 3, s, s), read as `predict` reads them (the stored
    form of the checkpoint's data); an unreadable file is a RunError naming it."""
    from alexspec.runtime.images import ImageError, read_square
    from alexspec.runtime.predict import stored_form

    side, grey = stored_form(r)
    arrays = []
    for f in files:
        try:
            arrays.append(torch.from_numpy(read_square(f, side, grey=grey)))
        except ImageError as e:
            raise RunError(f"cannot read this image: {e}", where=str(f)) from None
    return torch.stack(arrays), [Path(f).name for f in files]


@torch.no_grad()
def _errors_first(r: Restored, split: Any, count: int, seed: int) -> torch.Tensor:
    """`count` test images in the seeded order of `pick_images`, the misclassified ones (top-1)
    first: the order is scanned batch by batch until `count` errors are found or it ends."""
    order = pick_images(len(split), len(split), seed)
    wrong, right = [], []
    for start in range(0, len(order), BATCH):
        idx = order[start:start + BATCH]
        images, labels, kept = _get(split, idx)
        if len(kept):
            guess = r.model(_centre(r, images)).float().argmax(1).cpu()
            wrong += kept[guess != labels].tolist()
            right += kept[guess == labels].tolist()
        if len(wrong) >= count:
            break
    return torch.tensor((wrong + right)[:count], dtype=torch.long)


@torch.no_grad()
def show_predictions(checkpoint: str | Path, out: str | Path | None = None, *, data: str | None = None,
                     gpu: str = "auto", count: int = 8, seed: int = 0, files: list | None = None,
                     errors: bool = False, warn: Warn | None = None) -> Shown:
    """Figure 4 left: `count` test images (or the image `files` given), each with its top-5
    labels as bars; `errors` puts misclassified test images first."""
    _check_count(count)
    if files and errors:
        raise RunError("--errors picks misclassified test images; image files have no true label",
                       where="--errors", hint="drop --errors, or the files")
    r = restore(checkpoint, gpu, warn)
    captions = None
    if files:
        images, captions = read_files(r, files)
        labels = torch.full((len(images),), -1, dtype=torch.long)
        picked, classes, what = torch.arange(len(images)), _classes(r), "image files"
    else:
        ds = open_restored_data(r, data, warn)
        picked = _errors_first(r, ds.val, count, seed) if errors else pick_images(len(ds.val), count, seed)
        images, labels = ds.val.get(picked)
        classes, what = ds.classes, f"test images of {ds.name}" + (", misclassified first" if errors else "")
    top = top_k(r.model(_centre(r, images)).float(), 5)
    path = _default(out, r, "preds")
    hits = int(top.contains(labels).sum())
    wrong = int((top.classes[:, 0] != labels).sum())
    title = (f"{len(images)} {what}, top-{top.classes.shape[1]} predictions "
             + ("(file name under each image)" if files else "(true label under each image, its bar in red)")
             + f"; {r.path.name}, step {r.step}")
    size = plots.draw_predictions(images, labels, top, classes, path, title, captions)
    tail = "" if files else (f", true label in the top {top.classes.shape[1]} for {hits}, "
                             f"top-1 wrong for {wrong}")
    return Shown(path, size, f"wrote {path}: {len(images)} {what}{tail}", top=top, picked=picked,
                 extra={"labels": labels})


def _classes(r: Restored) -> tuple[str, ...]:
    from alexspec.runtime.predict import class_names

    return class_names(r)


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
                    seed: int = 0, files: list | None = None, warn: Warn | None = None) -> Shown:
    """Figure 4 right: `count` test images (or the query image `files` given), each followed by
    the `k` training images nearest in Euclidean distance of the last hidden layer, among the
    first `search` training images."""
    if search <= 0:
        raise RunError(f"must be a positive number of training images (got {search})", where="--search")
    r = restore(checkpoint, gpu, warn)
    ds = open_restored_data(r, data, warn)
    names = last_hidden(r.net, r.model.plan.logits)
    captions = None
    if files:
        queries, captions = read_files(r, files)
        query_labels = torch.full((len(queries),), -1, dtype=torch.long)
        picked = torch.arange(len(queries))
    else:
        _check_count(count)
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
    title = (f"{len(q)} {'query images' if files else 'test images'} and the {k} training images nearest by the output of {layers} "
             f"({q.shape[1]}-d, Euclidean), searched among the first {n:,} of {len(ds.train):,}; "
             f"{r.path.name}, step {r.step}")
    size = plots.draw_neighbours(queries, query_labels, found, found_images,
                                 all_labels[found.indices], ds.classes, path, title, captions)
    return Shown(path, size, f"wrote {path}: {len(q)} {'query images' if files else 'test images'} x {k} nearest training images "
                 f"by {layers} ({q.shape[1]}-d), searched the first {n:,} of {len(ds.train):,} "
                 f"training images", neighbours=found, picked=picked,
                 extra={"features": names, "searched": n, "query_features": q})


__all__ = ["Restored", "SEARCH_LIMIT", "Shown", "conv_columns", "features", "last_hidden",
           "pick_images", "restore", "show_filters", "show_neighbours", "show_predictions"]
