"""Shared pieces of the runtime tests: a tiny two-column spec and tiny synthetic datasets.

(A module named test_* so it sits with the runtime tests; it holds no tests itself.)
"""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.tiny_spec import tiny_spec

REPO = Path(__file__).resolve().parents[1]

# tests/specs/tiny-twocol.cfg (two columns, LRN and overlapping pooling per column, a crossing
# conv, a crossing dropout fc, a 10-way fc: the runtime's code paths at a few milliseconds per
# step), with the learning rates left to `write_spec`.
TINY_SPEC = tiny_spec({"*": {"epsW": "{eps}", "epsB": "{eps}"}})


def write_spec(dir: Path, eps: str = "0.01", name: str = "tiny.cfg") -> Path:
    path = dir / name
    path.write_text(TINY_SPEC.format(eps=eps))
    return path


def synthetic_images(n: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Grey images whose class is visible: a bright bar at a class-dependent place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
    for i, c in enumerate(labels):
        r = 2 + int(c) * (size - 6) // 10
        images[i, r:r + 4, 4:size - 4] = 220
    return images, labels


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_like(dir: Path, n_train: int = 256, n_val: int = 64) -> Path:
    """A tiny dataset in Fashion-MNIST's IDX layout (what `--data DIR` reads)."""
    dir.mkdir(parents=True, exist_ok=True)
    for stem, (n, seed) in (("train", (n_train, 1)), ("t10k", (n_val, 2))):
        images, labels = synthetic_images(n, seed)
        write_idx(dir / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(dir / f"{stem}-labels-idx1-ubyte.gz", labels)
    return dir


def cli(*args: str, cwd: Path | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """`alexspec ARGS` in a fresh process (one thread, as the tests)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "alexspec.cli", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)
