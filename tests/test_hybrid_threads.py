"""cuda-convnet2's hybrid scheme (compiler/parallel/hybrid.py) with its two processes as two
threads of this one, the collective stood in for by a two-thread all-gather.

tests/test_distributed_hybrid.py runs the real thing under torchrun (slow, and its children import
the installed package). Here each thread builds rank r's HybridNet and calls it on the same
float64 minibatch; `torch.distributed.nn.functional.all_gather` is replaced by an autograd-aware
gather between the threads (forward: every rank's buffer; backward: rank r's input gradient is
the sum of every rank's gradient for piece r, as the real one's all-to-all and sum). Against one
process running the whole net with the same weights:
- every rank's logits equal the single model's, and so do the costs;
- each rank's split layers' gradients equal the single model's (they see the whole minibatch);
- the replicated layers' gradients, summed over the ranks (what DDP's sum hook does), equal it.
"""

from __future__ import annotations

import threading

import pytest
import torch

import alexspec
from alexspec.compiler import build
from alexspec.compiler.parallel import hybrid
from alexspec.compiler.parallel.hybrid import build_hybrid
from alexspec.compiler.plan import lower

SPEC = "tests/specs/compiler/hybrid-2gpu.cfg"
WORLD = 2


class _ThreadWorld:
    """An all-gather between WORLD threads, each thread's rank in a thread-local."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(WORLD, timeout=60)
        self.slots: list = [None] * WORLD
        self.rank = threading.local()

    def exchange(self, value):
        """Every rank's `value`, in rank order (all threads must call it)."""
        self.barrier.wait()
        self.slots[self.rank.r] = value
        self.barrier.wait()
        got = list(self.slots)
        self.barrier.wait()
        return got

    def all_gather(self, tensor, group=None):
        world = self

        class Gather(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return tuple(x.clone() for x in world.exchange(t.detach()))

            @staticmethod
            def backward(ctx, *grads):
                every = world.exchange([torch.zeros_like(g) if g is None else g for g in grads])
                return sum(g[world.rank.r] for g in every)

        return Gather.apply(tensor)


def _run_ranks(world: _ThreadWorld, fn) -> list:
    out, errors = [None] * WORLD, []

    def body(r: int) -> None:
        world.rank.r = r
        try:
            out[r] = fn(r)
        except BaseException as e:  # noqa: BLE001 - reraised below in the test's thread
            errors.append(e)
            world.barrier.abort()

    threads = [threading.Thread(target=body, args=(r,)) for r in range(WORLD)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


@pytest.mark.parametrize("batch", [8, 7])  # 7: unequal shares (4 and 3 images)
def test_hybrid_ranks_as_threads_equal_one_model_in_float64(monkeypatch, batch):
    torch.manual_seed(0)
    net = alexspec.load(SPEC)
    plan = lower(net)
    whole = build(net, devices="cpu", seed=0, dtype=torch.float64)
    parts = [build_hybrid(net, plan, r, torch.device("cpu"), seed=0, dtype=torch.float64)
             for r in range(WORLD)]
    g = torch.Generator().manual_seed(5)
    x = torch.randn(batch, *whole.input_shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, whole.num_classes, (batch,), generator=g)

    whole.train()
    want_logits = whole(x)
    want_cost = whole.cost(want_logits, y)
    want_cost.loss.backward()
    want = {n: p.grad for n, p in whole.named_parameters()}

    world = _ThreadWorld()
    monkeypatch.setattr(hybrid.dnn, "all_gather", world.all_gather)

    def step(r: int):
        m = parts[r].train()
        logits = m(x)
        cost = m.cost(logits, y)
        cost.loss.backward()
        return logits.detach(), float(cost.loss.detach()), {n: p.grad for n, p in m.named_parameters()}

    got = _run_ranks(world, step)
    for logits, loss, _ in got:
        torch.testing.assert_close(logits, want_logits.detach(), rtol=1e-12, atol=1e-12)
        assert loss == pytest.approx(float(want_cost.loss.detach()), rel=1e-12)
    layout = parts[0].layout
    replicated = set(layout.replicated)
    for name, want_grad in want.items():
        layer = name.split(".")[1]
        holders = [grads[name] for _, _, grads in got if name in grads]
        if layer in replicated:
            assert len(holders) == WORLD, name
            torch.testing.assert_close(sum(holders), want_grad, rtol=1e-10, atol=1e-12)
        else:
            assert len(holders) == 1, name  # a split layer lives on one rank only
            torch.testing.assert_close(holders[0], want_grad, rtol=1e-10, atol=1e-12)
