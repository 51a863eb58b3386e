"""Tests that kill the mutants the whole cosmic-ray run left alive in compiler/*.py and
compiler/parallel/*.py (docs/testing.md). Each expected value is worked out by hand from the
spec text (depths, placements, indices), or comes from a float64 one-process model."""

from __future__ import annotations

import pytest
import torch

from alexspec.compiler import TransferLog, build, lower, transfer
from alexspec.compiler.parallel import devices
from alexspec.errors import RunError, SpecError
from alexspec.pipeline import loads

HEAD = """[net]
type=net
innerSize=4
[*]
epsW=0.01
epsB=0.01
momW=0.9
momB=0.9
wc=0.0005
initW=0.1
[data]
type=data
dataIdx=0
[labels]
type=data
dataIdx=1
"""
TAIL = """[probs]
type=softmax
inputs=out
[logprob]
type=cost.logreg
inputs=labels,probs
"""


def _net(sections: str):
    return loads(HEAD + sections + TAIL, "core.cfg")


# ---------------------------------------------------------------- plan.py


def test_the_plan_runs_the_columns_layer_by_layer_in_order_of_depth():
    """The two columns written one after the other (column a, then column b): the plan orders
    layers by their depth from the data (c1a, c1b: 1; p1a, p1b: 2; fa, fb: 3; out: 4; probs: 5), ties in
    the spec's order, so the GPUs' layers alternate."""
    col = ("[c1{c}]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=1\ngpu={g}\n"
           "[p1{c}]\ntype=pool\ninputs=c1{c}\npool=max\nsizeX=2\nstride=2\nchannels=16\n"
           "[f{c}]\ntype=fc\ninputs=p1{c}\noutputs=3\n")
    net = _net(col.format(c="a", g=0) + col.format(c="b", g=1) + "[out]\ntype=fc\ninputs=fa,fb\noutputs=3\n")
    plan = lower(net)
    assert [(s.name, s.gpu) for s in plan.steps] == [
        ("c1a", 0), ("c1b", 1), ("p1a", 0), ("p1b", 1), ("fa", 0), ("fb", 1), ("out", 0), ("probs", 0)]


def test_a_data_parallel_spec_whose_replicas_list_the_gpus_in_another_order_lowers():
    """Every layer on `gpu=1,0` (written on each layer, so each holds its own tuple): the same
    replicas everywhere is pure data parallelism, not a hybrid form to refuse."""
    layer = "[{n}]\ntype=fc\ninputs={i}\noutputs=3\ngpu=1,0\n"
    net = _net(layer.format(n="h", i="data") + layer.format(n="out", i="h"))
    assert [n.gpus for n in net if n.type == "fc"] == [(1, 0), (1, 0)]
    plan = lower(net)
    assert [s.name for s in plan.steps] == ["h", "out", "probs"]


# ---------------------------------------------------------------- sharing.py


def test_a_weight_source_index_of_two_digits_names_that_input():
    """`weightSource=wide[10]`: input 10 of an 11-input fc (all of the same shape, so a wrong
    index would still fit), not input 1."""
    net = _net("[wide]\ntype=fc\ninputs=" + ",".join(["data"] * 11) + "\noutputs=3\n"
               "[narrow]\ntype=fc\ninputs=data\noutputs=3\nweightSource=wide[10]\n"
               "[out]\ntype=fc\ninputs=wide,narrow\noutputs=3\n")
    model = build(net, devices="cpu", seed=0)
    wide, narrow = model.layers["wide"], model.layers["narrow"]
    assert narrow.weights[0] is wide.weights[10]
    assert all(narrow.weights[0] is not wide.weights[k] for k in range(10))


@pytest.mark.parametrize("entry,k,i", [(",out[1]", 1, 1), ("out[1],", 1, 0)])
def test_a_layer_sharing_its_own_input_with_itself_or_a_later_one_is_refused(entry, k, i):
    """`weightSource=,out[1]` on input 1 of `out` (itself) and `out[1],` on input 0 (a later
    one): only an earlier input, `out[0]` for input 1, may be shared; check lets these through,
    the compiler refuses them."""
    net = _net("[fa]\ntype=fc\ninputs=data\noutputs=3\n[fb]\ntype=fc\ninputs=data\noutputs=3\n"
               f"[out]\ntype=fc\ninputs=fa,fb\noutputs=3\nweightSource={entry}\n")
    with pytest.raises(SpecError) as e:
        build(net, devices="cpu")
    (d,) = e.value.diagnostics
    assert (d.code, d.message) == ("weight-source", f"layer 'out': weightSource 'out[1]': 'out' input {k} "
                                   f"of this layer is not defined before input {i}")


@pytest.mark.parametrize("owner,user", [(0, 1), (1, 0)])
def test_a_weight_source_on_another_gpu_is_refused_naming_both_gpus(owner, user):
    """cuda-convnet2 shares a matrix only on the same GPU: fb on one GPU sharing fa's on the
    other, either way round."""
    sections = (f"[fa]\ntype=fc\ninputs=data\noutputs=3\ngpu={owner}\n"
                f"[fb]\ntype=fc\ninputs=data\noutputs=3\ngpu={user}\nweightSource=fa\n"
                "[out]\ntype=fc\ninputs=fa,fb\noutputs=3\ngpu=0\n")
    with pytest.raises(SpecError) as e:
        build(_net(sections), devices="cpu")
    (d,) = e.value.diagnostics
    assert (d.code, d.message) == ("weight-source", f"layer 'fb': weightSource 'fa': 'fa' runs on GPU(s) "
                                   f"[{owner}], this layer on [{user}]")
    assert (d.span.path, d.span.line) == ("core.cfg", (HEAD + sections).splitlines().index("weightSource=fa") + 1)


def test_a_weight_source_on_the_same_gpu_written_on_both_layers_is_shared():
    """`gpu=1` written on the owner and on the user (two equal tuples, not one object)."""
    net = _net("[fa]\ntype=fc\ninputs=data\noutputs=3\ngpu=1\n"
               "[fb]\ntype=fc\ninputs=data\noutputs=3\ngpu=1\nweightSource=fa\n"
               "[out]\ntype=fc\ninputs=fa,fb\noutputs=3\ngpu=0\n")
    model = build(net, devices="cpu")
    assert model.layers["fb"].weights[0] is model.layers["fa"].weights[0]
    assert model.shared == {("fb", 0)}


# ---------------------------------------------------------------- transfer.py


def test_the_logged_transfer_returns_the_tensor_on_the_destination_device():
    """With a TransferLog active (the instrumented path), a move to another device gives a
    tensor on that device (the meta device here: a real move on a CPU-only machine)."""
    x = torch.randn(2, 3)
    with TransferLog() as log:
        y = transfer(x, 0, 1, torch.device("meta"), "b<-a")
    assert y.device == torch.device("meta") and y.shape == (2, 3)
    assert [(e.direction, e.src, e.dst, e.tag, e.bytes) for e in log.events] == [("fwd", 0, 1, "b<-a", 24)]


# ---------------------------------------------------------------- parallel/devices.py


def test_a_hybrid_process_with_auto_takes_its_own_cuda_device_or_the_cpu(monkeypatch):
    """`--gpu auto` in a hybrid run: process 1 of 2 with two CUDA devices takes cuda:1; process 0
    with no CUDA device takes the CPU."""
    monkeypatch.setattr(devices, "cuda_count", lambda: 2)
    devs, why = devices.process_devices("auto", 2, 1, 2, per_gpu=True)
    assert devs == [torch.device("cuda:1")]
    assert why == "devices: gpu1 -> cuda:1 (process 1 of 2: its own CUDA device)"
    monkeypatch.setattr(devices, "cuda_count", lambda: 0)
    devs, why = devices.process_devices("auto", 2, 0, 2, per_gpu=True)
    assert devs == [torch.device("cpu")]
    assert why == "devices: gpu0 -> cpu (process 0 of 2: 0 CUDA device(s) are too few, CPU)"


@pytest.mark.parametrize("given,count,shown", [("1", 1, "cuda:1"), ("cuda", 0, "cuda")])
def test_a_cuda_device_that_does_not_exist_is_refused(given, count, shown):
    """cuda:1 with one CUDA device, and plain `cuda` (index None: device 0) with none."""
    with pytest.raises(RunError) as e:
        devices.device_list(given, count)
    assert e.value.message == f"device {shown} does not exist ({count} CUDA device(s) here)"


# ---------------------------------------------------------------- parallel/hybrid.py

# A third split layer fcc on GPU 0 that passb (GPU 1) reads too: exchange 2 then carries two
# columns from rank 0 (fca's 16, fcc's 8 per image), one after the other in its buffer.
TWO_COLUMNS = (("[passa]\n", "[fcc]\ntype=fc\ninputs=conv2\noutputs=8\nneuron=relu\ngpu=0\n\n[passa]\n"),
               ("[passb]\ntype=pass\ninputs=fca,fcb\n", "[passb]\ntype=pass\ninputs=fca,fcb,fcc\n"))


def test_two_columns_from_one_process_in_one_exchange_reach_the_other(monkeypatch):
    """Both ranks compute the single-process float64 model's scores and loss, and fcc's gradient
    (rank 0 only) is the single-process one: rank 1 reads fcc's column after fca's in rank 0's
    buffer, which is 7 * (16 + 8) long (rank 1 pads its 7 * 16 to it)."""
    from tests import test_mutants_compiler_hybrid as two

    monkeypatch.setitem(two.VARIANTS, "two_columns", TWO_COLUMNS)
    net, out, hub, x, y = two._run_both(monkeypatch, 7, "two_columns")
    assert [c.layer for c in two.hybrid.hybrid_layout(net).exchanges[1]] == ["fcb", "fca", "fcc"]
    assert hub.sizes[0][1] == hub.sizes[1][1] == 7 * 24
    ref, want_scores, want_loss, want_grads = two._reference(net, x, y)
    for model, scores, loss in out:
        torch.testing.assert_close(scores, want_scores, rtol=1e-12, atol=1e-12)
        assert loss == pytest.approx(want_loss, rel=1e-12)
    got = dict(out[0][0].named_parameters())
    fcc = [n for n in want_grads if n.startswith("layers.fcc.")]
    assert len(fcc) == 2  # its weights and bias
    for name in fcc:
        torch.testing.assert_close(got[name].grad, want_grads[name], rtol=1e-10, atol=1e-12)


def test_auto_with_as_many_cuda_devices_as_logical_gpus_gives_each_its_own(monkeypatch):
    """`--gpu auto`, one process: two CUDA devices for two logical GPUs (exactly enough), and
    three for two (one left over), give gpu i -> cuda:i; one or two for three share cuda:0."""
    for count in (2, 3):
        monkeypatch.setattr(devices, "cuda_count", lambda count=count: count)
        devs, why = devices.resolve_devices("auto", 2)
        assert devs == [torch.device("cuda:0"), torch.device("cuda:1")]
        assert why == f"devices: gpu0 -> cuda:0, gpu1 -> cuda:1 (auto, {count} CUDA device(s))"
    for count in (1, 2):  # fewer CUDA devices than logical GPUs: all share cuda:0
        monkeypatch.setattr(devices, "cuda_count", lambda count=count: count)
        devs, why = devices.resolve_devices("auto", 3)
        assert devs == [torch.device("cuda:0")] * 3
        assert why.endswith(f"(auto, only {count} CUDA device: logical GPUs share it)")


def test_a_hybrid_process_given_neither_one_device_nor_one_per_process_is_refused(monkeypatch):
    """Two hybrid processes and `--gpu 0,1,2`: a located RunError that says what to give."""
    monkeypatch.setattr(devices, "cuda_count", lambda: 3)
    with pytest.raises(RunError) as e:
        devices.process_devices("0,1,2", 2, 0, 2, per_gpu=True)
    assert (e.value.message, e.value.where, e.value.hint) == (
        "a hybrid run has one process per logical GPU: 2 processes but 3 devices were given",
        "--gpu", "give one device for all, or 2 (one per process)")
    devs, why = devices.process_devices("0,1", 2, 1, 2, per_gpu=True)
    assert devs == [torch.device("cuda:1")] and why == "devices: gpu1 -> cuda:1 (process 1 of 2: as given)"


# ---------------------------------------------------------------- parallel/apply.py


class _SGD:
    """Stands in for PaperSGD: `state_dict()["velocity"]`, one tensor per local rule."""

    def __init__(self, velocity: list[torch.Tensor]):
        self.velocity = velocity

    def state_dict(self) -> dict:
        return {"velocity": self.velocity}


def test_a_hybrid_runs_whole_state_on_rank_0_is_the_single_process_models(monkeypatch):
    """`gather_training_state` on rank 0 of two hybrid processes (gather_to_main standing in for
    the collective): the weights of both parts make up the single-process model's state dict
    (same keys, same values for the same seed), and each process's velocities are put back in
    the single-process model's rule order, named `layer.kind`. Rank 1, a single process and a
    model that is not hybrid get None."""
    from alexspec.compiler.parallel import apply
    from alexspec.compiler.parallel.group import ParallelContext
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "hybrid-2gpu.cfg")
    plan = lower(net)
    ref = build(net, devices="cpu", seed=3)
    order = [(r.layer, r.kind, r.index) for r in ref.learning_rules()]
    parts = []
    for rank in (0, 1):
        model = build_hybrid(net, plan, rank, torch.device("cpu"), seed=3)
        vel = [torch.full((2,), float(order.index((r.layer, r.kind, r.index)))) for r in model.learning_rules()]
        parts.append((model, _SGD(vel)))
    sent = []

    def gather_to_main(obj, ctx):
        sent.append((ctx.rank, obj))
        return [o for _, o in sorted(sent, key=lambda t: t[0])] if ctx.rank == 0 else None

    monkeypatch.setattr(apply, "gather_to_main", gather_to_main)
    ctx = [ParallelContext(rank=r, world_size=2, hybrid=True) for r in (0, 1)]
    assert apply.gather_training_state(*parts[1], ctx[1]) is None
    whole, sgd = apply.gather_training_state(*parts[0], ctx[0])
    want = ref.state_dict()
    assert sorted(whole) == sorted(want)
    for k, v in want.items():
        assert torch.equal(whole[k], v), k
    assert [float(v[0]) for v in sgd["velocity"]] == [float(i) for i in range(len(order))]
    assert sgd["names"] == [f"{layer}.{kind}" for layer, kind, _ in order]
    assert len(sent) == 2
    assert apply.gather_training_state(parts[0][0], parts[0][1], ParallelContext()) is None
    assert apply.gather_training_state(ref, parts[0][1], ctx[0]) is None
    assert len(sent) == 2  # neither gathered
