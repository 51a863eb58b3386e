"""The compiler registry, walked over every type of the IR's union (not the registry's own list):
each type's registered lowering, built inside a tiny net, must compute its cuda-convnet formula
(tests/references.py, float64 loops) and train (forward and backward); a type without a lowering
must carry a located "not supported by the compiler" refusal. Removing or breaking one
registration fails here (the monkeypatch tests below show it)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from alexspec.compiler import build
from alexspec.compiler.layers import all_ir_types, registry
from alexspec.compiler.layers.simple import EltSum
from alexspec.errors import SpecError
from alexspec.pipeline import loads
from alexspec.support import TYPE_REFUSALS
from references import cost_reference, layer_reference
from registry_nets import net_text

D = torch.float64
LABELS = torch.tensor([1, 3])


def _images(layer_type: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    if layer_type == "rgb2lab":  # cuda-convnet: RGB in [0, 1]
        return torch.rand(2, 3, 8, 8, generator=g, dtype=D)
    return torch.randn(2, 3, 8, 8, generator=g, dtype=D)


def check_type(layer_type: str) -> None:
    """Lowered to its formula and trainable, or refused with a located reason."""
    low = registry.lowering(layer_type)
    text = net_text(layer_type)
    assert text is not None, f"tests/registry_nets.py has no net using {layer_type!r}"
    if low is None:
        assert layer_type in TYPE_REFUSALS, f"{layer_type!r}: no lowering and no refusal"
        with pytest.raises(SpecError) as e:  # `check` already says it (alexspec/support.py)
            build(loads(text, f"{layer_type}.cfg"), devices="cpu")
        d = next(d for d in e.value.diagnostics if layer_type in d.message)
        assert d.span.path == f"{layer_type}.cfg" and d.span.line > 1
        assert "not supported by the compiler" in d.message
        return
    net = loads(text, f"{layer_type}.cfg")
    model = build(net, devices="cpu", dtype=D, seed=1).eval()
    x = _images(layer_type)
    if low.kind == "cost":
        cost_layer = net[model.plan.cost].layer
        got = model.cost(model(x), LABELS).loss.item()
        assert got == pytest.approx(cost_reference(cost_layer, model(x), LABELS.tolist()), rel=1e-9)
    elif low.kind == "data":
        out = model.forward_layers(x, ["data"])
        assert out["data"] is x and model.input_shape == (3, 8, 8)
    else:
        node = net["probs" if layer_type == "softmax" else "t"]
        assert node.type == layer_type
        outs = model.forward_layers(x, [*node.layer.inputs, node.name])
        got = outs[node.name]
        shape = (node.output.channels, node.output.height, node.output.width)
        assert got.shape[1:] in (shape, (node.output.numel,)), (got.shape, shape)
        from alexspec.compiler.model import module_key
        want = layer_reference(node, model.layers[module_key(node.name)],
                               [outs[i] for i in node.layer.inputs])
        torch.testing.assert_close(got, want.reshape(got.shape))
    model.train()
    model.cost(model(x), LABELS).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("layer_type", all_ir_types())
def test_every_ir_type_is_lowered_to_its_formula_or_refused(layer_type):
    check_type(layer_type)


def test_the_registry_lowers_only_ir_types():
    assert set(registry.LOWERINGS) <= set(all_ir_types())


def test_removing_a_lowering_fails_the_registry_check(monkeypatch):
    monkeypatch.delitem(registry.LOWERINGS, "cmpool")
    with pytest.raises(AssertionError, match="no lowering and no refusal"):
        check_type("cmpool")


def test_a_wrong_lowering_fails_the_registry_check(monkeypatch):
    # eltmax lowered as a sum: shapes, training and the whole net still work; the formula fails.
    def as_sum(node):
        return EltSum(SimpleNamespace(coeffs=(), neuron=None), len(node.layer.inputs))
    monkeypatch.setitem(registry.LOWERINGS, "eltmax",
                        registry.Lowering("eltmax", as_sum, "module", "test.as_sum"))
    with pytest.raises(AssertionError, match="not close"):
        check_type("eltmax")


def test_a_registered_refusal_is_located(monkeypatch):
    monkeypatch.delitem(registry.LOWERINGS, "crop")
    monkeypatch.setitem(TYPE_REFUSALS, "crop", "test reason")
    check_type("crop")


def test_a_type_registered_twice_fails_at_import():
    with pytest.raises(RuntimeError, match="lowered twice"):
        registry.lowers("conv")(lambda node: None)


def test_the_refusal_table_does_not_import_torch():
    code = "import sys, alexspec.support; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_check_says_what_the_compiler_refuses():
    text = net_text("cmpool").replace("pool=max", "pool=avg")
    with pytest.raises(SpecError) as e:
        loads(text, "cm.cfg")  # check time: no build, no torch needed
    d = e.value.diagnostics[0]
    assert "pool=avg is not supported by the compiler for cmpool" in d.message
    assert text.splitlines()[d.span.line - 1] == "pool=avg"
