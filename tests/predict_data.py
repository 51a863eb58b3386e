"""The predict/export tests' data: a generated 3-class image folder and a tiny checkpoint on it.

(Not a test module: tests/test_predict.py and tests/test_export.py import it.)
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from tests.tiny_spec import tiny_spec

# The tests' tiny two-column net with a 3-way fc4, on a generated 3-class image folder.
TINY = tiny_spec({"net": {"mini": "16"}, "fc4": {"outputs": "3"}})
COLOURS = {"blue": (120, 120, 132), "green": (120, 132, 120), "red": (132, 120, 120)}


def make_folder(root: Path, train: int = 16, val: int = 10, noise: float = 110.0, seed: int = 0) -> Path:
    """ROOT/train/<colour>/*.png and ROOT/val/<colour>/*.png: noisy colour fields of odd sizes
    (some wide, some tall), close and noisy enough that a few steps of training make mistakes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("val", val)):
        for name, colour in COLOURS.items():
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = (18, 25) if i % 2 else (23, 16)
                a = np.array(colour)[None, None, :] + rng.normal(0, noise, (h, w, 3))
                Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(d / f"{i}.png")
    return root


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels and holds (almost) no pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def train_tiny(d: Path) -> tuple[Path, Path]:
    """(checkpoint, data root): three steps of the tiny net on a generated folder in `d`, CPU."""
    from alexspec.runtime.report import NullReporter
    from alexspec.runtime.session import RunOptions, run

    data = make_folder(d / "data")
    spec = d / "tiny.cfg"
    spec.write_text(TINY)
    torch.manual_seed(0)
    result = run(RunOptions(spec=str(spec), data=str(data), gpu="cpu", max_batches=3,
                            save_path=str(d / "run")), NullReporter())
    return Path(result.checkpoint), data
