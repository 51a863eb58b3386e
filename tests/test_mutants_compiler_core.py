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
    out = "[out]\ntype=fc\ninputs=fa,fb\noutputs=3\n"
    net = _net(col.format(c="a", g=0) + col.format(c="b", g=1) + out)
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


def test_every_refused_weight_source_entry_of_a_layer_is_reported_at_once():
    """`weightSource=out[1],out[1]`: both of out's entries name an input not defined before
    their own (input 1 for input 0, input 1 for itself): two problems, two messages in one run."""
    net = _net("[fa]\ntype=fc\ninputs=data\noutputs=3\n[fb]\ntype=fc\ninputs=data\noutputs=3\n"
               "[out]\ntype=fc\ninputs=fa,fb\noutputs=3\nweightSource=out[1],out[1]\n")
    with pytest.raises(SpecError) as e:
        build(net, devices="cpu")
    assert [d.message for d in e.value.diagnostics] == [
        f"layer 'out': weightSource 'out[1]': 'out' input 1 of this layer is not defined before input {i}"
        for i in (0, 1)]


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
        vel = [torch.full((2,), float(order.index((r.layer, r.kind, r.index))))
               for r in model.learning_rules()]
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


# ---------------------------------------------------------------- transfer.py: feed, the log


def test_feed_under_the_checker_tags_the_data_with_its_gpu_on_the_destination_device():
    """With a LogicalDeviceChecker installed, `feed` gives the images their own tensor tagged
    with the consuming logical GPU (so an op mixing it with another GPU's tensor is a
    violation), moved to the destination device (meta: a real move on a CPU-only machine); a
    transfer under the checker alone (no TransferLog) re-tags what it moves."""
    from alexspec.compiler import feed
    from alexspec.compiler.checker import LogicalDeviceChecker

    x = torch.randn(2, 3)
    with LogicalDeviceChecker() as chk:
        y = feed(x, 1, torch.device("cpu"))
        assert chk.state.tags.get(y) == 1 and x not in chk.state.tags
        crossed = transfer(y, 1, 0, torch.device("cpu"), "b<-a")  # no TransferLog: still re-tagged
        assert chk.state.tags.get(crossed) == 0 and chk.state.tags.get(y) == 1
        other = torch.ones(2, 3)
        chk.tag(other, 0)
        y + other
        moved = feed(x, 0, torch.device("meta"))
        assert moved.device == torch.device("meta") and chk.state.tags.get(moved) == 0
    assert [v.gpus for v in chk.violations] == [(0, 1)]


def test_the_transfer_log_compares_directions_by_value():
    """`count`/`bytes` of a direction built at run time (not the interned literal)."""
    fwd, bwd = "".join(["f", "wd"]), "".join(["b", "wd"])
    with TransferLog() as log:
        a = torch.randn(2, 3, requires_grad=True)
        transfer(a, 0, 1, torch.device("cpu"), "b<-a").sum().backward()
    assert (log.count(fwd), log.bytes(fwd), log.count(bwd), log.bytes(bwd)) == (1, 24, 1, 24)
    assert (log.count(), log.bytes()) == (2, 48)


# ---------------------------------------------------------------- model.py


def test_a_layer_whose_first_input_is_shared_keeps_the_rule_of_its_second():
    """`weightSource=x,` on `out` (inputs fa, x): out's input 0 is x's matrix (x's rule updates
    it), its input 1 has its own weights and rule. The rules, in plan order, by hand."""
    net = _net("[fa]\ntype=fc\ninputs=data\noutputs=3\n[x]\ntype=fc\ninputs=fa\noutputs=3\n"
               "[out]\ntype=fc\ninputs=fa,x\noutputs=3\nweightSource=x,\n")
    model = build(net, devices="cpu")
    assert model.layers["out"].weights[0] is model.layers["x"].weights[0]
    rules = model.learning_rules()
    assert [(r.layer, r.kind, r.index) for r in rules] == [
        ("fa", "weight", 0), ("fa", "bias", 0), ("x", "weight", 0), ("x", "bias", 0),
        ("out", "weight", 1), ("out", "bias", 0)]
    assert rules[4].param is model.layers["out"].weights[1]


def test_a_weight_source_without_an_index_is_the_sources_first_input():
    """`weightSource=two` where `two` has two inputs of the same shape: input 0's matrix."""
    net = _net("[two]\ntype=fc\ninputs=data,data\noutputs=3\n"
               "[one]\ntype=fc\ninputs=data\noutputs=3\nweightSource=two\n"
               "[out]\ntype=fc\ninputs=two,one\noutputs=3\n")
    model = build(net, devices="cpu")
    two, one = model.layers["two"], model.layers["one"]
    assert one.weights[0] is two.weights[0] and one.weights[0] is not two.weights[1]


def test_the_models_cost_coefficient_is_the_cost_layers():
    """`coeff=2` on the cost layer: CompiledNet and each HybridNet say so, and the loss is twice
    the mean negative log-probability of the labels (computed here from the scores)."""
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(HEAD + "[out]\ntype=fc\ninputs=data\noutputs=3\n" + TAIL + "coeff=2\n", "c.cfg")
    model = build(net, devices="cpu", dtype=torch.float64)
    assert model.cost_coeff == 2.0
    x, y = torch.randn(4, 3, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
    scores = model(x)
    want = -torch.log_softmax(scores, 1)[torch.arange(4), y].mean() * 2
    torch.testing.assert_close(model.cost(scores, y).loss, want)
    hybrid = open("tests/specs/compiler/hybrid-2gpu.cfg").read().replace("topk=3\n", "topk=3\ncoeff=2\n")
    hnet = loads(hybrid, "h.cfg")
    assert build_hybrid(hnet, lower(hnet), 1, torch.device("cpu")).cost_coeff == 2.0




# ---------------------------------------------------------------- parallel/hybrid.py: more


def test_a_hybrid_processs_parameters_are_on_its_own_logical_gpu():
    """`parameter_gpus()` (what LogicalDeviceChecker tags): every parameter of process 1's
    layers, each with logical GPU 1."""
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    model = build_hybrid(net, lower(net), 1, torch.device("cpu"))
    pairs = list(model.parameter_gpus())
    assert [id(p) for p, _ in pairs] == [id(p) for p in model.parameters()] and len(pairs) == 8
    assert {g for _, g in pairs} == {1}


# fca and fcb dead (relu of a very negative bias): exchange 2 moves zeros only, so the next
# exchange's tie to it is exactly 0
DEAD_COLUMNS = tuple((f"[{n}]\ntype=fc\ninputs=conv2\noutputs=16\nneuron=relu\n",
                      f"[{n}]\ntype=fc\ninputs=conv2\noutputs=16\nneuron=relu\ninitB=-1000\n") for n in ("fca", "fcb"))


def test_an_exchange_of_zeros_leaves_the_next_exchange_finite(monkeypatch):
    """The zero-weighted tie to the previous exchange adds nothing even when that exchange held
    only zeros: both ranks' scores and loss equal the single-process model's (finite)."""
    from tests import test_mutants_compiler_hybrid as two

    monkeypatch.setitem(two.VARIANTS, "dead_columns", DEAD_COLUMNS)
    net, out, hub, x, y = two._run_both(monkeypatch, 6, "dead_columns")
    ref, want_scores, want_loss, _ = two._reference(net, x, y)
    assert torch.isfinite(want_scores).all()
    for model, scores, loss in out:
        torch.testing.assert_close(scores, want_scores, rtol=1e-12, atol=1e-12)
        assert loss == pytest.approx(want_loss, rel=1e-12)


def _three_gpu_spec() -> str:
    """hybrid-2gpu.cfg over three logical GPUs: conv1..conv2 replicated on 0,1,2; fca, fcb, fcc
    on GPUs 0, 1, 2, all read by passa (GPU 0), then fc3, the model output, on GPU 0."""
    text = open("tests/specs/compiler/hybrid-2gpu.cfg").read()
    start, end = text.index("[fcb]"), text.index("[probs]")
    split = ("[fcb]\ntype=fc\ninputs=conv2\noutputs=16\nneuron=relu\ngpu=1\n\n"
             "[fcc]\ntype=fc\ninputs=conv2\noutputs=16\nneuron=relu\ngpu=2\n\n"
             "[passa]\ntype=pass\ninputs=fca,fcb,fcc\ngpu=0\n\n"
             "[fc3]\ntype=fc\ninputs=passa\noutputs=10\n\n")
    return text[:start].replace("gpu=0,1\n", "gpu=0,1,2\n") + split + text[end:]


def test_three_hybrid_processes_send_only_the_largest_senders_column_size(monkeypatch, tmp_path):
    """Three processes, batch 7 (shares 3, 2, 2): exchange 1 carries conv2's 144 numbers per
    image of the largest share (3 * 144), exchange 2 the columns of fcb (rank 1) and fcc (rank 2),
    16 per image each, so every buffer is 7 * 16 (rank 0 sends zeros), exchange 3 the logits
    (7 * 10, from rank 0). The scores, loss and gradients are the single-process model's."""
    from tests import test_mutants_compiler_hybrid as two

    spec = tmp_path / "hybrid-3gpu.cfg"
    spec.write_text(_three_gpu_spec())
    monkeypatch.setattr(two, "SPEC", str(spec))
    monkeypatch.setattr(two, "WORLD", 3)
    net, out, hub, x, y = two._run_both(monkeypatch, 7)
    assert net.num_gpus == 3 and len(out) == 3
    assert hub.sizes == [[3 * 144, 7 * 16, 7 * 10]] * 3
    ref, want_scores, want_loss, want_grads = two._reference(net, x, y)
    for model, scores, loss in out:
        torch.testing.assert_close(scores, want_scores, rtol=1e-12, atol=1e-12)
        assert loss == pytest.approx(want_loss, rel=1e-12)
    # each split layer's gradient on its own rank, a replicated layer's summed over the three
    # (only the logits' own rank lets the loss's gradient through: with three ranks, letting it
    # through on the two others instead would double every gradient)
    for name, want in want_grads.items():
        got = [dict(m.named_parameters())[name].grad for m, _, _ in out if name in dict(m.named_parameters())]
        assert len(got) == (3 if name.split(".")[1] in ("conv1", "conv2") else 1), name
        torch.testing.assert_close(sum(got), want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- code only torchrun's workers run


class _DDP:
    """Stands in for DistributedDataParallel: records how it was made and its comm hook."""

    def __init__(self, module, device_ids=None, process_group=None):
        self.module, self.device_ids, self.process_group = module, device_ids, process_group
        self.hooks = []

    def register_comm_hook(self, state, hook):
        self.hooks.append((state, hook))

    def __call__(self, *args):
        return self.module(*args)

    def train(self, mode=True):
        self.module.train(mode)


class _Meshed:
    def __init__(self, group):
        self.group = group

    def get_group(self):
        return self.group


def test_wrap_puts_ddp_around_a_data_parallel_model_only(monkeypatch):
    """Distributed and not hybrid: DDP over the mesh's group, no device_ids (the model places
    itself); one process, or a HybridNet (its own DDP inside): the model itself."""
    from alexspec.compiler.parallel import apply
    from alexspec.compiler.parallel.group import ParallelContext
    from alexspec.compiler.parallel.hybrid import build_hybrid

    monkeypatch.setattr(apply.nn.parallel, "DistributedDataParallel", _DDP)
    model = build(loads(open("specs/alexnet-mini.cfg").read(), "mini.cfg"), devices="cpu")
    ctx = ParallelContext(rank=1, world_size=2, backend="gloo", mesh=_Meshed("dp group"))
    wrapped = apply.wrap(model, ctx)
    assert isinstance(wrapped, _DDP) and wrapped.module is model
    assert (wrapped.device_ids, wrapped.process_group) == (None, "dp group")
    assert apply.wrap(model, ParallelContext()) is model
    hnet = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    hybrid = build_hybrid(hnet, lower(hnet), 1, torch.device("cpu"))
    assert apply.wrap(hybrid, ParallelContext(rank=1, world_size=2, hybrid=True)) is hybrid


def test_model_for_builds_a_hybrid_process_its_own_part_and_others_the_whole_model():
    """`model_for` under torchrun with a hybrid spec: rank 1's HybridNet (its layers, the
    context's summary, the seed's weights, the dtype); a data-parallel or single process: the
    whole CompiledNet on the context's devices, with the same weights; seed 0 by default (for
    `build_hybrid` too)."""
    from alexspec.compiler.parallel import apply
    from alexspec.compiler.parallel.group import ParallelContext
    from alexspec.compiler.parallel.hybrid import HybridNet

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    ref = build(net, devices="cpu", seed=4, dtype=torch.float64).state_dict()
    ctx = ParallelContext(rank=1, world_size=2, backend="gloo", hybrid=True, summary="rank 1's devices")
    part = apply.model_for(net, ctx, seed=4, dtype=torch.float64)
    assert isinstance(part, HybridNet) and part.rank == 1 and part.placement_summary == "rank 1's devices"
    state = part.state_dict()
    assert "layers.fcb.bias" in state and "layers.fca.bias" not in state
    assert all(torch.equal(v, ref[k]) for k, v in state.items())
    default = apply.model_for(net, ParallelContext(), dtype=torch.float64).state_dict()  # seed 0
    seed0 = build(net, devices="cpu", seed=0, dtype=torch.float64).state_dict()
    assert all(torch.equal(v, seed0[k]) for k, v in default.items())
    from alexspec.compiler.parallel.hybrid import build_hybrid

    default = build_hybrid(net, lower(net), 1, torch.device("cpu"), dtype=torch.float64).state_dict()
    assert default and all(torch.equal(v, seed0[k]) for k, v in default.items())
    for ctx in (ParallelContext(), ParallelContext(rank=1, world_size=2, backend="gloo")):
        whole = apply.model_for(net, ctx, seed=4, dtype=torch.float64)
        assert not isinstance(whole, HybridNet) and whole.devices == [torch.device("cpu")] * 2
        assert sorted(whole.state_dict()) == sorted(ref)
        assert all(torch.equal(v, ref[k]) for k, v in whole.state_dict().items())


def test_a_hybrid_processs_replicated_part_is_ddp_with_a_summing_hook(monkeypatch):
    """Under a process group of two, the replicated layers (conv1, conv2: their parameters
    only) are wrapped in DDP over the given group, with `_sum_hook` on that group; the hook
    all-reduces the bucket's buffer asynchronously and hands on the reduced tensor (the sum
    over processes, not DDP's default average)."""
    from alexspec.compiler.parallel import hybrid

    monkeypatch.setattr(hybrid.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(hybrid.dist, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(hybrid.nn.parallel, "DistributedDataParallel", _DDP)
    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    model = hybrid.build_hybrid(net, lower(net), 0, torch.device("cpu"), group="the group")
    ddp = model._replicated
    assert isinstance(ddp, _DDP) and ddp.process_group == "the group" and ddp.device_ids is None
    assert ddp.hooks == [("the group", hybrid._sum_hook)]
    assert {n.split(".")[1] for n, _ in ddp.module.named_parameters()} == {"conv1", "conv2"}

    calls = []

    class _Work:
        def __init__(self, t):
            self.t = t

        def get_future(self):
            fut = torch.futures.Future()
            fut.set_result([self.t])
            return fut

    def all_reduce(t, group=None, async_op=False):
        calls.append((group, async_op))
        t += torch.tensor([10.0, 20.0])  # the other process's gradients
        return _Work(t)

    class _Bucket:
        def __init__(self):
            self.t = torch.tensor([1.0, 2.0])

        def buffer(self):
            return self.t

    monkeypatch.setattr(hybrid.dist, "all_reduce", all_reduce)
    out = hybrid._sum_hook("the group", _Bucket()).wait()
    assert calls == [("the group", True)] and out.tolist() == [11.0, 22.0]


def test_setup_on_cuda_selects_the_processs_first_device_before_starting_the_group(monkeypatch):
    """Process 1 of 2, data parallel over 2 logical GPUs, `--gpu auto` with 4 CUDA devices:
    cuda:2 and cuda:3; `torch.cuda.set_device(cuda:2)` before the nccl+gloo group starts. The
    first logical GPU decides: with `cpu,0`, gloo and no device selected."""
    import torch.distributed.device_mesh as device_mesh

    from alexspec.compiler.parallel import group

    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(devices, "cuda_count", lambda: 4)
    monkeypatch.setattr(group.dist, "is_initialized", lambda: False)
    calls = []
    monkeypatch.setattr(group.torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    monkeypatch.setattr(group.dist, "init_process_group", lambda backend, **kw: calls.append(("init", backend)))
    monkeypatch.setattr(device_mesh, "init_device_mesh", lambda kind, shape, **kw: calls.append(("mesh", kind)))
    ctx = group.setup(loads(open("specs/alexnet-mini.cfg").read(), "mini.cfg"), "auto")
    assert ctx.devices == [torch.device("cuda:2"), torch.device("cuda:3")]
    assert calls == [("set_device", torch.device("cuda:2")), ("init", "cpu:gloo,cuda:nccl"), ("mesh", "cuda")]
    assert ctx.owns_group and ctx.backend == "cpu:gloo,cuda:nccl"
    calls.clear()  # `--gpu cpu,0`: the first logical GPU on the CPU, so no CUDA device to select
    ctx = group.setup(loads(open("specs/alexnet-mini.cfg").read(), "mini.cfg"), "cpu,0")
    assert ctx.devices == [torch.device("cpu"), torch.device("cuda:0")]
    assert calls == [("init", "gloo"), ("mesh", "cpu")]


def test_gather_objects_over_the_meshs_group(monkeypatch):
    """With a device mesh, every process's object is gathered over the mesh's group."""
    from alexspec.compiler.parallel import group
    from alexspec.compiler.parallel.group import ParallelContext, gather_objects

    seen = []

    def all_gather_object(out, obj, group=None):
        seen.append(group)
        out[0], out[1] = obj, "from 1"

    monkeypatch.setattr(group.dist, "all_gather_object", all_gather_object)
    ctx = ParallelContext(rank=0, world_size=2, backend="gloo", mesh=_Meshed("the mesh's group"))
    assert gather_objects("from 0", ctx) == ["from 0", "from 1"] and seen == ["the mesh's group"]


# ---------------------------------------------------------------- checker.py


def test_the_checker_counts_each_op_and_follows_a_gpus_tag_through_untagged_ops():
    """Three aten ops: relu of a GPU-1 tensor (its output inherits GPU 1), a multiply by an
    untagged tensor (still GPU 1), an add with a GPU-0 tensor: one violation, on GPUs (0, 1),
    whose output carries the lower GPU; an op on untagged tensors only leaves its output untagged.
    `strict=True` raises at the violating op, naming it and both GPUs."""
    from alexspec.compiler.checker import CrossDeviceOpError, LogicalDeviceChecker, Violation

    a, b, c = torch.randn(4), torch.randn(4), torch.randn(4)
    with LogicalDeviceChecker() as chk:
        chk.tag(a, 1)
        chk.tag(c, 0)
        h = torch.relu(a) * b
        assert chk.state.tags.get(h) == 1 and b not in chk.state.tags
        out = h + c
        free = b * 2
    assert chk.ops == 4
    assert chk.violations == [Violation("aten.add.Tensor", (0, 1))]
    assert chk.state.tags.get(out) == 0 and free not in chk.state.tags
    with pytest.raises(CrossDeviceOpError) as e:
        with LogicalDeviceChecker(strict=True) as strict:
            strict.tag(a, 1)
            strict.tag(c, 0)
            a + c
    assert str(e.value) == "cross-device op without transfer: aten.add.Tensor on (0, 1)"
    import importlib

    # removed again on leaving, even after the error
    assert importlib.import_module("alexspec.compiler.transfer").CHECKER is None


def _in_an_existing_group(monkeypatch, env: dict[str, str | None]):
    """torchrun's environment (`None`: the variable unset) with the process group already up and
    no device mesh made: `group.setup` as a worker runs it, in this process. Returns `group`."""
    import torch.distributed.device_mesh as device_mesh

    from alexspec.compiler.parallel import group

    for k, v in env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    monkeypatch.setattr(group.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(device_mesh, "init_device_mesh", lambda *a, **k: None)
    return group


def test_a_hybrid_spec_under_torchrun_with_fewer_processes_than_gpus_is_refused(monkeypatch, tmp_path):
    """The three-GPU hybrid spec started with two processes: a RunError at WORLD_SIZE."""
    group = _in_an_existing_group(monkeypatch, {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    with pytest.raises(RunError) as e:
        group.setup(loads(_three_gpu_spec(), "h3.cfg"), "cpu")
    assert (e.value.message, e.value.where) == (
        "the hybrid spec h3.cfg runs one process per logical GPU: it needs 3 processes, torchrun "
        "started 2", "WORLD_SIZE")


# ---------------------------------------------------------------- build.py


def test_build_draws_with_seed_0_by_default_and_init_layers_takes_shared_by_keyword():
    """`build(net)` is `build(net, seed=0)`; `init_layers(layers, net, seed, shared=...)` (its
    first three arguments also by keyword, `shared` only by keyword) draws the same weights."""
    from alexspec.compiler.build import init_layers

    net = _net("[h]\ntype=fc\ninputs=data\noutputs=3\n[out]\ntype=fc\ninputs=h\noutputs=3\n")
    default, seed0 = build(net, devices="cpu"), build(net, devices="cpu", seed=0)
    assert all(torch.equal(v, seed0.state_dict()[k]) for k, v in default.state_dict().items())
    seed1 = build(net, devices="cpu", seed=1)
    assert not torch.equal(seed1.layers["h"].weights[0], seed0.layers["h"].weights[0])
    again = build(net, devices="cpu", init=False)
    init_layers(layers=again.weight_layers(), net=net, seed=0, shared=frozenset())
    assert all(torch.equal(v, seed0.state_dict()[k]) for k, v in again.state_dict().items())
    with pytest.raises(TypeError):
        init_layers(again.weight_layers(), net, 0, frozenset())


def _spy_on_moves(monkeypatch) -> list:
    """`Tensor.to` as a real move between devices behaves: always a new tensor (on the CPU
    `.to("cpu")` is the tensor itself). Returns the list of (target device, new tensor)."""
    moves = []
    to = torch.Tensor.to

    def spy(self, *args, **kwargs):
        out = to(self, *args, **kwargs)
        out = self.clone() if out is self else out
        moves.append((args[0] if args else kwargs.get("device"), out))
        return out

    monkeypatch.setattr(torch.Tensor, "to", spy)
    return moves


def test_the_instrumented_paths_hand_on_the_moved_tensors_forward_and_backward(monkeypatch):
    """Forward, the transfer (under a TransferLog) and the feed (under the checker) return the
    tensor `.to()` moved to the destination; backward, they return the gradient `.to()` moved
    back to the source's device: what reaches the source (a hook on it) is that tensor, not the
    gradient that arrived on the destination."""
    from alexspec.compiler import feed
    from alexspec.compiler.checker import LogicalDeviceChecker

    src_device, dst_device = torch.device("cpu"), torch.device("cpu", 0)
    for path in ("transfer", "feed"):
        moves = _spy_on_moves(monkeypatch)
        x = torch.randn(3, requires_grad=True)
        seen = []
        x.register_hook(seen.append)
        if path == "transfer":
            with TransferLog():
                y = transfer(x, 0, 1, dst_device, "b<-a")
                (y * 2).sum().backward()
        else:
            with LogicalDeviceChecker():
                y = feed(x, 1, dst_device)
                (y * 2).sum().backward()
        monkeypatch.undo()
        (fwd_to, fwd_out), (bwd_to, bwd_out) = moves
        assert fwd_to == dst_device and y is fwd_out, path
        assert bwd_to == src_device and len(seen) == 1 and seen[0] is bwd_out, path
        assert torch.equal(x.grad, torch.full((3,), 2.0))


def test_a_data_parallel_process_with_exactly_enough_cuda_devices_takes_its_own(monkeypatch):
    """`--gpu auto`, two logical GPUs a process: process 0 with exactly 2 CUDA devices gets
    cuda:0 and cuda:1; process 1 with 3 (one short of its cuda:2, cuda:3) the CPU."""
    monkeypatch.setattr(devices, "cuda_count", lambda: 2)
    devs, why = devices.process_devices("auto", 2, 0, 2, per_gpu=False)
    assert devs == [torch.device("cuda:0"), torch.device("cuda:1")]
    assert why == "devices: gpu0 -> cuda:0, gpu1 -> cuda:1 (process 0 of 2: its own 2 CUDA device(s))"
    monkeypatch.setattr(devices, "cuda_count", lambda: 3)
    devs, why = devices.process_devices("auto", 2, 0, 2, per_gpu=False)  # one more than it needs
    assert devs == [torch.device("cuda:0"), torch.device("cuda:1")]
    devs, why = devices.process_devices("auto", 2, 1, 2, per_gpu=False)
    assert devs == [torch.device("cpu")] * 2
    assert why.endswith("(process 1 of 2: 3 CUDA device(s) are too few, CPU)")


def test_devices_of_other_kinds_are_taken_as_named():
    """Only CUDA indices are checked against the CUDA devices present: `mps` and `xpu:1` (device
    types that sort after "cuda") are taken as named with no CUDA device at all."""
    assert devices.device_list("mps,xpu:1", 0) == [torch.device("mps"), torch.device("xpu", 1)]


def test_a_hybrid_process_trains_and_evaluates_as_told():
    """`train()` (default: training) and `eval()` set the mode of every layer, the replicated
    part's included."""
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    model = build_hybrid(net, lower(net), 0, torch.device("cpu"))
    for set_mode, want in ((model.eval, False), (model.train, True), (lambda: model.train(False), False)):
        assert set_mode() is model
        assert model.training is want and model._replicated.training is want
        assert all(m.training is want for m in model.modules())


def test_only_cuda_devices_get_nccl():
    """nccl serves CUDA only: the CPU, and device types that sort after "cuda" (mps, xpu), get
    gloo."""
    from alexspec.compiler.parallel.group import process_group_backend

    assert [process_group_backend(t) for t in ("cuda", "cpu", "mps", "xpu")] == [
        "cpu:gloo,cuda:nccl", "gloo", "gloo", "gloo"]


TWO_GPU_FC = ("[a]\ntype=fc\ninputs=data\noutputs=3\ngpu=0\n[b]\ntype=fc\ninputs=data\noutputs=2\ngpu=1\nneuron=relu\n"
              "[out]\ntype=fc\ninputs=a,b\noutputs=3\ngpu=0\n")


def test_the_program_text_of_a_two_gpu_model_and_of_a_broken_plan():
    """`program()` whole: the header (layers, devices, transfers), one line per layer indented by
    its GPU's column (4 + 36 * gpu spaces), data fed, the crossing b -> out as a transfer, the
    model output marked; with the transfer removed from the plan, b is read in place on the
    wrong GPU, marked `[gpu1!]`, and the header counts no transfer. (3x4x4 images: 48 inputs.)"""
    net = _net(TWO_GPU_FC)
    col1 = " " * 40
    assert build(net, devices="cpu").program() == (
        "CompiledNet: 4 layers on gpu0=cpu, gpu1=cpu; 1 cross-GPU transfers\n"
        "    gpu0 a = FullyConnected(48 -> 3)  <- feed(data)\n"
        f"{col1}gpu1 b = FullyConnected(48 -> 2) relu  <- feed(data)\n"
        "    gpu0 out = FullyConnected(3 + 2 -> 3)  <- a, transfer(b: gpu1->gpu0)   [model output]\n"
        "    gpu0 probs = Softmax()  <- out")
    broken = build(net, devices="cpu", plan=lower(net).rewire("out", 1, transfer=False)).program()
    assert broken.splitlines()[0] == "CompiledNet: 4 layers on gpu0=cpu, gpu1=cpu; 0 cross-GPU transfers"
    assert broken.splitlines()[3] == "    gpu0 out = FullyConnected(3 + 2 -> 3)  <- a, b[gpu1!]   [model output]"
    # the other way round: out on GPU 1 reading a (GPU 0) in place
    net = _net(TWO_GPU_FC.replace("inputs=a,b\noutputs=3\ngpu=0\n", "inputs=a,b\noutputs=3\ngpu=1\n"))
    assert [(s.name, s.gpu) for s in lower(net).steps] == [("a", 0), ("b", 1), ("out", 1), ("probs", 1)]
    broken = build(net, devices="cpu", plan=lower(net).rewire("out", 0, transfer=False)).program()
    assert broken.splitlines()[3] == f"{col1}gpu1 out = FullyConnected(3 + 2 -> 3)  <- a[gpu0!], b   [model output]"


def test_forward_layers_gives_the_named_outputs_and_refuses_an_unknown_name():
    """The data layer's name gives the images themselves, a layer's name its output (b: relu
    of its fc, so never negative); a name no step computes (the cost layer, a typo) is a
    RunError located at the spec, listing the layers that do, sorted."""
    net = _net(TWO_GPU_FC)
    model = build(net, devices="cpu", dtype=torch.float64)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    got = model.forward_layers(x, ["data", "b", "out"])
    assert list(got) == ["data", "b", "out"] and got["data"] is x
    torch.testing.assert_close(got["out"], model(x))
    lin = model.layers["b"]
    torch.testing.assert_close(got["b"], torch.relu(x.flatten(1) @ lin.weights[0].T + lin.bias))
    for name in ("logprob", "nope"):
        with pytest.raises(RunError) as e:
            model.forward_layers(x, ["out", name])
        assert (e.value.message, e.value.where, e.value.hint) == (
            f"no layer {name!r} computes an output here", "core.cfg", "layers: a, b, data, out, probs")


def test_weight_layers_without_learning_parameters_are_each_named_with_what_they_lack():
    """No [*] defaults: `a` gives only epsW, `out` nothing: one located error per layer, the
    missing keys in cuda-convnet's order (epsW, epsB, momW, momB, wc)."""
    text = (HEAD.split("[*]")[0] + "[data]\ntype=data\ndataIdx=0\n[labels]\ntype=data\ndataIdx=1\n"
            "[a]\ntype=fc\ninputs=data\noutputs=3\nepsW=0.1\ninitW=0.1\n"
            "[out]\ntype=fc\ninputs=a\noutputs=3\ninitW=0.1\n" + TAIL)
    model = build(loads(text, "bare.cfg"), devices="cpu")
    with pytest.raises(SpecError) as e:
        model.learning_rules()
    assert [(d.code, d.message, d.span.path) for d in e.value.diagnostics] == [
        ("missing-params", "layer 'a': learning parameters missing: epsB, momW, momB, wc", "bare.cfg"),
        ("missing-params", "layer 'out': learning parameters missing: epsW, epsB, momW, momB, wc", "bare.cfg")]
    assert e.value.diagnostics[0].hint == ("add them to the layer params file (cuda-convnet requires "
                                           "epsW, epsB, momW, momB and wc on weight layers)")


def test_a_whole_sgd_state_of_300_rules_is_cut_to_the_processs_own(monkeypatch):
    """`local_sgd_state` compares the velocity list's length with the whole model's rule count by
    value: with 300 rules (lengths past CPython's small-int cache) a fitting state is still cut
    to this process's rules, in its order."""
    from alexspec.compiler.parallel import local_sgd_state
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    model = build_hybrid(net, lower(net), 1, torch.device("cpu"))
    full = [(f"l{i}", "weight", 0) for i in range(300)]
    mine = full[5::7]
    monkeypatch.setattr(model, "full_rule_order", lambda: list(full))
    monkeypatch.setattr(model, "local_rule_order", lambda: list(mine))
    whole = {"velocity": [torch.full((1,), float(i)) for i in range(300)]}
    got = local_sgd_state(model, whole)
    assert [float(v) for v in got["velocity"]] == [float(i) for i in range(5, 300, 7)]
    assert got["names"] == [f"l{i}.weight" for i in range(5, 300, 7)]


LOGITS_ON_1 = (("[passc]\ntype=pass\ninputs=fc2a,fc2b\ngpu=0\n", "[passc]\ntype=pass\ninputs=fc2a,fc2b\ngpu=1\n"),)


def test_with_the_logits_on_gpu_1_only_rank_1_passes_the_losss_gradient(monkeypatch):
    """passc, fc3 (the model output) on GPU 1: both ranks' scores are the single-process
    model's, and every gradient too (rank 0 holds the same scores but must not send their
    gradient back as well, or each would count twice)."""
    from tests import test_mutants_compiler_hybrid as two

    monkeypatch.setitem(two.VARIANTS, "logits_on_1", LOGITS_ON_1)
    net, out, hub, x, y = two._run_both(monkeypatch, 6, "logits_on_1")
    assert two.hybrid.hybrid_layout(net).logits_gpu == 1
    ref, want_scores, want_loss, want_grads = two._reference(net, x, y)
    for model, scores, loss in out:
        torch.testing.assert_close(scores, want_scores, rtol=1e-12, atol=1e-12)
    for name, want in want_grads.items():
        got = [dict(m.named_parameters())[name].grad for m, _, _ in out
               if name in dict(m.named_parameters())]
        torch.testing.assert_close(sum(got), want, rtol=1e-10, atol=1e-12)


def test_an_fc_layer_sharing_a_conv_layers_weights_is_refused_by_type():
    """The other way round from a conv sharing an fc's: an fc sharing a conv's matrix is refused
    because the types differ, before any shape is compared."""
    net = _net("[c]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=4\n"
               "[f]\ntype=fc\ninputs=data\noutputs=16\nweightSource=c\n"
               "[out]\ntype=fc\ninputs=c,f\noutputs=3\n")
    with pytest.raises(SpecError) as e:
        build(net, devices="cpu")
    (d,) = e.value.diagnostics
    assert d.message == ("layer 'f': weightSource 'c': 'c' is a conv layer, this one is fc "
                         "(cuda-convnet requires the same type)")


def test_the_too_few_devices_hint_gives_an_example_up_to_four_logical_gpus(monkeypatch):
    """Four logical GPUs, two devices given: the hint's example names four; five logical GPUs:
    no example."""
    monkeypatch.setattr(devices, "cuda_count", lambda: 0)
    with pytest.raises(RunError) as e:
        devices.resolve_devices("cpu,cpu", 4)
    assert e.value.hint == "give one device per logical GPU, e.g. 0,1,2,3 or cpu,cpu,cpu,cpu"
    with pytest.raises(RunError) as e:
        devices.resolve_devices("cpu,cpu", 5)
    assert e.value.hint == "give one device per logical GPU"


# ---------------------------------------------------------------- whole run, after the first 1,918 (h13b)


def test_a_weight_source_with_a_larger_matrix_than_the_user_needs_is_refused():
    """`fb` (3 outputs: a (3, 48) matrix) sharing `fa`'s (4, 48): refused, as one with a smaller
    source matrix is (tests/test_sharing_and_periods.py). The shapes compare as unequal, not as
    ordered tuples: (3, 48) < (4, 48), so `mine > theirs` would let fb take a matrix of 4 rows."""
    net = _net("[fa]\ntype=fc\ninputs=data\noutputs=4\n"
               "[fb]\ntype=fc\ninputs=data\noutputs=3\nweightSource=fa\n"
               "[out]\ntype=fc\ninputs=fa,fb\noutputs=3\n")
    with pytest.raises(SpecError) as e:
        build(net, devices="cpu")
    (d,) = e.value.diagnostics
    assert (d.code, d.message) == ("weight-source", "layer 'fb': weightSource 'fa': 'fa' has a (4, 48) "
                                   "weight matrix, input 0 of this layer needs (3, 48)")


def test_a_process_of_an_existing_group_without_rank_or_local_rank_set_is_rank_0(monkeypatch):
    """WORLD_SIZE=2 and the process group already up, RANK and LOCAL_RANK unset: the process is
    rank 0 (the main one, which writes the run's files), local rank 0, as the defaults say;
    never a rank outside 0..world-1."""
    group = _in_an_existing_group(monkeypatch, {"WORLD_SIZE": "2", "RANK": None, "LOCAL_RANK": None})
    ctx = group.setup(_net("[out]\ntype=fc\ninputs=data\noutputs=3\n"), "cpu")
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.is_main) == (0, 0, 2, True)
    assert ctx.summary == "devices: gpu0 -> cpu (as given); rank 0 of 2 (gloo)"


def test_a_hybrid_spec_whose_replicas_list_the_gpus_in_another_order_is_refused():
    """hybrid-2gpu.cfg with the replicated layers on `gpu=1,0`: as many replicas as logical GPUs
    but not in the order 0,1, which the hybrid step needs (rank r runs replica r): lower refuses
    it at conv1's `gpu=` (the only layer that says it; pool1 and conv2 inherit it), naming the
    order it needs. (With every layer on `gpu=1,0`, pure data parallelism, it lowers: see the
    test of that above.)"""
    text = open("tests/specs/compiler/hybrid-2gpu.cfg").read().replace("gpu=0,1\n", "gpu=1,0\n")
    net = loads(text, "h.cfg")
    with pytest.raises(SpecError) as e:
        lower(net)
    (d,) = e.value.diagnostics
    assert (d.code, d.message, d.span.line) == (
        "unsupported", "layer 'conv1': 2 replicas in a hybrid spec over 2 logical GPUs; replicated "
        "layers must run on all of them (gpu=0,1) yet", text.splitlines().index("gpu=1,0") + 1)


def test_a_whole_sgd_state_with_more_velocities_than_rules_is_left_whole():
    """`local_sgd_state` of a hybrid process given one velocity more than the whole model has
    rules: the state does not fit, so it comes back as it is (PaperSGD.load_state_dict then says
    what does not fit), not cut down to this process's rules as a fitting one would be."""
    from alexspec.compiler.parallel import local_sgd_state
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    model = build_hybrid(net, lower(net), 1, torch.device("cpu"))
    n = len(model.full_rule_order())
    assert n == 14 and len(model.local_rule_order()) == 8  # conv1, conv2, fcb, fc2b: weight, bias
    for extra in (1, -1):
        state = {"velocity": [torch.zeros(1) for _ in range(n + extra)]}
        assert local_sgd_state(model, state) is state
    assert len(local_sgd_state(model, {"velocity": [torch.zeros(1)] * n})["velocity"]) == 8


def test_a_data_parallel_process_says_how_many_replicas_the_spec_asks_for(monkeypatch):
    """Under torchrun (two processes, the group already up), a spec whose layers all run on
    `gpu=0,1` (two replicas): the placement summary ends with the replica count."""
    group = _in_an_existing_group(monkeypatch, {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    layer = "[{n}]\ntype=fc\ninputs={i}\noutputs=3\ngpu=0,1\n"
    net = _net(layer.format(n="h", i="data") + layer.format(n="out", i="h"))
    assert net.replicas == 2
    ctx = group.setup(net, "cpu")
    assert ctx.summary == ("devices: gpu0 -> cpu, gpu1 -> cpu (as given); rank 1 of 2 (gloo); "
                           "the spec asks for 2 replicas")


def test_init_weights_fills_a_model_on_a_device_whose_name_sorts_after_meta():
    """`init_weights` on a model already placed on an xpu (or mps) device: only meta tensors
    skip the copy. Each parameter here reports `xpu` as its device (a subclass: this machine has
    none; the copy itself runs on the CPU); after `init_weights(model, 0)` the weights and biases
    are the seed-0 ones `build` gives on the CPU."""
    from torch import nn

    from alexspec.compiler import init_weights

    class OnXpu(nn.Parameter):
        @property
        def device(self):
            return torch.device("xpu")

    net = _net("[h]\ntype=fc\ninputs=data\noutputs=3\ninitB=0.5\n"
               "[out]\ntype=fc\ninputs=h\noutputs=3\n")
    want = build(net, devices="cpu", seed=0).state_dict()
    model = build(net, devices="cpu", init=False)
    for _, mod in model.weight_layers():
        for i, w in enumerate(mod.weights):
            mod.weights[i] = OnXpu(torch.zeros_like(w))
        mod.bias = OnXpu(torch.zeros_like(mod.bias))
    assert {p.device.type for p in model.parameters()} == {"xpu"}
    init_weights(model, 0)
    got = model.state_dict()
    assert sorted(got) == sorted(want) and float(want["layers.h.bias"][0]) == 0.5
    for k, v in want.items():
        assert torch.equal(got[k], v), k


@pytest.mark.parametrize("gpu", ["", "gpu=0,1\n"])
def test_a_net_whose_only_layer_is_a_cost_reading_the_data_is_refused(gpu):
    """[data] and a cost.sum2 that reads it, nothing else: no layer to compute, so the model
    output would be the data layer, which no step makes (`alexspec run` ended in a KeyError
    traceback). lower refuses it at the cost layer. Replicated (`gpu=0,1`), it is still one
    replica set for every layer: no parallelism diagnostic (and no IndexError looking for a
    second layer to compare with)."""
    from alexspec.compiler.plan import _parallelism_diagnostics

    text = ("[net]\ntype=net\ninnerSize=4\n[data]\ntype=data\ndataIdx=0\n"
            "[c]\ntype=cost.sum2\ninputs=data\n" + gpu)
    net = loads(text, "only-cost.cfg")
    assert _parallelism_diagnostics(net) == []
    with pytest.raises(SpecError) as e:
        lower(net)
    (d,) = e.value.diagnostics
    assert (d.code, d.span.path, d.span.line) == ("unsupported", "only-cost.cfg", 7)
    assert d.message == ("layer 'c': the cost layer reads only data layers, so the net has no "
                         "layer to compute (the model output would be the data layer 'data')")
    assert d.hint == "put the layers to train between the data and the cost layer"


def test_a_model_over_three_logical_gpus_takes_three_devices():
    """Layers on GPUs 0, 1 and 2: the plan counts 3 logical GPUs (the largest index + 1), so
    three devices fit it and four are refused."""
    fc = "[{n}]\ntype=fc\ninputs={i}\noutputs=3\ngpu={g}\n"
    net = _net(fc.format(n="a", i="data", g=0) + fc.format(n="b", i="data", g=1)
               + fc.format(n="c", i="data", g=2) + fc.format(n="out", i="a,b,c", g=0))
    assert lower(net).num_gpus == 3
    assert build(net, devices="cpu,cpu,cpu").devices == [torch.device("cpu")] * 3
    with pytest.raises(RunError) as e:
        build(net, devices="cpu,cpu,cpu,cpu")
    assert e.value.message == ("the spec uses 3 logical GPUs but 4 devices were given "
                               "(cpu, cpu, cpu, cpu)")


def test_a_plan_finds_the_model_outputs_step_by_its_name():
    """`plan.step(plan.logits)` (as bench/bench_gpu.py asks where the output lives): the name
    comes from the softmax's `inputs=` and the step's from the section header, two equal
    strings that are not one object, so the steps are matched by value."""
    plan = lower(_net(TWO_GPU_FC))
    assert plan.logits == "out"
    step = plan.step(plan.logits)
    assert (step.name, step.type, step.gpu) == ("out", "fc", 0)


def test_a_hybrid_process_reports_the_cost_layers_top_k():
    """`topk=3` on hybrid-2gpu.cfg's cost layer: every HybridNet and the one-process model say
    3 (runtime/export.py and predict.py read `model.topk`)."""
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    assert build(net, devices="cpu").topk == 3
    assert [build_hybrid(net, lower(net), r, torch.device("cpu")).topk for r in (0, 1)] == [3, 3]


def test_a_data_parallel_process_over_three_logical_gpus_takes_the_next_three(monkeypatch):
    """`--gpu auto`, three logical GPUs a process, six CUDA devices: process 1 takes cuda:3,
    cuda:4, cuda:5 (3 * 1 + i)."""
    monkeypatch.setattr(devices, "cuda_count", lambda: 6)
    devs, why = devices.process_devices("auto", 3, 1, 2, per_gpu=False)
    assert devs == [torch.device(f"cuda:{i}") for i in (3, 4, 5)]
    assert why == ("devices: gpu0 -> cuda:3, gpu1 -> cuda:4, gpu2 -> cuda:5 "
                   "(process 1 of 2: its own 3 CUDA device(s))")


def test_a_shared_first_input_takes_no_draw_and_the_second_input_still_gets_its_own():
    """`weightSource=x,` on `out` (inputs fa, x): one generator (seed 0) draws in net order fa's
    (3, 48) matrix, x's (3, 3), then out's input 1 (3, 3); out's input 0 is x's and takes no
    draw. Each draw is N(0, 1) * initW (0.1), replayed here from the seed."""
    net = _net("[fa]\ntype=fc\ninputs=data\noutputs=3\n[x]\ntype=fc\ninputs=fa\noutputs=3\n"
               "[out]\ntype=fc\ninputs=fa,x\noutputs=3\nweightSource=x,\n")
    model = build(net, devices="cpu", seed=0)
    g = torch.Generator().manual_seed(0)
    want = [torch.randn(shape, generator=g) * 0.1 for shape in ((3, 48), (3, 3), (3, 3))]
    got = [model.layers["fa"].weights[0], model.layers["x"].weights[0], model.layers["out"].weights[1]]
    for w, v in zip(got, want):
        assert torch.equal(w.detach(), v)
    assert model.layers["out"].weights[0] is model.layers["x"].weights[0]


def test_without_cuda_the_count_of_cuda_devices_is_0(monkeypatch):
    """No CUDA at all: 0 devices (never a negative count), as a hybrid process's `auto`
    summary and the error for a CUDA device that does not exist say."""
    monkeypatch.setattr(devices.torch.cuda, "is_available", lambda: False)
    assert devices.cuda_count() == 0
    _, why = devices.process_devices("auto", 2, 1, 2, per_gpu=True)
    assert why == "devices: gpu1 -> cpu (process 1 of 2: 0 CUDA device(s) are too few, CPU)"
    with pytest.raises(RunError) as e:
        devices.device_list("cuda:0")
    assert e.value.message == "device cuda:0 does not exist (0 CUDA device(s) here)"


def test_a_world_size_of_0_is_one_process(monkeypatch):
    """WORLD_SIZE=0 (no processes to speak of): the single-process context, no process group."""
    from alexspec.compiler.parallel import group

    monkeypatch.setenv("WORLD_SIZE", "0")
    monkeypatch.setattr(group.dist, "init_process_group", lambda *a, **k: pytest.fail("a group"))
    ctx = group.setup(_net("[out]\ntype=fc\ninputs=data\noutputs=3\n"), "cpu")
    assert (ctx.world_size, ctx.backend, ctx.distributed, ctx.owns_group) == (1, None, False, False)
    assert ctx.summary == "devices: gpu0 -> cpu (as given)"


def test_a_hybrid_processs_cost_is_the_spec_cost_layers():
    """hybrid-2gpu.cfg's cost.logreg with `coeff=2`: HybridNet.cost on given scores (no
    collective involved) is twice the mean negative log-probability of the labels, computed here
    from the scores; its hit counts are those of the scores' top-1 and top-3."""
    from alexspec.compiler.parallel.hybrid import build_hybrid

    text = open("tests/specs/compiler/hybrid-2gpu.cfg").read().replace("topk=3\n", "topk=3\ncoeff=2\n")
    net = loads(text, "h.cfg")
    model = build_hybrid(net, lower(net), 0, torch.device("cpu"), dtype=torch.float64)
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0] + [-1.0] * 6, [0.0, 1.0, 2.0, 3.0] + [-1.0] * 6],
                          dtype=torch.float64)
    y = torch.tensor([0, 0])
    cost = model.cost(scores, y)
    want = -torch.log_softmax(scores, 1)[torch.arange(2), y].mean() * 2
    torch.testing.assert_close(cost.loss, want)
    # image 0's label is its best score; image 1's (0) its 4th best, outside the top 3
    assert (int(cost.correct_top1), int(cost.correct_topk), cost.k) == (1, 1, 3)


def test_a_hybrid_processs_state_dict_error_names_the_first_five_keys_of_each_kind():
    """HybridNet.load_state_dict of a state without six of this process's entries and with six
    keys of no layer: a RuntimeError naming the first five missing and the first five
    unexpected keys, sorted."""
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = loads(open("tests/specs/compiler/hybrid-2gpu.cfg").read(), "h.cfg")
    model = build_hybrid(net, lower(net), 1, torch.device("cpu"))
    state = build(net, devices="cpu").state_dict()
    own = sorted(model.state_dict())
    for k in own[:6]:
        del state[k]
    state.update({f"extra{i}": torch.zeros(1) for i in range(6)})
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(state)
    assert str(e.value) == (f"Error(s) in loading state_dict for HybridNet: missing {own[:5]}, "
                            f"unexpected {[f'extra{i}' for i in range(5)]}")


def test_the_images_are_the_dataidx_0_layer_even_after_the_labels_in_the_spec():
    """[labels] (dataIdx=1) written before [data] (dataIdx=0): the plan's images are `data`,
    fed to the first layer."""
    text = HEAD.replace("[data]\ntype=data\ndataIdx=0\n[labels]\ntype=data\ndataIdx=1\n",
                        "[labels]\ntype=data\ndataIdx=1\n[data]\ntype=data\ndataIdx=0\n")
    net = loads(text + "[out]\ntype=fc\ninputs=data\noutputs=3\n" + TAIL, "labels-first.cfg")
    assert [n.name for n in net.data_nodes] == ["labels", "data"]
    plan = lower(net)
    assert plan.images == "data" and plan.steps[0].sources[0].name == "data"


def test_a_data_parallel_process_with_too_few_cuda_devices_for_its_model_runs_on_the_cpu(monkeypatch):
    """`--gpu auto`, two logical GPUs a process, one CUDA device: process 0 (which would need
    cuda:0 and cuda:1) runs its model on the CPU."""
    monkeypatch.setattr(devices, "cuda_count", lambda: 1)
    devs, why = devices.process_devices("auto", 2, 0, 2, per_gpu=False)
    assert devs == [torch.device("cpu")] * 2
    assert why == "devices: gpu0 -> cpu, gpu1 -> cpu (process 0 of 2: 1 CUDA device(s) are too few, CPU)"


def test_the_model_output_of_a_sum2_cost_reading_a_channel_sum_is_that_sum():
    """cost.sum2 over a `sum` layer (whose type sorts after "softmax"): the model output is the
    sum layer itself (16 channels summed in groups of 4: 4 channels), not its input; only a
    softmax input is looked through."""
    text = ("[net]\ntype=net\ninnerSize=4\n[*]\nepsW=0.01\nepsB=0.01\nmomW=0.9\nmomB=0.9\nwc=0\n"
            "[data]\ntype=data\ndataIdx=0\n"
            "[c]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=1\n"
            "[s]\ntype=sum\ninputs=c\nstride=4\n[cost]\ntype=cost.sum2\ninputs=s\n")
    net = loads(text, "sum.cfg")
    assert lower(net).logits == "s"
    model = build(net, devices="cpu")
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 4, 4, 4)


_ONLY_DATA = "[net]\ntype=net\ninnerSize=4\n[data]\ntype=data\ndataIdx=0\n"


def test_a_net_whose_only_computing_layer_sorts_before_data_is_lowered():
    """data -> conv -> cost.sum2: the conv is a layer to compute, so the no-layer-to-compute
    refusal (plan.py's _no_layer_to_compute) stays out of it, though "conv" sorts before "data"
    (kills its `n.type > "data"` for `!=`: NotEq_Gt 4, run on its own in compiler-lines.txt)."""
    net = loads(_ONLY_DATA + "[conv]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\n"
                "padding=1\nstride=1\n[c]\ntype=cost.sum2\ninputs=conv\n", "conv.cfg")
    assert [s.name for s in lower(net).steps] == ["conv"]


def test_the_no_layer_to_compute_refusal_names_the_first_cost_and_its_model_output_input():
    """Two costs reading the data: the refusal is at the first, c1 (line 7), and a crossent's
    model output is its last input, the data layer, not its labels (kills plan.py's
    `costs[-1]` and `inputs[not 1]` / `inputs[- 0]`: NumberReplacer 35 and 37, USub_Not 2)."""
    with pytest.raises(SpecError) as e:
        lower(loads(_ONLY_DATA + "[c1]\ntype=cost.sum2\ninputs=data\n[c2]\ntype=cost.sum2\ninputs=data\n",
                    "two.cfg"))
    first = e.value.diagnostics[0]
    assert (first.span.line, first.message.split(":")[0]) == (7, "layer 'c1'")
    with pytest.raises(SpecError) as e:
        lower(loads(_ONLY_DATA + "[labels]\ntype=data\ndataIdx=1\n[c]\ntype=cost.crossent\n"
                    "inputs=labels,data\n", "crossent.cfg"))
    (d,) = e.value.diagnostics
    assert d.message.endswith("(the model output would be the data layer 'data')")
