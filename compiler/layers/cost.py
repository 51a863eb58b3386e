"""Cost layers (cuda-convnet2 layer.cu CostLayer family), evaluated by `CompiledNet.cost`.

Each cost is `coeff` times a per-image cost averaged over the batch (cuda-convnet divides the
summed cost by the number of cases, `outputFilter`), and its gradient is that of the same value.
`labels` are the data provider's class indices; the costs whose first input is a label matrix
(crossent, bce, dce) read them as one-hot rows of the predicted width.

logreg   -log p[label], p = softmax(z), z the softmax's input (the model's output).
crossent -sum_k t_k log p_k, t one-hot, p = softmax(z) (CrossEntCostLayer, kCrossEntCost).
bce, dce -sum_k [posWeight t_k log y_k + (1 - t_k) log(1 - y_k)], y the probabilities the model
         outputs (usually a logistic neuron), logs clamped away from 0 as cuda-convnet's safelog
         (BinomialCrossEntOperator). dce is bce plus per-class precision counts (not reported).
sum2     sum_k x_k^2 of the model output x, no labels (SumOfSquaresCostLayer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from alexspec.compiler.layers.registry import lowers_cost
from alexspec.ir import CostLayer


@dataclass(frozen=True)
class Cost:
    """The cost layer's value for one batch. Counts are 0-dim tensors (no host sync).

    `classifies` is False for costs without classes (sum2): its hit counts are then 0 and mean
    nothing."""

    loss: Tensor
    correct_top1: Tensor
    correct_topk: Tensor
    k: int
    classifies: bool = True


CostFn = Callable[[Tensor, Tensor], Cost]
_TINY = 1e-30  # safelog: log(max(x, tiny))


def _hits(scores: Tensor, labels: Tensor, topk: int) -> tuple[Tensor, Tensor, int]:
    with torch.no_grad():
        k = min(topk, scores.shape[1])
        hit = scores.topk(k, dim=1).indices == labels[:, None]
        return hit[:, 0].sum(), hit.any(1).sum(), k


def _labels(labels: Tensor, scores: Tensor) -> Tensor:
    return labels.to(scores.device).long()


@lowers_cost("cost.logreg")
def logreg(layer: CostLayer) -> CostFn:
    def cost(scores: Tensor, labels: Tensor) -> Cost:
        labels = _labels(labels, scores)
        loss = layer.coeff * F.cross_entropy(scores.flatten(1), labels)
        return Cost(loss, *_hits(scores.flatten(1), labels, layer.topk))
    return cost


@lowers_cost("cost.crossent")
def crossent(layer: CostLayer) -> CostFn:
    def cost(scores: Tensor, labels: Tensor) -> Cost:
        z = scores.flatten(1)
        labels = _labels(labels, z)
        t = F.one_hot(labels, z.shape[1]).to(z.dtype)
        loss = layer.coeff * -(t * F.log_softmax(z, 1)).sum(1).mean()
        return Cost(loss, *_hits(z, labels, 1))
    return cost


@lowers_cost("cost.bce", "cost.dce")
def binomial(layer: CostLayer) -> CostFn:
    pos = float(getattr(layer, "pos_weight", 1.0) or 1.0)

    def cost(probs: Tensor, labels: Tensor) -> Cost:
        y = probs.flatten(1)
        labels = _labels(labels, y)
        t = F.one_hot(labels, y.shape[1]).to(y.dtype)
        ll = pos * t * y.clamp_min(_TINY).log() + (1 - t) * (1 - y).clamp_min(_TINY).log()
        loss = layer.coeff * -ll.sum(1).mean()
        return Cost(loss, *_hits(y, labels, 1))
    return cost


@lowers_cost("cost.sum2")
def sum2(layer: CostLayer) -> CostFn:
    def cost(x: Tensor, labels: Tensor) -> Cost:
        loss = layer.coeff * x.flatten(1).pow(2).sum(1).mean()
        zero = torch.zeros((), dtype=torch.long, device=x.device)
        return Cost(loss, zero, zero, 0, classifies=False)
    return cost
