"""Fashion-MNIST from IDX files (the embedded default; Debian package `dataset-fashion-mnist`).

The 28x28 grey images are repeated to three channels; the pipeline scales them to the working size.
The t10k set is the validation set, as cuda-convnet used CIFAR-10's test batch.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from alexspec.errors import RunError
from alexspec.runtime.data.base import HOW_TO_GET, DataSource, TensorSplit

# Where the Debian package puts it; ALEXSPEC_FASHION_MNIST overrides.
DEFAULT_DIR = Path(os.environ.get("ALEXSPEC_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPE = {0x08: np.uint8}


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    return None


def looks_like(root: Path) -> bool:
    return _find(root, FILES["train"][0]) is not None


MAX_IDX_BYTES = 2**31  # 2 GiB: 40 times Fashion-MNIST's training images


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array; a damaged file is a RunError naming it.
    The header's sizes are checked (at most MAX_IDX_BYTES) before the body is read, so a small
    gzip that would inflate to gigabytes is refused without inflating it."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise RunError("not an IDX file (too short)", where=str(path))
            zero, dtype, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype not in _DTYPE or ndim == 0 or ndim > 4:
                raise RunError(f"not an unsigned-byte IDX file (magic {head.hex()})", where=str(path))
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise RunError("IDX header is truncated", where=str(path))
            dims = struct.unpack(f">{ndim}I", raw_dims)
            expected = math.prod(dims)
            if expected > MAX_IDX_BYTES:
                raise RunError(f"IDX header promises {expected:,} bytes ({'x'.join(map(str, dims))}), "
                               f"more than {MAX_IDX_BYTES:,}: not a dataset this reads", where=str(path))
            body = f.read(expected + 1)  # one more: a longer body is as wrong as a shorter one
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise RunError(f"cannot read IDX file: {e}", where=str(path)) from None
    if len(body) != expected:
        got = f"{len(body):,}" if len(body) <= expected else "more than that"
        raise RunError(f"IDX file holds {got} bytes of data, its header promises "
                       f"{expected:,} ({'x'.join(map(str, dims))})", where=str(path))
    return np.frombuffer(body, dtype=_DTYPE[dtype]).reshape(dims)


def _split(root: Path, which: str) -> TensorSplit:
    img_stem, lab_stem = FILES[which]
    img_path, lab_path = _find(root, img_stem), _find(root, lab_stem)
    if img_path is None or lab_path is None:
        missing = img_stem if img_path is None else lab_stem
        raise RunError(f"Fashion-MNIST file {missing}[.gz] is missing", where=str(root), hint=HOW_TO_GET)
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise RunError(f"images {images.shape} and labels {labels.shape} do not match", where=str(img_path))
    if len(images) == 0:
        raise RunError("the dataset is empty", where=str(img_path), hint=HOW_TO_GET)
    if int(labels.max()) >= len(CLASSES):
        raise RunError(f"label {int(labels.max())} out of range 0..9", where=str(lab_path))
    # (N, 28, 28) grey -> (N, 3, 28, 28): repeated, not copied, until a batch is taken.
    x = torch.from_numpy(images.copy()).unsqueeze(1).expand(-1, 3, -1, -1)
    return TensorSplit(x, torch.from_numpy(labels.astype(np.int64)))


def open_fashion_mnist(root: Path) -> DataSource:
    """Fashion-MNIST train (60,000) and t10k (10,000) from `root`."""
    root = Path(root)
    if not root.is_dir():
        raise RunError("Fashion-MNIST not found", where=str(root), hint=HOW_TO_GET)
    train, val = _split(root, "train"), _split(root, "val")
    return DataSource("fashion-mnist", str(root), train, val, CLASSES, channels=3,
                      stored_size=int(train.images.shape[-1]))
