"""Reading one image file into the pipeline's uint8 form: the one place that decodes with Pillow.

Any mode Pillow opens is converted to 8-bit RGB (or grey) without clipping:
- 16-bit and 32-bit integer grey (`I;16*`, `I`) is scaled from 0..65535 to 0..255 (Pillow's own
  `convert("RGB")` saturates every value above 255 to white);
- 32-bit float grey (`F`) is taken as 0..1 and scaled to 0..255;
- transparency (RGBA, LA, palette or RGB with a transparent colour) is composited over white;
- palette, CMYK, YCbCr, 1-bit: Pillow's conversion.
The size is bounded before any pixel is decoded (`MAX_PIXELS`, Pillow's own default), so a
decompression bomb is refused like a corrupt file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

MAX_PIXELS = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS default: about 9459 x 9459
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".gif", ".webp", ".tif",
              ".tiff")


class ImageError(ValueError):
    """An image file that cannot be read (unknown format, truncated, too many pixels)."""


def _to_mode(im, grey: bool):
    """`im` as 8-bit "RGB" (or "L" when `grey`), without saturating deep images."""
    from PIL import Image

    mode = im.mode
    if mode.startswith("I") or mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = a * 255.0 if mode == "F" else a / 257.0  # 65535 / 257 = 255
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
        mode = "L"
    if mode == "P" and "transparency" in im.info or mode in ("RGB", "L") and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return im.convert("L" if grey else "RGB")


def read_square(path: str | Path, size: int, *, grey: bool = False) -> np.ndarray:
    """One image file as uint8 (3, size, size): its shorter side scaled to `size` (bilinear) and
    the centre square kept. `grey` reads it as grey, repeated to the three channels (what
    Fashion-MNIST nets saw). Raises ImageError for a file that cannot be read or is too large."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise ImageError(f"{w} x {h} pixels is more than the {MAX_PIXELS:,} read")
                im = _to_mode(im, grey)
                s = size / min(w, h)
                nw, nh = max(size, round(w * s)), max(size, round(h * s))
                im = im.resize((nw, nh), Image.BILINEAR)
                left, top = (nw - size) // 2, (nh - size) // 2
                im = im.crop((left, top, left + size, top + size))
                a = np.asarray(im, dtype=np.uint8)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"too many pixels ({e})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # what Pillow raises for bad files
        raise ImageError(f"{type(e).__name__}: {e}") from None
    if a.ndim == 2:
        a = np.repeat(a[None], 3, axis=0)
    else:
        a = a.transpose(2, 0, 1)
    return np.ascontiguousarray(a)
