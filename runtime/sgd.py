"""The paper's update rule (section 5), per parameter, with cuda-convnet's per-layer rules:

    v := mom * v - wc * eps * w - eps * grad        w := w + v

`eps` is the rule's schedule at the current training progress (and plateau drop count), `mom`
and `wc` are the layer's momW/momB and wc (0 for biases). Unlike `torch.optim.SGD`, the velocity
already holds eps: after a learning-rate drop the stored momentum keeps its old size and is not
rescaled by the new rate, exactly as in the paper and in cuda-convnet.

`updatePeriod=P` (cuda-convnet2 WeightLayer::updateWeights, getGradScale): the layer's weights
change only after every P-th minibatch, with `grad` the mean of the P minibatch gradients seen
since the last update (cuda-convnet scales the summed gradient by 1 / (P * minibatch size)).
Until then its gradients accumulate here and neither the weights nor the velocity move.
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
    period: int  # updatePeriod (1 = every minibatch)


class PaperSGD:
    """Momentum SGD with weight decay as the paper writes it; one velocity tensor per rule."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = list(rules)
        self.velocity = [torch.zeros_like(r.param, memory_format=torch.preserve_format) for r in self.rules]
        # Gradient sums of the rules with updatePeriod > 1, and the minibatches seen so far.
        self.accum = [torch.zeros_like(r.param) if _period(r) > 1 else None for r in self.rules]
        self.passes = 0

    def rates(self, progress: float, drops: int = 0) -> list[float]:
        """The learning rate of every rule at `progress` after `drops` plateau drops."""
        return [r.eps.at(progress, drops) for r in self.rules]

    @torch.no_grad()
    def step(self, progress: float, drops: int = 0) -> None:
        """Apply one minibatch's gradients in `param.grad` (missing gradient = zero): an update
        for every rule, except those with updatePeriod P > 1, which update every P-th call."""
        self.passes += 1
        for r, v, acc in zip(self.rules, self.velocity, self.accum):
            w, grad = r.param, r.param.grad
            if acc is not None:
                if grad is not None:
                    acc.add_(grad)
                if self.passes % _period(r):
                    continue
                grad = acc.div_(_period(r))
            eps = r.eps.at(progress, drops)
            v.mul_(r.mom)
            if r.wc:
                v.add_(w, alpha=-r.wc * eps)
            if grad is not None:
                v.add_(grad, alpha=-eps)
            w.add_(v)
            if acc is not None:
                acc.zero_()

    def zero_grad(self) -> None:
        for r in self.rules:
            r.param.grad = None

    def state_dict(self) -> dict[str, object]:
        state: dict[str, object] = {"velocity": [v.detach().cpu().clone() for v in self.velocity],
                                    "names": [f"{r.layer}.{r.kind}" for r in self.rules]}
        if any(a is not None for a in self.accum):  # only nets with updatePeriod > 1
            state["accum"] = [None if a is None else a.detach().cpu().clone() for a in self.accum]
            state["passes"] = self.passes
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        vel = state["velocity"]
        if not isinstance(vel, list) or len(vel) != len(self.velocity):
            n = len(vel) if isinstance(vel, list) else "no list of"
            raise ValueError(f"checkpoint has {n} momentum tensors, the model {len(self.velocity)}")
        for v, saved in zip(self.velocity, vel):
            if v.shape != saved.shape:
                raise ValueError(f"momentum shape {tuple(saved.shape)} != parameter {tuple(v.shape)}")
            v.copy_(saved)
        accum = state.get("accum")
        if isinstance(accum, list) and len(accum) == len(self.accum):
            for a, saved in zip(self.accum, accum):
                if a is not None and saved is not None and a.shape == saved.shape:
                    a.copy_(saved)
            self.passes = int(state.get("passes", 0))


def _period(rule: Rule) -> int:
    return max(int(getattr(rule, "period", 1)), 1)
