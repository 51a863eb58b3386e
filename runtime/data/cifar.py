"""cuda-convnet's CIFAR-10 python batches: `data_batch_1..5` (train), `test_batch` (validation).

The batches are pickles. Unpickling can run code, so they are read with an unpickler that only
builds plain containers and numpy arrays; anything else is refused.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from alexspec.errors import RunError
from alexspec.runtime.data.base import HOW_TO_GET, DataSource, TensorSplit

TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
VAL = ("test_batch",)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def looks_like(root: Path) -> bool:
    """A CIFAR-10 batches folder holds data_batch_1."""
    return (root / TRAIN[0]).is_file()


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as e:
        raise RunError(f"cannot read CIFAR-10 batch: {e}", where=str(path)) from None
    if not isinstance(d, dict):
        raise RunError(f"not a CIFAR-10 batch (a pickled {type(d).__name__}, not a dict)", where=str(path))
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise RunError("not a CIFAR-10 batch (no 'data' and 'labels')", where=str(path))
    try:
        data, labels = np.asarray(d["data"]), np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise RunError(f"CIFAR-10 batch has unreadable data or labels ({e})", where=str(path)) from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise RunError(f"CIFAR-10 batch has data {data.dtype} {data.shape} and {len(labels)} labels; "
                       "expected uint8 (N, 3072) and N labels", where=str(path))
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise RunError(f"CIFAR-10 batch has labels {labels.min()}..{labels.max()}; expected 0..{len(CLASSES) - 1}",
                       where=str(path))
    return data.reshape(-1, 3, 32, 32), labels


def _split(root: Path, names: tuple[str, ...]) -> TensorSplit:
    parts = []
    for name in names:
        if not (root / name).is_file():
            raise RunError(f"CIFAR-10 batch {name} is missing", where=str(root), hint=HOW_TO_GET)
        parts.append(_load_batch(root / name))
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if len(images) == 0:
        raise RunError("the dataset is empty", where=str(root), hint=HOW_TO_GET)
    return TensorSplit(torch.from_numpy(images), torch.from_numpy(labels))


def open_cifar10(root: Path) -> DataSource:
    """CIFAR-10 from cuda-convnet's python batches in `root`."""
    train, val = _split(root, TRAIN), _split(root, VAL)
    return DataSource("cifar-10", str(root), train, val, CLASSES, channels=3, stored_size=32)
