"""The hand-written AlexNet that the compiled one is checked (tests/test_lowering.py) and timed
(bench/bench_step.py) against: one device, no placement, the two columns as groups=2.

(Not a test module: it holds no tests.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def paper_lrn(x: torch.Tensor, k: float = 2.0, n: int = 5, alpha: float = 1e-4,
              beta: float = 0.75) -> torch.Tensor:
    """The paper's LRN, literally: b_i = a_i / (k + alpha * sum_{|j-i|<=n/2} a_j^2)^beta."""
    sq = F.pad(x * x, (0, 0, 0, 0, n // 2, n // 2))
    s = sum(sq[:, j:j + x.shape[1]] for j in range(n))
    return x / (k + alpha * s) ** beta


def torch_lrn(x: torch.Tensor) -> torch.Tensor:
    """The same LRN through torch's kernel (it divides alpha by n: 5e-4 / 5 = the paper's 1e-4)."""
    return F.local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2.0)


class GroupedAlexNet(nn.Module):
    """AlexNet as one would write it by hand on one device: groups=2 on conv2/4/5, LRN per
    column half, conv1 padded (0,3) right/bottom, the paper's dropout after fc6 and fc7 (a
    keep-0.5 mask in training mode, x0.5 in eval mode). `lrn` is `paper_lrn` (the literal
    formula: the tests' oracle) or `torch_lrn` (the fast kernel: the benchmark's reference)."""

    def __init__(self, lrn: Callable[[torch.Tensor], torch.Tensor] = paper_lrn):
        super().__init__()
        self.lrn_fn = lrn
        self.conv1 = nn.Conv2d(3, 96, 11, 4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6, self.fc7, self.fc8 = nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)

    def lrn(self, x: torch.Tensor) -> torch.Tensor:
        """LRN within each column half of the channels."""
        return torch.cat([self.lrn_fn(h) for h in x.chunk(2, 1)], 1)

    def drop(self, x: torch.Tensor) -> torch.Tensor:
        """The paper's dropout: zero half the units when training, halve every unit when testing."""
        return x * torch.empty_like(x).bernoulli_(0.5) if self.training else 0.5 * x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """224x224x3 images -> 1000 class scores."""
        x = F.max_pool2d(self.lrn(F.relu(self.conv1(F.pad(x, (0, 3, 0, 3))))), 3, 2)
        x = F.max_pool2d(self.lrn(F.relu(self.conv2(x))), 3, 2)
        x = F.relu(self.conv4(F.relu(self.conv3(x))))
        x = F.max_pool2d(F.relu(self.conv5(x)), 3, 2).flatten(1)
        x = self.drop(F.relu(self.fc6(x)))
        x = self.drop(F.relu(self.fc7(x)))
        return self.fc8(x)
