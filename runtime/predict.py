"""`alexspec predict`: the top-k classes of image files, prepared exactly as `alexspec test`
prepares the validation images of the data the checkpoint trained on.

Each file is read as that data stores its images (`runtime/images.py`: an image folder at the
working size, shorter side scaled and the centre square kept; Fashion-MNIST as 28x28 grey
repeated to three channels; CIFAR-10 as 32x32 RGB), then goes through the test pipeline
(`Augment.views`: scaled to the working size, the mean image subtracted, the centre crop or the
paper's ten views) and the eval model; the softmax is averaged over the views, as in `evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from alexspec.errors import RunError
from alexspec.runtime.images import EXTENSIONS, ImageError, read_square
from alexspec.runtime.restore import Restored

Warn = Callable[[str], None]
Progress = Callable[[int], None]

# How each provider stores its images (side, grey): what a new image is made into first.
_STORED = {"fashion-mnist": (28, True), "cifar-10": (32, False)}


def open_model(checkpoint: str | Path, gpu: str = "auto", warn: Warn | None = None) -> Restored:
    """The checkpoint's eval model and test pipeline (a checkpoint file, a run directory's newest
    checkpoint, or an exported .safetensors file): the one call predict makes into restore."""
    from alexspec.runtime.restore import restore

    return restore(checkpoint, gpu, warn)


def stored_form(r: Restored) -> tuple[int, bool]:
    """(side, grey) of the images the checkpoint trained on, as its data provider stores them."""
    return _STORED.get(r.data_name, (r.img_size, False))


def image_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files named, and the image files (by extension) under the folders named, recursively
    and sorted; a path that does not exist is returned as skipped, with the reason."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in EXTENSIONS and f.is_file()
                            and not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.is_file():
            files.append(p)
        else:
            missing.append((str(p), "no such file or folder"))
    return files, missing


@dataclass(frozen=True)
class Prediction:
    """One image's k most probable classes, most probable first."""

    file: str
    labels: tuple[str, ...]
    classes: tuple[int, ...]
    probs: tuple[float, ...]

    def as_json(self) -> dict:
        return {"file": self.file, "top": [{"label": n, "class": c, "probability": p}
                                           for n, c, p in zip(self.labels, self.classes, self.probs)]}

    def line(self) -> str:
        """`file: label 91.2%, label 5.1%, ...`"""
        return f"{self.file}: " + ", ".join(f"{n} {100 * p:.1f}%" for n, p in zip(self.labels, self.probs))


@dataclass
class Predicted:
    """What `predict` made of a list of files."""

    predictions: list[Prediction]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    k: int = 1
    views: int = 1


@torch.no_grad()
def probabilities(r: Restored, images: torch.Tensor, multiview: bool) -> torch.Tensor:
    """uint8 (B, C, h, w) -> (B, classes) softmax averaged over the views (as `evaluate`)."""
    x = r.augment.views(images, r.stats, multiview)  # (V, B, C, S, S)
    return torch.stack([F.softmax(r.model(v).float(), dim=1) for v in x]).mean(0).cpu()


def class_names(r: Restored) -> tuple[str, ...]:
    """The checkpoint's class names, padded with `class <i>` up to the net's outputs."""
    names = tuple(r.checkpoint.data.classes)
    return names + tuple(f"class {i}" for i in range(len(names), r.model.num_classes))


def predict(r: Restored, files: list[Path], *, top: int | None = None, multiview: bool = False,
            batch: int | None = None, progress: Progress | None = None,
            on_skip: Callable[[str, str], None] | None = None) -> Predicted:
    """The top-`top` classes (the spec's `topk` by default) of each readable file, in batches;
    an unreadable file is skipped and told to `on_skip(file, reason)`. `progress(files_done)`
    is called after each batch."""
    k = r.model.topk if top is None else top
    if k <= 0:
        raise RunError(f"must be a positive number of classes (got {k})", where="--top")
    k = min(k, r.model.num_classes)
    batch = batch or max(r.checkpoint.settings.mini, 128)
    side, grey = stored_form(r)
    names = class_names(r)
    out = Predicted([], k=k, views=10 if multiview else 1)
    for start in range(0, len(files), batch):
        chunk, arrays = [], []
        for f in files[start:start + batch]:
            try:
                arrays.append(read_square(f, side, grey=grey))
                chunk.append(f)
            except ImageError as e:
                out.skipped.append((str(f), str(e)))
                if on_skip is not None:
                    on_skip(str(f), str(e))
        if arrays:
            probs = probabilities(r, torch.from_numpy(np.stack(arrays)), multiview).double()
            # a stable sort: ties go to the lower class, as `show`'s top_k
            order = torch.sort(probs, dim=1, descending=True, stable=True).indices[:, :k]
            values = probs.gather(1, order)
            for f, cls, p in zip(chunk, order.tolist(), values.tolist()):
                out.predictions.append(Prediction(str(f), tuple(names[c] for c in cls), tuple(cls),
                                                  tuple(p)))
        if progress is not None:
            progress(min(start + batch, len(files)))
    return out
