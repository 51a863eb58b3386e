"""Does the input pipeline keep up with training? Images/s of the pipeline against the model's.

For each case, in the same process:
- pipeline: read a batch of 128 (decode JPEGs, or take packed/in-memory uint8), scale to the
  working size, subtract the mean, random crop, flip, PCA colour noise (`Augment.train_batch`);
- model: one training step (forward, cost, backward, the paper's SGD update) at batch 128.
It prints both rates and their ratio; a ratio above 1 means the data never starves training,
even though here both share the same CPU cores (on a GPU box the model side is much faster and
the ratio for JPEG decoding is what `--pack-data` is for).

    .venv/bin/python bench/bench_data.py [--steps N] [--alexnet]

`--alexnet` adds the 224/256 AlexNet case (slow on a CPU: each step takes several seconds).
It is a benchmark, not a test: nothing is asserted, numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import alexspec
from alexspec.compiler import build
from alexspec.runtime.augment import Augment, compute_stats
from alexspec.runtime.data import folder
from alexspec.runtime.data.fashion import DEFAULT_DIR, open_fashion_mnist
from alexspec.runtime.sgd import PaperSGD

ROOT = Path(__file__).resolve().parent.parent
BATCH = 128


def pipeline_rate(split, aug: Augment, stats, steps: int) -> float:
    g = torch.Generator().manual_seed(0)
    n = len(split)
    t = time.perf_counter()
    for k in range(steps):
        idx = torch.randint(0, n, (BATCH,), generator=g)
        images, _ = split.get(idx)
        aug.train_batch(images, stats, g)
    return steps * BATCH / (time.perf_counter() - t)


def model_rate(spec: str, steps: int) -> float:
    net = alexspec.load(str(ROOT / spec))
    model = build(net, "cpu")
    sgd = PaperSGD(model.learning_rules())
    c, h, w = model.input_shape
    x, y = torch.randn(BATCH, c, h, w), torch.randint(0, 10, (BATCH,))
    model.train()
    for k in range(steps + 1):
        if k == 1:  # the first step pays one-time allocation costs
            t = time.perf_counter()
        cost = model.cost(model(x), y)
        sgd.zero_grad()
        cost.loss.backward()
        sgd.step(0.0)
    return steps * BATCH / (time.perf_counter() - t)


def jpeg_tree(root: Path, n: int, size: tuple[int, int]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("val", 4)):
        for c in ("a", "b"):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(count // 2):
                arr = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
                Image.fromarray(arr).resize(size).save(d / f"{i}.jpg", quality=90)


def report(name: str, pipe: float, model: float) -> None:
    print(f"{name:<44} pipeline {pipe:9,.0f} img/s   model {model:9,.1f} img/s   ratio {pipe / model:7.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--alexnet", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch threads: {torch.get_num_threads()}, batch {BATCH}")

    ds = open_fashion_mnist(DEFAULT_DIR)
    mini = model_rate("specs/alexnet-mini.cfg", args.steps)
    aug = Augment(28, 24, True, 0.1)
    stats = compute_stats(ds.train, 28, "image", max_images=5000)
    report("mini: Fashion-MNIST in memory, 24 of 28", pipeline_rate(ds.train, aug, stats, 20), mini)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        jpeg_tree(root, BATCH, (340, 256))
        jpg = folder.open_folder(root, 256)
        packed = folder.open_folder(root, 256, pack=True)
        aug = Augment(256, 224, True, 0.1)
        stats = compute_stats(packed.train, 256, "image")
        if args.alexnet:
            alex = model_rate("specs/alexnet.cfg", 1)
            fm = Augment(256, 224, True, 0.1)
            fm_stats = compute_stats(ds.train, 256, "image", max_images=2000)
            report("alexnet: Fashion-MNIST 28 -> 256, 224 crops", pipeline_rate(ds.train, fm, fm_stats, 2), alex)
            report("alexnet: JPEG folder, decode 340x256 -> 256", pipeline_rate(jpg.train, aug, stats, 2), alex)
            report("alexnet: packed uint8 shards (--pack-data)", pipeline_rate(packed.train, aug, stats, 2), alex)
        else:
            for name, split in (("JPEG decode + 224 crops of 256", jpg.train),
                                ("packed shards + 224 crops of 256", packed.train)):
                rate = pipeline_rate(split, aug, stats, 2)
                print(f"{name:<44} pipeline {rate:9,.0f} img/s   (--alexnet compares with the model)")


if __name__ == "__main__":
    main()
