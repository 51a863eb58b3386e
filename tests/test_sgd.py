"""The paper's update rule against a hand computation, and how torch.optim.SGD differs."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alexspec.ir import Schedule
from alexspec.runtime.sgd import PaperSGD


@dataclass
class R:
    param: torch.nn.Parameter
    layer: str
    kind: str
    eps: Schedule
    mom: float
    wc: float


def _grads(step):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)


def test_update_rule_by_hand_with_a_rate_drop():
    w0 = torch.tensor([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], dtype=torch.float64)
    b0 = torch.tensor([0.1, -0.2], dtype=torch.float64)
    w, b = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    eps = Schedule(kind="plateau", base=0.1, factor=10, max_drops=3)
    sgd = PaperSGD([R(w, "fc", "weight", eps, 0.9, 0.0005), R(b, "fc", "bias", eps, 0.8, 0.0)])
    vw, vb, hw, hb = torch.zeros_like(w0), torch.zeros_like(b0), w0.clone(), b0.clone()
    for step, drops in enumerate([0, 0, 1, 1, 3]):
        gw, gb = _grads(step)
        w.grad, b.grad = gw.clone(), gb.clone()
        sgd.step(progress=0.0, drops=drops)
        lr = 0.1 / 10**drops
        vw = 0.9 * vw - 0.0005 * lr * hw - lr * gw  # v := mom v - wc eps w - eps grad
        vb = 0.8 * vb - lr * gb  # biases: no decay
        hw, hb = hw + vw, hb + vb
        assert torch.allclose(w.data, hw, rtol=0, atol=1e-15)
        assert torch.allclose(b.data, hb, rtol=0, atol=1e-15)
        assert torch.allclose(sgd.velocity[0], vw, rtol=0, atol=1e-15)


def test_schedule_drives_the_rate():
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    sgd = PaperSGD([R(w, "l", "weight", Schedule(kind="exp", base=0.1, tgt_factor=100), 0.0, 0.0)])
    w.grad = torch.ones(1, dtype=torch.float64)
    sgd.step(progress=0.5)  # base * (1/100)^0.5 = 0.01
    assert torch.allclose(w.data, torch.tensor([-0.01], dtype=torch.float64))
    assert sgd.rates(1.0) == [0.1 / 100]


def _run(rule_lrs, paper: bool):
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    if paper:
        sgd = PaperSGD([R(w, "l", "weight", Schedule(kind="plateau", base=0.1), 0.9, 0.0005)])
    else:
        sgd = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.0005)
    out = []
    for step, drops in enumerate(rule_lrs):
        w.grad = _grads(step)[1].clone()
        if paper:
            sgd.step(0.0, drops)
        else:
            for group in sgd.param_groups:
                group["lr"] = 0.1 / 10**drops
            sgd.step()
        out.append(w.detach().clone())
    return out


def test_equal_to_torch_sgd_at_constant_rate_but_not_after_a_drop():
    const = [0, 0, 0, 0]
    for a, b in zip(_run(const, True), _run(const, False)):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)  # v = -lr * buf while lr is constant
    dropped = [0, 0, 1, 1]
    paper, torch_sgd = _run(dropped, True), _run(dropped, False)
    assert torch.allclose(paper[1], torch_sgd[1], atol=1e-12)
    # After the drop, torch rescales the whole stored momentum by the new lr; the paper does not.
    assert not torch.allclose(paper[2], torch_sgd[2], atol=1e-6)
    # The paper's step right after the drop keeps 0.9 x the old velocity (by hand):
    g = [_grads(s)[1] for s in range(3)]
    w0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    v1 = -0.0005 * 0.1 * w0 - 0.1 * g[0]
    w1 = w0 + v1
    v2 = 0.9 * v1 - 0.0005 * 0.1 * w1 - 0.1 * g[1]
    w2 = w1 + v2
    v3 = 0.9 * v2 - 0.0005 * 0.01 * w2 - 0.01 * g[2]
    assert torch.allclose(paper[2], w2 + v3, rtol=0, atol=1e-15)


def test_state_roundtrip():
    w = torch.nn.Parameter(torch.ones(3))
    sgd = PaperSGD([R(w, "l", "weight", Schedule(base=0.1), 0.9, 0.0)])
    w.grad = torch.ones(3)
    sgd.step(0.0)
    other = PaperSGD([R(torch.nn.Parameter(torch.ones(3)), "l", "weight", Schedule(base=0.1), 0.9, 0.0)])
    other.load_state_dict(sgd.state_dict())
    assert torch.equal(other.velocity[0], sgd.velocity[0])
