"""The hybrid model (compiler/parallel/hybrid.py) of both processes, in one process: two threads,
one per logical GPU, each building its HybridNet; `torch.distributed.nn.functional.all_gather`
is replaced by a rendezvous of the two threads with the same autograd contract (forward: every
rank's buffer, in rank order; backward: each rank's gradient is the sum over ranks of the
gradients for its slot, the all-to-all and sum of torch's). So the mutation run, which cannot see
torchrun's subprocesses (tests/test_distributed_hybrid.py), sees the exchanges, the buffer
layout and the weights each process holds. The reference is one process running the same spec
on the whole minibatch in float64 (`build`, seed 0)."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.distributed.nn.functional as dnn

import alexspec
from alexspec.compiler import build, lower
from alexspec.compiler.parallel import hybrid
from alexspec.compiler.parallel.hybrid import build_hybrid
from alexspec.pipeline import loads

SPEC = "tests/specs/compiler/hybrid-2gpu.cfg"
# fca also reads pool1: exchange 1 then carries two replicated outputs (conv2's, pool1's), one
# after the other in each process's buffer
TWO_BATCH = ("[fca]\ntype=fc\ninputs=conv2\n", "[fca]\ntype=fc\ninputs=conv2,pool1\n")
# fcb with 12 outputs: in exchange 2 rank 1 sends 7*12 numbers and pads to rank 0's 7*16
NARROW_FCB = ("[fcb]\ntype=fc\ninputs=conv2\noutputs=16\n", "[fcb]\ntype=fc\ninputs=conv2\noutputs=12\n")
VARIANTS = {"": (), "two_batch": (TWO_BATCH,), "narrow_fcb": (NARROW_FCB,)}


def _net(variant: str = ""):
    text = open(SPEC).read()
    for old, new in VARIANTS[variant]:
        assert old in text
        text = text.replace(old, new)
    return loads(text, SPEC)
WORLD = 2
GROUP = object()  # stands for the mesh's process group (never used by the fake)


class _Hub:
    """Two threads swap objects: each puts its own in and gets everyone's, in rank order."""

    def __init__(self, world: int):
        self.slots: list = [None] * world
        self.barrier = threading.Barrier(world, timeout=60)
        self.rank = threading.local()
        self.sizes: list[list[int]] = [[] for _ in range(world)]

    def swap(self, rank: int, obj) -> list:
        self.slots[rank] = obj
        self.barrier.wait()
        got = list(self.slots)
        self.barrier.wait()
        return got


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, buf, hub: _Hub):
        ctx.hub, ctx.me = hub, hub.rank.value
        hub.sizes[ctx.me].append(buf.numel())
        return tuple(t.clone() for t in hub.swap(ctx.me, buf.detach()))

    @staticmethod
    def backward(ctx, *grads):
        got = ctx.hub.swap(ctx.me, [g.detach() for g in grads])
        return sum(g[ctx.me] for g in got), None


def _run_both(monkeypatch, batch: int, variant: str = ""):
    """Each rank's (model, scores, loss) after forward and backward on the same batch, and
    the hub (its buffer sizes per rank)."""
    net = _net(variant)
    plan = lower(net)
    hub = _Hub(WORLD)
    group_seen = []

    def fake_all_gather(buf, group=None):
        group_seen.append(group)
        return _Gather.apply(buf, hub)

    monkeypatch.setattr(dnn, "all_gather", fake_all_gather)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(batch, 3, 16, 16, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (batch,), generator=g)
    out: list = [None] * WORLD
    errors: list = []

    def work(rank: int) -> None:
        try:
            torch.set_num_threads(1)
            hub.rank.value = rank
            model = build_hybrid(net, plan, rank, torch.device("cpu"), seed=0, dtype=torch.float64,
                                 group=GROUP)
            model.train()
            scores = model(x)
            cost = model.cost(scores, y)
            cost.loss.backward()
            out[rank] = (model, scores.detach(), float(cost.loss.detach()))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
            hub.barrier.abort()

    threads = [threading.Thread(target=work, args=(r,)) for r in range(WORLD)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    assert all(grp is GROUP for grp in group_seen)
    return net, out, hub, x, y


def _reference(net, x, y):
    model = build(net, devices="cpu", seed=0, dtype=torch.float64)
    model.train()
    scores = model(x)
    cost = model.cost(scores, y)
    cost.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return model, scores.detach(), float(cost.loss.detach()), grads


@pytest.mark.parametrize("batch,variant", [(7, ""), (8, ""), (7, "two_batch"), (7, "narrow_fcb")])
def test_two_hybrid_processes_compute_the_one_process_scores_loss_and_gradients(monkeypatch, batch,
                                                                                  variant):
    """Both ranks return the whole minibatch's scores and loss of the single-process model; a
    split layer's gradient (on its own rank) and the sum over ranks of a replicated layer's
    gradient (each rank's share; DDP's comm hook sums them) equal the single-process gradient.
    Batch 7 splits into unequal shares (4 and 3), so rank 1's buffer is padded; `two_batch`:
    exchange 1 moves two replicated outputs; `narrow_fcb`: the two columns of exchange 2 differ
    in size, so rank 1 pads after its column."""
    net, out, hub, x, y = _run_both(monkeypatch, batch, variant)
    ref, want_scores, want_loss, want_grads = _reference(net, x, y)
    for model, scores, loss in out:
        assert torch.allclose(scores, want_scores, rtol=1e-12, atol=1e-12)
        assert loss == pytest.approx(want_loss, rel=1e-12)
    replicated = ("conv1", "pool1", "conv2")
    names = {0: {"conv1", "conv2", "fca", "fc2a", "fc3"}, 1: {"conv1", "conv2", "fcb", "fc2b"}}
    for rank, (model, _, _) in enumerate(out):
        held = {n.split(".")[1] for n, _ in model.named_parameters()}
        assert held == names[rank]
    for name, want in want_grads.items():
        layer = name.split(".")[1]
        got = [dict(m.named_parameters())[name].grad for m, _, _ in out if name in dict(m.named_parameters())]
        total = sum(got) if layer in replicated else got[0]
        assert len(got) == (2 if layer in replicated else 1), name
        assert torch.allclose(total, want, rtol=1e-10, atol=1e-12), name


def test_each_exchange_sends_the_largest_share_from_every_process(monkeypatch):
    """Batch 7 (shares 4 and 3): exchange 1 carries conv2's 3x3x16 outputs per image (every
    process pads to the larger share, 4 * 144); exchange 2 the fca/fcb columns (7 * 16 each);
    exchange 3 fc2b's (7 * 12, from rank 1, rank 0 sends as many zeros); exchange 4 the logits
    (7 * 10, from rank 0). All_gather needs equal sizes, the same on both ranks."""
    _, _, hub, _, _ = _run_both(monkeypatch, 7)
    assert hub.sizes[0] == hub.sizes[1] == [4 * 144, 7 * 16, 7 * 12, 7 * 10]
    # fca reading pool1 too (3x3x16 = 144 per image): exchange 1 carries 4 * (144 + 144)
    _, _, hub, _, _ = _run_both(monkeypatch, 7, "two_batch")
    assert hub.sizes[0] == hub.sizes[1] == [4 * 288, 7 * 16, 7 * 12, 7 * 10]


def test_the_hybrid_parts_start_from_the_single_process_weights_and_rule_order(monkeypatch):
    """Each rank's state_dict entries equal the single-process model's (the other rank's layers
    still take their draws, on the meta device); its learning rules are the whole model's, in
    the same order, restricted to its own layers; `full_rule_order` is the whole model's."""
    net = alexspec.load(SPEC)
    plan = lower(net)
    ref = build(net, devices="cpu", seed=0, dtype=torch.float64)
    want_state = ref.state_dict()
    want_order = [(r.layer, r.kind, r.index) for r in ref.learning_rules()]
    for rank in range(WORLD):
        model = build_hybrid(net, plan, rank, torch.device("cpu"), seed=0, dtype=torch.float64)
        state = model.state_dict()
        assert state and set(state) <= set(want_state)
        for k, v in state.items():
            assert torch.equal(v, want_state[k]), k
        assert model.full_rule_order() == want_order
        mine = {n.split(".")[1] for n in state}
        assert model.local_rule_order() == [r for r in want_order if r[0] in mine]


def test_loading_a_state_with_missing_or_unknown_entries_is_refused_by_name():
    """`HybridNet.load_state_dict` (strict) takes its own entries out of a whole model's state;
    an entry of its own missing, or a key the whole model does not have, is refused, naming the
    first five of each (sorted)."""
    net = _net()
    plan = lower(net)
    whole = build(net, devices="cpu", seed=1, dtype=torch.float64).state_dict()
    model = build_hybrid(net, plan, 1, torch.device("cpu"), seed=0, dtype=torch.float64)
    model.load_state_dict(whole)
    assert all(torch.equal(v, whole[k]) for k, v in model.state_dict().items())
    without = {k: v for k, v in whole.items() if k != "layers.fcb.bias"}
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(without)
    assert str(e.value) == ("Error(s) in loading state_dict for HybridNet: missing ['layers.fcb.bias'], "
                            "unexpected []")
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict({**whole, "layers.nope.weight": torch.zeros(1)})
    assert str(e.value) == ("Error(s) in loading state_dict for HybridNet: missing [], "
                            "unexpected ['layers.nope.weight']")
    own = sorted(model.state_dict())
    assert len(own) > 5
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict({})
    assert str(e.value) == f"Error(s) in loading state_dict for HybridNet: missing {own[:5]}, unexpected []"
