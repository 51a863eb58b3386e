"""Validation and testing: log-prob, top-1 and top-5 error on the centre crop or the paper's ten
views (softmax averaged over the views)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alexspec.runtime.augment import Augment, DataStats
from alexspec.runtime.data.base import Split


@dataclass(frozen=True)
class Scores:
    """Averages over `images`: logprob (cost), top-1 and top-5 error rates in [0, 1]. For a cost
    without classes (`Cost.classifies` False: cost.sum2) `loss` is that cost's value and the
    error rates are NaN: there is nothing to count."""

    loss: float
    top1: float
    top5: float
    images: int
    views: int

    @property
    def classifies(self) -> bool:
        """Whether the error rates mean anything (False for cost.sum2)."""
        return not math.isnan(self.top1) or self.images == 0


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split, augment: Augment, stats: DataStats, *,
             multiview: bool = False, batch: int = 128, limit: int | None = None,
             progress=None, should_stop=None) -> Scores | None:
    """Run `model` in eval mode over the first `limit` images of `split` (all by default).

    `progress(images_done)` is called after each batch; when `should_stop()` turns true (a stop
    signal) the pass ends at once and None is returned. The model is left in eval mode.
    """
    model.eval()
    n = len(split) if limit is None else min(limit, len(split))
    loss_sum, hit1, hit5, seen, views = 0.0, 0, 0, 0, 1
    classifies = True
    for start in range(0, n, batch):
        if should_stop is not None and should_stop():
            return None
        images, labels = split.get(torch.arange(start, min(start + batch, n)))
        if len(images) == 0:
            continue
        x = augment.views(images, stats, multiview)  # (V, B, C, S, S)
        views = len(x)
        outs = [model(v) for v in x]
        labels = labels.long()
        # the first batch's Cost says whether the net's cost has classes (a bare module: a classifier)
        if seen == 0 and hasattr(model, "cost"):
            classifies = model.cost(outs[0], labels).classifies
        if not classifies:  # cost.sum2: the cost's value (a batch mean), averaged over the views
            loss_sum += sum(float(model.cost(o, labels).loss) for o in outs) / len(outs) * len(labels)
            seen += len(labels)
            if progress is not None:
                progress(seen)
            continue
        probs = torch.stack([F.softmax(o.float(), dim=1) for o in outs]).mean(0).cpu()
        p_true = probs.gather(1, labels[:, None])[:, 0]
        loss_sum += float(-torch.log(p_true.clamp_min(1e-30)).sum())
        top = probs.topk(min(5, probs.shape[1]), dim=1).indices
        hit1 += int((top[:, 0] == labels).sum())
        hit5 += int((top == labels[:, None]).any(1).sum())
        seen += len(labels)
        if progress is not None:
            progress(seen)
    if seen == 0:
        return Scores(float("nan"), float("nan"), float("nan"), 0, views)
    if not classifies:
        return Scores(loss_sum / seen, math.nan, math.nan, seen, views)
    return Scores(loss_sum / seen, 1 - hit1 / seen, 1 - hit5 / seen, seen, views)
