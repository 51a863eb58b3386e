"""An image-folder tree (ImageNet's layout): `ROOT/train/<class>/*`, `ROOT/val/<class>/*`.

Each image is decoded with Pillow, its shorter side scaled to the working size and the centre
square kept (256 for a 224 net, as the paper). A corrupt image is skipped, named through the skip
hook and counted; more than `max_bad_in_row` in a row stop the run. `pack` decodes every image once
into uint8 shards (`ROOT/.alexspec-shards-<size>/`), so later epochs and runs read arrays instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from alexspec.errors import RunError
from alexspec.runtime.data.base import HOW_TO_GET, DataSource, SkipHook
from alexspec.runtime.images import EXTENSIONS, read_square

SHARD = 4096  # images per shard file


def looks_like(root: Path) -> bool:
    """An image-folder tree has a train/ directory."""
    return (root / "train").is_dir()


def decode(path: Path, size: int) -> np.ndarray:
    """One image as uint8 (3, size, size): shorter side scaled to `size`, centre square kept
    (`alexspec.runtime.images.read_square`, shared with `alexspec predict`). Raises ImageError
    (a ValueError) for an unreadable or too large file."""
    return read_square(path, size)


@dataclass
class FolderSplit:
    """Files decoded on demand. `get` drops the images that fail to decode."""

    files: list[Path]
    labels: torch.Tensor
    size: int
    on_skip: SkipHook | None = None
    max_bad_in_row: int = 20
    bad: set[int] = field(default_factory=set)  # indices known bad: same file, same decision
    _in_row: int = 0

    def __len__(self) -> int:
        return len(self.files)

    @property
    def skipped(self) -> int:
        return len(self.bad)

    def _fail(self, i: int, reason: str) -> None:
        if i not in self.bad:
            self.bad.add(i)
            if self.on_skip is not None:
                self.on_skip(str(self.files[i]), reason)
        self._in_row += 1
        if self._in_row > self.max_bad_in_row:
            raise RunError(f"{self._in_row} images in a row could not be decoded (last: {reason}); "
                           "the data looks broken", where=str(self.files[i]))

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        images, keep = [], []
        for i in indices.tolist():
            if i in self.bad:
                self._fail(i, "skipped before")
                continue
            try:
                images.append(decode(self.files[i], self.size))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # Pillow's errors
                self._fail(i, f"{type(e).__name__}: {e}")
                continue
            self._in_row = 0
            keep.append(i)
        if not images:
            return torch.empty(0, 3, self.size, self.size, dtype=torch.uint8), self.labels[:0]
        return torch.from_numpy(np.stack(images)), self.labels[torch.tensor(keep, dtype=torch.long)]


def _listing(root: Path, classes: tuple[str, ...] | None) -> tuple[list[Path], list[int], tuple[str, ...]]:
    if not root.is_dir():
        raise RunError("folder is missing", where=str(root), hint=HOW_TO_GET)
    found = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")))
    if classes is None:
        classes = found
    else:
        extra = sorted(set(found) - set(classes))
        if extra:
            raise RunError(f"classes not in train/: {', '.join(extra)}", where=str(root))
    files, labels = [], []
    for c, name in enumerate(classes):
        d = root / name
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in EXTENSIONS and f.is_file():
                files.append(f)
                labels.append(c)
    if not files:
        raise RunError("no images found (expected <class>/*.jpg under it)", where=str(root), hint=HOW_TO_GET)
    return files, labels, classes


def _shard_dir(root: Path, size: int) -> Path:
    return root / f".alexspec-shards-{size}"


def pack_split(split: FolderSplit, out: Path, which: str) -> ShardSplit:
    """Decode every image of `split` once and write uint8 shards `out/<which>-NNNN.npy` plus labels.
    The index file is written last (atomically), so a half-written pack is never used."""
    out.mkdir(parents=True, exist_ok=True)
    shards, labels = [], []
    for k, start in enumerate(range(0, len(split), SHARD)):
        idx = torch.arange(start, min(start + SHARD, len(split)))
        images, lab = split.get(idx)
        name = f"{which}-{k:04d}.npy"
        np.save(out / name, images.numpy(), allow_pickle=False)
        shards.append(name)
        labels.append(lab)
    np.save(out / f"{which}-labels.npy", torch.cat(labels).numpy(), allow_pickle=False)
    index = out / f"{which}.json"
    tmp = index.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"shards": shards, "labels": f"{which}-labels.npy", "files": len(split),
                               "skipped": sorted(str(split.files[i]) for i in split.bad)}))
    os.replace(tmp, index)
    return _read_pack(out, which)


@dataclass
class ShardSplit:
    """Packed images, memory-mapped: nothing is decoded and only the asked-for images are read."""

    shards: list[np.ndarray]  # each (n_k, 3, S, S) uint8, memory-mapped
    labels: torch.Tensor

    def __post_init__(self) -> None:
        self._starts = torch.tensor(np.cumsum([0] + [len(s) for s in self.shards])[:-1])

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def skipped(self) -> int:
        return 0

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        which = torch.searchsorted(self._starts, indices, right=True) - 1
        rows = [self.shards[k][i - int(self._starts[k])] for i, k in zip(indices.tolist(), which.tolist())]
        return torch.from_numpy(np.stack(rows)), self.labels[indices]


def _pack_meta(out: Path, which: str) -> dict:
    try:
        meta = json.loads((out / f"{which}.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:  # ValueError: JSONDecodeError
        raise RunError(f"the packed copy's index {which}.json is damaged ({e}); delete the folder to repack",
                       where=str(out)) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("shards"), list) or \
            not isinstance(meta.get("labels"), str):
        raise RunError(f"the packed copy's index {which}.json is not one alexspec wrote; delete the "
                       "folder to repack", where=str(out))
    return meta


def _read_pack(out: Path, which: str) -> ShardSplit:
    meta = _pack_meta(out, which)
    try:
        shards = [np.load(out / str(s), mmap_mode="r", allow_pickle=False) for s in meta["shards"]]
        labels = np.load(out / meta["labels"], allow_pickle=False).astype(np.int64)
    except (OSError, ValueError) as e:  # a missing, truncated or foreign .npy file
        raise RunError(f"the packed copy is damaged ({type(e).__name__}: {e}); delete the folder to repack",
                       where=str(out)) from None
    if sum(len(s) for s in shards) != len(labels) or \
            any(s.ndim != 4 or s.dtype != np.uint8 for s in shards) or labels.ndim != 1:
        raise RunError("packed shards and labels disagree; delete the folder to repack", where=str(out))
    return ShardSplit(shards, torch.from_numpy(labels))


def open_folder(root: Path, size: int, *, on_skip: SkipHook | None = None, pack: bool = False,
                max_bad_in_row: int = 20) -> DataSource:
    """The folder tree at `root`, decoded at `size`; packed into shards once when `pack`."""
    tf, tl, classes = _listing(root / "train", None)
    vf, vl, _ = _listing(root / "val", classes)
    splits = [FolderSplit(f, torch.tensor(lab), size, on_skip, max_bad_in_row) for f, lab in ((tf, tl), (vf, vl))]
    shards = _shard_dir(root, size)
    if pack or (shards / "train.json").is_file():
        packed = []
        for which, split in zip(("train", "val"), splits):
            if (shards / f"{which}.json").is_file():
                had = _pack_meta(shards, which).get("files")
                if had == len(split):
                    packed.append(_read_pack(shards, which))
                    continue
                if not pack:  # images were added or removed since it was packed
                    raise RunError(f"the packed copy of {which}/ was made from {had} files, the folder now "
                                   f"holds {len(split)}", where=str(shards),
                                   hint="pass --pack-data to repack, or delete the folder")
            packed.append(pack_split(split, shards, which))
        splits = packed
    return DataSource("folder", str(root), splits[0], splits[1], classes, channels=3, stored_size=size,
                      native_size=_native_size(tf))


def _native_size(files: list[Path]) -> int | None:
    """The shorter side of the first readable training image (its header only), or None."""
    from PIL import Image

    for f in files[:20]:
        try:
            with Image.open(f) as im:
                return min(im.size)
        except (OSError, ValueError, SyntaxError):
            continue
    return None
