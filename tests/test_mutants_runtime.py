"""Tests that kill the mutants cosmic-ray left alive in runtime/ (see docs/testing.md): each
checks a behaviour a caller or user sees that no other test pinned down."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from alexspec.ir import Schedule
from alexspec.runtime.sgd import PaperSGD


@dataclass
class _Rule:
    param: torch.nn.Parameter
    layer: str
    kind: str
    eps: Schedule
    mom: float
    wc: float


def _sgd() -> tuple[PaperSGD, torch.nn.Parameter, torch.nn.Parameter]:
    w = torch.nn.Parameter(torch.ones(3, 2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    eps = Schedule(kind="plateau", base=0.1, factor=10, max_drops=3)
    return PaperSGD([_Rule(w, "fc", "weight", eps, 0.9, 0.0), _Rule(b, "fc", "bias", eps, 0.9, 0.0)]), w, b


# ----------------------------------------------------------------------------- sgd


def test_sgd_defaults_to_no_rate_drop():
    sgd, w, b = _sgd()
    assert sgd.rates(0.0) == [0.1, 0.1]
    w.grad, b.grad = torch.ones_like(w), torch.ones_like(b)
    sgd.step(0.0)
    assert torch.allclose(w.detach(), torch.full((3, 2), 0.9, dtype=torch.float64))  # 1 - 0.1 * 1


def test_sgd_zero_grad_clears_every_gradient():
    sgd, w, b = _sgd()
    w.grad, b.grad = torch.ones_like(w), torch.ones_like(b)
    sgd.zero_grad()
    assert w.grad is None and b.grad is None


@pytest.mark.parametrize("shape", [(3, 1), (3, 3), (2, 2), (4, 2), (6,)])
def test_sgd_refuses_momentum_of_another_shape(shape):
    sgd, w, b = _sgd()
    with pytest.raises(ValueError, match=r"momentum shape"):
        sgd.load_state_dict({"velocity": [torch.zeros(shape, dtype=torch.float64), torch.zeros(2)]})


def test_sgd_loads_momentum_of_the_same_shapes():
    sgd, w, b = _sgd()
    saved = [torch.full((3, 2), 0.5, dtype=torch.float64), torch.full((2,), -1.0, dtype=torch.float64)]
    sgd.load_state_dict({"velocity": saved})
    assert all(torch.equal(v, s) for v, s in zip(sgd.velocity, saved))


@pytest.mark.parametrize("n", [1, 3])
def test_sgd_refuses_another_number_of_momentum_tensors(n):
    sgd, w, b = _sgd()
    with pytest.raises(ValueError, match=rf"^checkpoint has {n} momentum tensors, the model 2$"):
        sgd.load_state_dict({"velocity": [torch.zeros(3, 2)] * n})


def test_sgd_refuses_momentum_that_is_not_a_list():
    sgd, w, b = _sgd()
    with pytest.raises(ValueError, match=r"^checkpoint has no list of momentum tensors, the model 2$"):
        sgd.load_state_dict({"velocity": (torch.zeros(3, 2), torch.zeros(2))})
