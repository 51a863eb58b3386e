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

REPO = Path(__file__).resolve().parents[1]

# Two columns, LRN and overlapping pooling per column, a crossing conv, a crossing dropout fc,
# a 10-way fc: the runtime's code paths at a few milliseconds per step.
TINY_SPEC = """
[net]
type=net
innerSize=12
imgSize=14
mini=16
epochs=4
colorNoise=0.1
mean=image

[*]
epsW={eps}
epsB={eps}
momW=0.9
momB=0.9
wc=0.0005
initW=0.05

[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

[conv1]
type=conv
inputs=data
columns=2
channels=3
filters=16
filterSize=3
padding=1
neuron=relu
initW=0.005

[rnorm1]
type=cmrnorm
inputs=conv1
channels=16
size=5
scale=0.0005
pow=0.75
minDiv=2

[pool1]
type=pool
inputs=rnorm1
pool=max
sizeX=3
stride=2
channels=16

[conv2]
type=conv
inputs=pool1
connect=all
channels=16
filters=16
filterSize=3
padding=1
neuron=relu

[fc3]
type=fc
inputs=conv2
connect=all
outputs=32
neuron=relu

[drop3]
type=dropout2
inputs=fc3
keep=0.5

[fc4]
type=fc
inputs=drop3
columns=1
outputs=10
initW=0.01

[probs]
type=softmax
inputs=fc4

[logprob]
type=cost.logreg
inputs=labels,probs
topk=5
"""


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
