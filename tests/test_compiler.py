"""The compiler's API: registry completeness, located refusals, cost, learning rules, devices,
initialisation, and real cuda-convnet files compiling and running."""

from __future__ import annotations

import math

import pytest
import torch

import alexspec
from alexspec.compiler import build, lower, resolve_devices
from alexspec.errors import RunError, Span, SpecError

SMALL = "tests/specs/compiler/twocol-small.cfg"
CC = "tests/specs/cuda-convnet"


@pytest.fixture(scope="module")
def small():
    return alexspec.load(SMALL)


def test_sfc_file_builds_and_counts_parameters():
    net = alexspec.load("tests/specs/compiler/sfc.cfg")
    model = build(net, devices="cpu")
    for name, mod in model.layers.items():
        assert sum(p.numel() for p in mod.parameters()) == net[name].params, name


def test_cost_logreg_loss_and_topk(small):
    model = build(small, devices="cpu")
    scores = torch.tensor([[0.0, 3.0, 1.0, 2.0] + [-5.0] * 6, [4.0, 3.0, 2.0, 1.0] + [-5.0] * 6])
    labels = torch.tensor([1, 3])
    c = model.cost(scores, labels)
    logp = [s - math.log(sum(math.exp(v) for v in row)) for row, s in
            ((scores[0].tolist(), 3.0), (scores[1].tolist(), 1.0))]
    assert c.loss.item() == pytest.approx(-sum(logp) / 2)
    assert (c.correct_top1.item(), c.correct_topk.item(), c.k) == (1, 1, 3)  # label 3 is 4th


def test_learning_rules_cover_every_parameter(small):
    model = build(small, devices="cpu")
    rules = model.learning_rules()
    assert {id(r.param) for r in rules} == {id(p) for p in model.parameters()}
    w = [r for r in rules if r.kind == "weight"]
    b = [r for r in rules if r.kind == "bias"]
    assert all(r.eps.at(0.0) == 0.01 and r.mom == 0.9 and r.wc == 0.0005 for r in w)
    assert all(r.eps.at(0.0) == 0.02 and r.mom == 0.9 and r.wc == 0.0 for r in b)
    assert {r.layer for r in rules} == {"conv1a", "conv1b", "conv2a", "conv2b", "fc3a", "fc3b", "fc4"}


def test_missing_learning_parameters_are_located(tmp_path):
    text = open(SMALL).read().replace("epsW=0.01\n", "")
    p = tmp_path / "noeps.cfg"
    p.write_text(text)
    model = build(alexspec.load(str(p)), devices="cpu")
    with pytest.raises(SpecError) as e:
        model.learning_rules()
    assert "noeps.cfg:" in str(e.value) and "epsW" in str(e.value)


def test_devices():
    assert resolve_devices(["cpu", "cpu"], 2)[0] == [torch.device("cpu")] * 2
    assert resolve_devices("cpu", 2)[0] == [torch.device("cpu")] * 2
    devs, line = resolve_devices("auto", 2)
    if not torch.cuda.is_available():
        assert devs == [torch.device("cpu")] * 2 and "no CUDA device" in line and "\n" not in line


def test_bad_device_lists_are_run_errors():
    with pytest.raises(RunError, match="logical GPUs but 2 devices"):
        resolve_devices(["cpu", "cpu"], 3)
    with pytest.raises(RunError, match="not a device"):
        resolve_devices(["gpu7"], 2)
    if torch.cuda.device_count() < 9:
        with pytest.raises(RunError, match="does not exist"):
            resolve_devices("8,9", 2)


def test_init_follows_the_spec_and_the_seed(small):
    a = build(small, devices=["cpu", "cpu"], seed=3)
    b = build(small, devices="cpu", seed=3, dtype=torch.float64)
    c = build(small, devices="cpu", seed=4)
    for (n, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p.double(), q), n  # same draws on any device list and dtype
        if n.endswith("weights.0"):
            assert not torch.equal(p, r)
    conv = a.layers["conv1a"]
    assert conv.bias.eq(0.1).all() and a.layers["fc4"].bias.eq(0).all()
    big = build(alexspec.load("specs/alexnet.cfg"), devices="cpu", seed=0)
    w = big.layers["fc6a"].weights[0]
    assert w.mean().abs() < 1e-4 and abs(w.std().item() - 0.01) < 1e-4  # initW=0.01
    assert big.layers["conv2a"].bias.eq(1).all() and big.layers["conv3a"].bias.eq(0).all()


def test_auto_devices_say_what_they_chose(small):
    model = build(small)
    assert model.placement_summary.startswith("devices: gpu0 -> ")


@pytest.mark.parametrize("layers,params,size", [
    ("layers-18pct.cfg", "layer-params-18pct.cfg", 32),
    ("layers-80sec.cfg", "layer-params-80sec.cfg", 32),
    ("layers-conv-local-13pct.cfg", "layer-params-conv-local-13pct.cfg", 24),
])
def test_real_cuda_convnet_files_compile_and_train_a_step(layers, params, size):
    net = alexspec.load(f"{CC}/{layers}", params=f"{CC}/{params}", inner_size=size)
    model = build(net, devices="cpu")
    for name, mod in model.layers.items():
        assert sum(p.numel() for p in mod.parameters()) == net[name].params, name
    x = torch.randn(2, *model.input_shape)
    scores = model.train()(x)
    assert scores.shape == (2, model.num_classes)
    model.cost(scores, torch.tensor([0, 1])).loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert len(model.learning_rules()) == len(list(model.parameters()))


def test_forward_layers_returns_named_outputs(small):
    model = build(small, devices="cpu").eval()
    x = torch.randn(3, *model.input_shape)
    out = model.forward_layers(x, ["data", "conv1b", "probs"])
    assert out["data"] is x and out["conv1b"].shape == (3, 16, 7, 7)
    torch.testing.assert_close(out["probs"], torch.softmax(model(x), 1))
    with pytest.raises(RunError, match="no layer 'logprob'"):
        model.forward_layers(x, ["logprob"])
