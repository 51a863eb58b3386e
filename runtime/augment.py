"""The paper's input pipeline (section 4.1), in torch, with every random draw from a given Generator.

Pixels stay in cuda-convnet's raw 0..255 unit. A batch is scaled to the working size (`imgSize`,
256 for a 224 net), the mean image (or mean colour) is subtracted, and then
- training: a random `innerSize` crop (every offset 0..imgSize-innerSize, both axes), a horizontal
  flip with probability 1/2, and PCA colour noise: every pixel of an image gets
  `255 * [p1 p2 p3] [a1*l1, a2*l2, a3*l3]^T` with `a_i ~ N(0, colorNoise)` drawn once per image per
  presentation, where `p_i`, `l_i` are the eigenvectors and eigenvalues of the training set's RGB
  covariance computed on pixels scaled to [0, 1] (the unit of the commonly quoted ImageNet values);
- testing: the centre crop, or the ten views (four corners and centre, and their flips).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alexspec.errors import RunError
from alexspec.runtime.data.base import Split


@dataclass(frozen=True)
class DataStats:
    """What the pipeline learns from the training set: mean (C, S, S) at the working size, in
    0..255 units, and the RGB PCA (eigvec columns (3, 3), eigval (3,)) on a [0, 1] scale."""

    mean: torch.Tensor
    eigvec: torch.Tensor
    eigval: torch.Tensor

    def state(self) -> dict[str, torch.Tensor]:
        """The tensors, as stored in a checkpoint."""
        return {"mean": self.mean, "eigvec": self.eigvec, "eigval": self.eigval}

    @classmethod
    def from_state(cls, d: dict[str, torch.Tensor]) -> "DataStats":
        """The inverse of `state`."""
        return cls(d["mean"], d["eigvec"], d["eigval"])


def to_working(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B, C, h, w) -> float32 (B, C, size, size), bilinearly scaled when h or w differ."""
    x = images.float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def compute_stats(split: Split, size: int, mean: str, *, max_images: int = 10_000,
                  batch: int = 1000, seed: int = 0, where: str | None = None) -> DataStats:
    """Mean image (or mean colour, or zeros) and RGB PCA over up to `max_images` training images
    (all of them when the split is smaller; a seeded sample otherwise), accumulated in float64.
    A RunError located at `where` (the data's location) when no sampled image can be read."""
    n = len(split)
    idx = torch.arange(n) if n <= max_images else \
        torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_images].sort().values
    total, sq, count, pixels = None, torch.zeros(3, 3, dtype=torch.float64), 0, 0
    csum = torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(idx), batch):
        x, _ = split.get(idx[start:start + batch])
        if len(x) == 0:
            continue
        x = x.double()  # (B, C, h, w), stored size
        total = x.sum(0) if total is None else total + x.sum(0)
        count += len(x)
        if x.shape[1] == 3:
            p = x.permute(0, 2, 3, 1).reshape(-1, 3) / 255.0  # every pixel an RGB vector
            csum += p.sum(0)
            sq += p.T @ p
            pixels += len(p)
    if total is None:
        raise RunError(f"none of the {len(idx):,} training images sampled for the mean and colour "
                       "statistics could be read", where=where, hint="check the data for corrupt files")
    img_mean = (total / count).float()
    if mean == "image":
        m = to_working(img_mean.unsqueeze(0), size)[0] if img_mean.shape[-1] != size else img_mean
    elif mean == "channel":
        m = img_mean.mean(dim=(1, 2), keepdim=True).expand(-1, size, size).contiguous()
    else:
        m = torch.zeros(img_mean.shape[0], size, size)
    if pixels:
        mu = csum / pixels
        cov = sq / pixels - torch.outer(mu, mu)
        eigval, eigvec = torch.linalg.eigh(cov)  # ascending
        eigval, eigvec = eigval.flip(0).clamp_min(0), eigvec.flip(1)
    else:
        eigval, eigvec = torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    return DataStats(m, eigvec.float(), eigval.float())


def _gather(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor, size: int) -> torch.Tensor:
    """Per-image crops (and mirror images where `flip`): (B, C, S, S) -> (B, C, size, size)."""
    b, c = x.shape[:2]
    r = torch.arange(size)
    rows = oy[:, None] + r  # (B, size)
    cols = torch.where(flip[:, None], ox[:, None] + size - 1 - r, ox[:, None] + r)
    return x[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]


@dataclass(frozen=True)
class Augment:
    """The pipeline's settings: working size, crop size, flips, colour noise std, and whether
    training crops are random (`crop`) or the centre one."""

    img_size: int
    inner_size: int
    flip: bool = True
    color_noise: float = 0.1
    crop: bool = True

    def __post_init__(self) -> None:
        if self.inner_size > self.img_size:
            raise ValueError(f"innerSize {self.inner_size} > imgSize {self.img_size}")

    def train_batch(self, images: torch.Tensor, stats: DataStats, gen: torch.Generator) -> torch.Tensor:
        """uint8 (B, C, h, w) -> float32 (B, C, inner, inner): scale, centre, crop, flip, noise.
        Draws, in this order: crop rows, crop columns, flips, colour alphas."""
        x = to_working(images, self.img_size) - stats.mean
        b, s, i = len(x), self.img_size, self.inner_size
        if self.crop:
            oy = torch.randint(0, s - i + 1, (b,), generator=gen)
            ox = torch.randint(0, s - i + 1, (b,), generator=gen)
        else:
            oy = ox = torch.full((b,), (s - i) // 2, dtype=torch.long)
        flip = torch.rand(b, generator=gen) < 0.5 if self.flip else torch.zeros(b, dtype=torch.bool)
        x = _gather(x, oy, ox, flip, i)
        if self.color_noise > 0 and x.shape[1] == 3:
            alpha = torch.randn(b, 3, generator=gen) * self.color_noise
            shift = 255.0 * (alpha * stats.eigval) @ stats.eigvec.T  # (B, 3): sum_i a_i l_i p_i
            x = x + shift[:, :, None, None]
        return x

    def views(self, images: torch.Tensor, stats: DataStats, multiview: bool) -> torch.Tensor:
        """uint8 (B, C, h, w) -> (V, B, C, inner, inner): V=1 (centre crop) or the paper's ten."""
        x = to_working(images, self.img_size) - stats.mean
        b, s, i = len(x), self.img_size, self.inner_size
        c = (s - i) // 2
        corners = [(c, c)] + ([(0, 0), (0, s - i), (s - i, 0), (s - i, s - i)] if multiview else [])
        out = []
        for flipped in ((False, True) if multiview else (False,)):
            for y, xo in corners:
                full = lambda v: torch.full((b,), v, dtype=torch.long)  # noqa: E731
                out.append(_gather(x, full(y), full(xo), torch.full((b,), flipped), i))
        return torch.stack(out)
