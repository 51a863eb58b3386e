"""The split interface every provider implements, and `open_data`, which picks the provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from alexspec.errors import RunError

SkipHook = Callable[[str, str], None]  # (file, reason): told about every corrupt image skipped


class Split(Protocol):
    """A fixed list of labelled images. `get` may return fewer images than asked for when some
    could not be decoded (they are skipped, named through the skip hook, and counted)."""

    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int: ...

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (B, C, h, w) and int64 labels (B,) for `indices` (skipping bad ones)."""
        ...

    @property
    def skipped(self) -> int:
        """How many images were skipped because they could not be decoded."""
        ...


@dataclass
class TensorSplit:
    """A split held in memory: uint8 images (N, C, h, w) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[indices], self.labels[indices]

    @property
    def skipped(self) -> int:
        return 0

    def subset(self, indices: torch.Tensor) -> "TensorSplit":
        return TensorSplit(self.images[indices], self.labels[indices])


@dataclass
class DataSource:
    """What a run trains and validates on. `describe` is the one line the CLI prints."""

    name: str  # "fashion-mnist" | "cifar-10" | "folder"
    location: str  # the directory it was read from
    train: Split
    val: Split
    classes: tuple[str, ...]
    channels: int
    stored_size: int  # side of the stored images (the pipeline resizes to the working size)
    native_size: int | None = None  # side of the files before decoding (image folders), if known

    def describe(self) -> str:
        return (f"{self.name} from {self.location}: {len(self.train):,} training and "
                f"{len(self.val):,} validation images, {len(self.classes)} classes, "
                f"stored {self.stored_size}x{self.stored_size}x{self.channels}"
                + (f" (files {self.native_size}x{self.native_size})"
                   if self.native_size and self.native_size != self.stored_size else ""))


def subset_indices(labels: torch.Tensor, keep: int | None, seed: int) -> torch.Tensor | None:
    """A seeded choice of `keep` of the images with these `labels` (sorted indices), stratified
    by class: each class gets its share of `keep` in proportion to its size (largest remainders
    first, so every class is covered as soon as `keep` reaches the number of classes), and the
    images within a class are a random draw. None when all are kept."""
    n = len(labels)
    if keep is None or keep >= n:
        return None
    g = torch.Generator().manual_seed(0x5EED0000 + seed)
    classes, counts = torch.unique(labels, return_counts=True)
    quota = counts.double() * keep / n
    share = quota.floor().long()
    left = keep - int(share.sum())
    if left:
        # Largest remainder first; ties (and classes with no share yet) in a seeded order.
        order = torch.randperm(len(classes), generator=g)
        rem = (quota - share.double())[order] + (share[order] == 0).double()
        share[order[torch.argsort(rem, descending=True, stable=True)[:left]]] += 1
    picked = []
    for c, k in zip(classes.tolist(), share.tolist()):
        idx = (labels == c).nonzero().flatten()
        picked.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    return torch.cat(picked).sort().values


def covered(labels: torch.Tensor) -> int:
    """How many classes `labels` holds."""
    return int(torch.unique(labels).numel()) if len(labels) else 0


@dataclass
class SubsetSplit:
    """Some images of another split (`indices` into it), read only when asked for."""

    base: Split
    indices: torch.Tensor

    def __post_init__(self) -> None:
        self.labels = self.base.labels[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.base.get(self.indices[indices])

    @property
    def skipped(self) -> int:
        return self.base.skipped


HOW_TO_GET = (
    "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
    "or pass --data DIR with an image-folder tree (DIR/train/<class>/*.jpg, DIR/val/<class>/*.jpg), "
    "cuda-convnet's CIFAR-10 python batches (data_batch_1..5, test_batch), or Fashion-MNIST IDX files"
)


def open_data(spec: str | None, img_size: int, *, on_skip: SkipHook | None = None,
              pack: bool = False, max_bad_in_row: int = 20) -> DataSource:
    """Open the data named by `spec`: None or 'fashion-mnist' (the embedded default), or a directory
    holding IDX files, CIFAR-10 python batches or an image-folder tree.

    `img_size` is the working size; image folders are decoded at that size (shorter side scaled,
    centre square kept). `pack` packs a folder tree into uint8 shards once. Raises RunError with
    a hint on how to get data when nothing usable is found.
    """
    from alexspec.runtime.data import cifar, fashion, folder

    if spec is None or spec.lower() in ("fashion-mnist", "fashion_mnist", "fmnist"):
        return fashion.open_fashion_mnist(fashion.DEFAULT_DIR)
    root = Path(spec)
    if not root.exists():
        raise RunError("no such data directory", where=str(root), hint=HOW_TO_GET)
    if not root.is_dir():
        raise RunError("data must be a directory", where=str(root), hint=HOW_TO_GET)
    if fashion.looks_like(root):
        return fashion.open_fashion_mnist(root)
    if cifar.looks_like(root):
        return cifar.open_cifar10(root)
    if folder.looks_like(root):
        return folder.open_folder(root, img_size, on_skip=on_skip, pack=pack,
                                  max_bad_in_row=max_bad_in_row)
    raise RunError("no dataset found here (expected IDX files, CIFAR-10 batches or train/ and val/ "
                   "folders of class folders)", where=str(root), hint=HOW_TO_GET)
