"""weightSource (shared weight matrices) and updatePeriod (updates every P minibatches), as
cuda-convnet2 does them (WeightLayerParser, weights.cu, WeightLayer::updateWeights)."""

from __future__ import annotations

import pytest
import torch

from alexspec.compiler import build
from alexspec.errors import SpecError
from alexspec.pipeline import loads
from alexspec.runtime.sgd import PaperSGD

SHARED = """
[*]
epsW=0.1
epsB=0.1
momW=0.9
momB=0.9
wc=0.01

[data]
type=data
dataIdx=0
channels=1

[labels]
type=data
dataIdx=1

[net]
type=net
innerSize=2

[fa]
type=fc
inputs=data
outputs=4

[fb]
type=fc
inputs=data
outputs=4
weightSource=fa
{extra}

[fc]
type=fc
inputs=fa,fb
outputs=3
weightSource=,fc[0]

[probs]
type=softmax
inputs=fc

[cost]
type=cost.logreg
inputs=labels,probs
"""


def _net(extra=""):
    return loads(SHARED.format(extra=extra), "shared.cfg")


def test_weight_source_shares_one_matrix_and_sums_its_gradients():
    model = build(_net(), devices="cpu", dtype=torch.float64, seed=0)
    fa, fb, fc = (model.layers[n] for n in ("fa", "fb", "fc"))
    assert fb.weights[0] is fa.weights[0] and fc.weights[1] is fc.weights[0]
    assert fb.bias is not fa.bias  # biases are never shared
    x = torch.randn(5, 1, 2, 2, dtype=torch.float64)
    model.cost(model(x), torch.tensor([0, 1, 2, 0, 1])).loss.backward()
    # the gradient is the sum over both uses: check against a copy that does not share
    w = fa.weights[0].detach().clone().requires_grad_()
    wf = fc.weights[0].detach().clone().requires_grad_()
    flat = x.flatten(1)
    ha, hb = flat @ w.T + fa.bias.detach(), flat @ w.T + fb.bias.detach()
    scores = ha @ wf.T + hb @ wf.T + fc.bias.detach()
    torch.nn.functional.cross_entropy(scores, torch.tensor([0, 1, 2, 0, 1])).backward()
    torch.testing.assert_close(fa.weights[0].grad, w.grad)
    torch.testing.assert_close(fc.weights[0].grad, wf.grad)
    # one learning rule per matrix: the owner's
    rules = model.learning_rules()
    assert len(rules) == len(list(model.parameters())) == 5  # fa.w, fc.w and 3 biases
    assert {(r.layer, r.kind, r.index) for r in rules if r.kind == "weight"} == {("fa", "weight", 0),
                                                                                ("fc", "weight", 0)}


def test_weight_source_of_another_shape_is_a_located_error():
    text = SHARED.format(extra="").replace("[fb]\ntype=fc\ninputs=data\noutputs=4",
                                           "[fb]\ntype=fc\ninputs=data\noutputs=5")
    with pytest.raises(SpecError) as e:
        build(loads(text, "shared.cfg"), devices="cpu")
    d = e.value.diagnostics[0]
    assert d.span.path == "shared.cfg" and "weightSource 'fa'" in d.message and "(4, 4)" in d.message


def test_update_period_averages_the_gradients_of_p_minibatches():
    net = _net("updatePeriod=3")
    model = build(net, devices="cpu", dtype=torch.float64, seed=0)
    rules = model.learning_rules()
    fb_bias = next(r for r in rules if r.layer == "fb" and r.kind == "bias")
    fa_bias = next(r for r in rules if r.layer == "fa" and r.kind == "bias")
    assert fb_bias.period == 3 and fa_bias.period == 1
    sgd = PaperSGD(rules)
    p = fb_bias.param
    w0, v = p.detach().clone(), torch.zeros_like(p)
    grads = []
    for step in range(1, 7):
        x = torch.randn(4, 1, 2, 2, dtype=torch.float64)
        sgd.zero_grad()
        model.cost(model(x), torch.tensor([0, 1, 2, 0])).loss.backward()
        grads.append(p.grad.detach().clone())
        before = p.detach().clone()
        sgd.step(0.0)
        if step % 3:
            assert torch.equal(p.detach(), before)  # no update between periods
        else:  # v := mom v - eps * mean of the 3 gradients (no wc on biases); w += v
            v = 0.9 * v - 0.1 * sum(grads[-3:]) / 3
            w0 = w0 + v
            torch.testing.assert_close(p.detach(), w0)
    state = sgd.state_dict()
    assert state["passes"] == 6 and len(state["accum"]) == len(rules)
