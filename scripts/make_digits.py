"""Write a small held-out image-folder dataset: 10 digit-like classes as 32x32 RGB PNGs.

    python scripts/make_digits.py OUT [--train 140] [--val 40] [--seed 0]

OUT/train/<digit>/*.png and OUT/val/<digit>/*.png (ImageNet's layout, what `alexspec run --data`
reads). Each image is a digit drawn with Pillow's built-in font at a random size, offset and
rotation, in a random colour on a random background, with pixel noise: not Fashion-MNIST, and not
seen by the project's tests. Seeded: the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 32


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:
        return ImageFont.load_default()


def digit(d: int, rng: random.Random) -> Image.Image:
    """One 32x32 image of digit `d`."""
    big = 96  # drawn at 3x, then rotated and scaled down (smooth edges)
    fg = tuple(rng.randint(150, 255) for _ in range(3))
    bg = tuple(rng.randint(0, 90) for _ in range(3))
    im = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(im)
    font = _font(rng.randint(48, 72))
    box = draw.textbbox((0, 0), str(d), font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    x = (big - w) // 2 - box[0] + rng.randint(-12, 12)
    y = (big - h) // 2 - box[1] + rng.randint(-12, 12)
    draw.text((x, y), str(d), fill=fg, font=font)
    im = im.rotate(rng.uniform(-20, 20), resample=Image.BILINEAR, fillcolor=bg)
    im = im.resize((SIZE, SIZE), Image.LANCZOS)
    a = np.asarray(im).astype(np.int16)
    noise = np.random.default_rng(rng.getrandbits(32)).integers(-25, 26, a.shape)
    return Image.fromarray(np.clip(a + noise, 0, 255).astype(np.uint8))


def write(out: Path, n_train: int, n_val: int, seed: int) -> None:
    """The whole tree under `out`."""
    rng = random.Random(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for d in range(10):
            folder = out / split / str(d)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                digit(d, rng).save(folder / f"{d}-{i:04d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--train", type=int, default=140, help="training images per class (140)")
    ap.add_argument("--val", type=int, default=40, help="validation images per class (40)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    write(a.out, a.train, a.val, a.seed)
    print(f"wrote {10 * a.train} training and {10 * a.val} validation images to {a.out}")


if __name__ == "__main__":
    main()
