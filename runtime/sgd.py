"""The paper's update rule (section 5), per parameter, with cuda-convnet's per-layer rules:

    v := mom * v - wc * eps * w - eps * grad        w := w + v

`eps` is the rule's schedule at the current training progress (and plateau drop count), `mom`
and `wc` are the layer's momW/momB and wc (0 for biases). Unlike `torch.optim.SGD`, the velocity
already holds eps: after a learning-rate drop the stored momentum keeps its old size and is not
rescaled by the new rate, exactly as in the paper and in cuda-convnet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from alexspec.ir import Schedule


class Rule(Protocol):
    """What the compiler's `ParamRule` provides for one parameter tensor."""

    param: torch.nn.Parameter
    layer: str
    kind: str  # "weight" | "bias"
    eps: Schedule
    mom: float
    wc: float


class PaperSGD:
    """Momentum SGD with weight decay as the paper writes it; one velocity tensor per rule."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = list(rules)
        self.velocity = [torch.zeros_like(r.param, memory_format=torch.preserve_format) for r in self.rules]

    def rates(self, progress: float, drops: int = 0) -> list[float]:
        """The learning rate of every rule at `progress` after `drops` plateau drops."""
        return [r.eps.at(progress, drops) for r in self.rules]

    @torch.no_grad()
    def step(self, progress: float, drops: int = 0) -> None:
        """Apply one update from the gradients in `param.grad` (missing gradient = zero)."""
        for r, v in zip(self.rules, self.velocity):
            eps = r.eps.at(progress, drops)
            w = r.param
            v.mul_(r.mom)
            if r.wc:
                v.add_(w, alpha=-r.wc * eps)
            if w.grad is not None:
                v.add_(w.grad, alpha=-eps)
            w.add_(v)

    def zero_grad(self) -> None:
        for r in self.rules:
            r.param.grad = None

    def state_dict(self) -> dict[str, object]:
        return {"velocity": [v.detach().cpu().clone() for v in self.velocity],
                "names": [f"{r.layer}.{r.kind}" for r in self.rules]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        vel = state["velocity"]
        if not isinstance(vel, list) or len(vel) != len(self.velocity):
            n = len(vel) if isinstance(vel, list) else "no list of"
            raise ValueError(f"checkpoint has {n} momentum tensors, the model {len(self.velocity)}")
        for v, saved in zip(self.velocity, vel):
            if v.shape != saved.shape:
                raise ValueError(f"momentum shape {tuple(saved.shape)} != parameter {tuple(v.shape)}")
            v.copy_(saved)
