"""Figure 4's numbers: top-5 predictions of test images, and nearest training images by the
Euclidean distance of the last hidden layer's output."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TopK:
    """For each image: the k most probable classes (most probable first) and their probabilities."""

    classes: torch.Tensor  # (N, k) int64
    probs: torch.Tensor  # (N, k) float

    def contains(self, labels: torch.Tensor) -> torch.Tensor:
        """(N,) bool: is the true label among the k?"""
        return (self.classes == labels.view(-1, 1)).any(dim=1)


def top_k(scores: torch.Tensor, k: int = 5) -> TopK:
    """Softmax over class scores (N, classes), then the k largest (ties: lower class first)."""
    probs = torch.softmax(scores.detach().to("cpu", torch.float64), dim=1)
    k = min(k, probs.shape[1])
    # A stable descending sort keeps ties deterministic.
    order = torch.sort(probs, dim=1, descending=True, stable=True).indices[:, :k]
    return TopK(order, probs.gather(1, order))


@dataclass(frozen=True)
class Neighbours:
    """For each query: the indices (into the searched bank) of its k nearest, nearest first,
    and their Euclidean distances."""

    indices: torch.Tensor  # (Q, k) int64
    distances: torch.Tensor  # (Q, k) float64


def nearest(queries: torch.Tensor, bank: torch.Tensor, k: int = 6, chunk: int = 4096) -> Neighbours:
    """The k rows of `bank` (N, D) nearest in Euclidean distance to each row of `queries` (Q, D),
    computed in float64 chunk by chunk (bounded memory); ties go to the lower index."""
    q = queries.detach().to("cpu", torch.float64).flatten(1)
    best_d = torch.full((len(q), 0), 0.0, dtype=torch.float64)
    best_i = torch.zeros((len(q), 0), dtype=torch.int64)
    for start in range(0, len(bank), chunk):
        b = bank[start:start + chunk].detach().to("cpu", torch.float64).flatten(1)
        d = torch.cdist(q, b, compute_mode="donot_use_mm_for_euclid_dist")
        i = torch.arange(start, start + len(b)).expand(len(q), -1)
        d, i = torch.cat([best_d, d], 1), torch.cat([best_i, i], 1)
        # sort by (distance, index): indices are already ascending within d, so a stable sort works
        order = torch.sort(d, dim=1, stable=True).indices[:, :k]
        best_d, best_i = d.gather(1, order), i.gather(1, order)
    return Neighbours(best_i, best_d)
