"""Proof on the CPU that the lowered AlexNet has the spec's connectivity (issue 3, item 4).

(a) equals a hand-written single-device AlexNet (groups=2, LRN per column) in float64, forward
    and every gradient; (b) gradient-flow matrix == reachability in the spec's graph;
(c) transfers counted on transfer events == the spec's cross-GPU edges, forward and backward;
(d) deliberately broken lowerings fail those checks; (e) the logical-device checker.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import alexspec
from alexspec.compiler import TransferLog, build, lower
from alexspec.compiler.checker import CrossDeviceOpError, LogicalDeviceChecker
from tests.reference_alexnet import GroupedAlexNet, paper_lrn

D = torch.float64


@pytest.fixture(scope="module")
def net():
    return alexspec.load("specs/alexnet.cfg")


@pytest.fixture(scope="module")
def model64(net):
    torch.manual_seed(0)
    return build(net, devices=["cpu", "cpu"], seed=1, dtype=D).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(2)
    return torch.randn(1, 3, 224, 224, generator=g, dtype=D), torch.tensor([999])


def grouped_from(model, net) -> GroupedAlexNet:
    """The oracle (the literal LRN, dropout as at test time) with the compiled model's weights
    (column a's rows first)."""
    with torch.device("meta"):  # no default init: every weight is copied in below
        ref = GroupedAlexNet(lrn=paper_lrn)
    ref = ref.to_empty(device="cpu").to(D).eval()
    L = {n: m for n, m in model.layers.items()}

    def w(name):
        mod = L[name]
        assert all(net[name].layer.inputs[i][-1] == "ab"[i] for i in range(len(mod.weights))) \
            or len(mod.weights) == 1
        return torch.cat(list(mod.weights), 1)

    with torch.no_grad():
        for i in (1, 2, 3, 4, 5, 6, 7):
            r = getattr(ref, f"conv{i}" if i <= 5 else f"fc{i}")
            r.weight.copy_(torch.cat([w(f"{r_name}{c}") for c in "ab"], 0)
                           if (r_name := (f"conv{i}" if i <= 5 else f"fc{i}")) else None)
            r.bias.copy_(torch.cat([L[f"{r_name}{c}"].bias for c in "ab"]))
        ref.fc8.weight.copy_(w("fc8"))
        ref.fc8.bias.copy_(L["fc8"].bias)
    return ref


def grads_as_grouped(model) -> dict[str, torch.Tensor]:
    L = {n: m for n, m in model.layers.items()}
    out = {}
    for i in range(1, 8):
        r = f"conv{i}" if i <= 5 else f"fc{i}"
        out[f"{r}.weight"] = torch.cat([torch.cat([w.grad for w in L[r + c].weights], 1) for c in "ab"], 0)
        out[f"{r}.bias"] = torch.cat([L[r + c].bias.grad for c in "ab"])
    out["fc8.weight"] = torch.cat([w.grad for w in L["fc8"].weights], 1)
    out["fc8.bias"] = L["fc8"].bias.grad
    return out


def forward_backward(model, x, y):
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return logits.detach(), x.grad


# --------------------------------------------------------------------------- the compiled net


def test_alexnet_size_and_output(net):
    model = build(net, devices=["cpu", "cpu"])
    assert sum(p.numel() for p in model.parameters()) == 60_965_224 == net.params
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, 224, 224)).shape == (2, 1000)
    for name, mod in model.layers.items():  # every layer's parameters agree with the checker
        assert sum(p.numel() for p in mod.parameters()) == net[name].params, name


def test_a_equals_hand_written_grouped_alexnet_fp64(net, model64, batch):
    x, y = batch
    ref = grouped_from(model64, net)
    logits, gx = forward_backward(model64, x, y)
    ref_logits, ref_gx = forward_backward(ref, x, y)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx, ref_gx, rtol=1e-10, atol=1e-14)
    ours = grads_as_grouped(model64)
    theirs = dict(ref.named_parameters())
    assert set(ours) == set(theirs)
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k].grad, rtol=1e-10, atol=1e-14, msg=k)


def spec_reachability(net) -> dict[str, set[str]]:
    """For each layer, every layer it reads from directly or indirectly (the spec's graph)."""
    reach: dict[str, set[str]] = {}
    for n in net:  # topological order
        reach[n.name] = set()
        for src in n.layer.inputs:
            if net[src].type != "data":
                reach[n.name] |= {src} | reach[src]
    return reach


def autograd_reachability(acts) -> dict[str, set[str]]:
    """For each layer, the layers whose output tensors lie in its autograd graph."""
    owner = {t.grad_fn: n for n, t in acts.items()}
    out = {}
    for name, t in acts.items():
        seen, stack = set(), [t.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            stack.extend(nf for nf, _ in fn.next_functions)
        out[name] = {owner[fn] for fn in seen if fn in owner} - {name}
    return out


def layer_acts(model, x):
    names = [s.name for s in model.plan.steps]
    return model.forward_layers(x.requires_grad_(True), names)


def test_b_gradient_flow_matrix_equals_spec_reachability(net, model64, batch):
    acts = layer_acts(model64, batch[0][:1].clone())
    assert autograd_reachability(acts) == {n: spec_reachability(net)[n] for n in acts}
    # The paper's point, with a real backward: conv4 on GPU 0 gets nothing from conv3 on GPU 1.
    none, some = torch.autograd.grad(acts["conv4a"].sum(), [acts["conv3b"], acts["conv3a"]],
                                     allow_unused=True)
    assert none is None and some is not None and some.abs().sum() > 0


def test_c_transfers_forward_and_backward_equal_cross_gpu_edges(net, model64, batch):
    x, y = batch
    with TransferLog() as log:
        forward_backward(model64, x[:1], y[:1])
    assert len(net.cross_gpu_edges) == 7  # the paper: conv3 (2), fc6 (2), fc7 (2), fc8 (1)
    assert transfers_match_spec(log, net)
    assert all(e.src != e.dst for e in log.events)


def transfers_match_spec(log: TransferLog, net) -> bool:
    """(c): one transfer per cross-GPU edge of the spec, forward and backward, and no other."""
    want = sorted(f"{e.dst}<-{e.src}" for e in net.cross_gpu_edges)
    got = {d: sorted(e.tag for e in log.events if e.direction == d) for d in ("fwd", "bwd")}
    return got["fwd"] == want and got["bwd"] == want


def test_e_checker_finds_no_cross_device_op_in_the_lowering(model64, batch):
    x, y = batch
    with LogicalDeviceChecker(model64, strict=True) as chk:
        forward_backward(model64, x[:1], y[:1])
    assert chk.violations == [] and chk.ops > 200


# --------------------------------------------------------------------------- broken lowerings


def test_d_removed_transfer_is_caught(net, batch):
    broken = lower(net).rewire("conv3a", 1, transfer=False)  # conv3a reads pool2b in place
    model = build(net, devices=["cpu", "cpu"], seed=1, dtype=D, plan=broken).eval()
    x, y = batch
    with TransferLog() as log:
        forward_backward(model, x[:1], y[:1])
    assert log.count("fwd") == log.count("bwd") == len(net.cross_gpu_edges) - 1
    assert not transfers_match_spec(log, net)  # (c) fails
    with LogicalDeviceChecker(model) as chk:  # (e): what a real GPU pair would reject
        forward_backward(model, x[:1], y[:1])
    assert chk.violations and any("cat" in v.op or "conv" in v.op or "add" in v.op
                                  for v in chk.violations)
    with pytest.raises(CrossDeviceOpError):
        with LogicalDeviceChecker(model, strict=True):
            forward_backward(model, x[:1], y[:1])
    # (a) and (b) cannot see this one on a CPU (same data either way); (c) and (e) do.


def test_d_added_transfer_is_caught(net, model64, batch):
    # conv4a reads conv3b through an extra transfer: the wiring of a different net.
    broken = lower(net).rewire("conv4a", 0, src="conv3b", src_gpu=1, transfer=True)
    model = build(net, devices=["cpu", "cpu"], seed=1, dtype=D, plan=broken).eval()
    x, y = batch
    with TransferLog() as log:
        forward_backward(model, x[:1], y[:1])
    # conv3a is now unused, so the count alone stays 7; the edges moved, and (c) sees that.
    assert "conv4a<-conv3b" in {e.tag for e in log.events}
    assert not transfers_match_spec(log, net)  # (c) fails
    acts = layer_acts(model, x[:1].clone())
    assert autograd_reachability(acts)["conv4a"] != spec_reachability(net)["conv4a"]  # (b) fails
    with torch.no_grad():  # (a) fails: the oracle's output differs
        assert not torch.allclose(model(x[:1]), grouped_from(model64, net)(x[:1]))


# --------------------------------------------------------------------------- other specs


def test_towers_file_gives_identical_outputs_for_the_same_seed(net):
    towers = alexspec.load("specs/alexnet-towers.cfg")
    x = torch.randn(1, 3, 224, 224)
    a = build(net, devices=["cpu", "cpu"], seed=5).eval()
    b = build(towers, devices=["cpu", "cpu"], seed=5).eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_program_shows_columns_and_transfers(net):
    text = repr(build(net, devices="cpu", init=False))
    assert text.count("transfer(") == 7
    assert "gpu1 conv3b" in text and "transfer(pool2a: gpu0->gpu1)" in text


# --------------------------------------------------------------------------- real GPUs (skipped here)


@pytest.mark.skipif(torch.cuda.device_count() < 1, reason="needs a CUDA device")
def test_cuda_placement_matches_the_cpu(net):
    devs = ["cuda:0", "cuda:1"] if torch.cuda.device_count() >= 2 else ["cuda:0", "cuda:0"]
    gpu = build(net, devices=devs, seed=1).eval()
    cpu = build(net, devices="cpu", seed=1).eval()
    for step in gpu.plan.steps:  # every layer's parameters on its logical GPU's device
        for p in gpu.layers[step.name].parameters():
            assert p.device == torch.device(devs[step.gpu])
    x = torch.randn(2, 3, 224, 224)
    with TransferLog() as log, torch.no_grad():
        out = gpu(x)
    assert out.device == torch.device(devs[0]) and log.count("fwd") == len(net.cross_gpu_edges)
    with torch.no_grad():
        torch.testing.assert_close(out.cpu(), cpu(x), rtol=1e-3, atol=1e-4)
