"""`Net.architecture_hash`: a resume may change learning parameters and initialisation, never
what the layers compute."""

from __future__ import annotations

import pytest

from alexspec.pipeline import loads
from tests.tiny_spec import tiny_spec


def _net(changes=None):
    return loads(tiny_spec(changes), "tiny.cfg")


@pytest.fixture(scope="module")
def base():
    return _net()


@pytest.mark.parametrize("changes, layer", [
    ({"conv1": {"neuron": "tanh[1.7159,0.6666]"}}, "conv1a"),
    ({"fc3": {"neuron": None}}, "fc3b"),
    ({"fc3": {"neuron": "relu"}, "conv2": {"neuron": "abs"}}, "conv2a"),
    ({"pool1": {"pool": "avg"}}, "pool1b"),
    ({"drop3": {"keep": "0.7"}}, "drop3a"),
    ({"rnorm1": {"scale": "0.001"}}, "rnorm1a"),
    ({"logprob": {"coeff": "2"}}, "logprob"),
])
def test_changing_what_a_layer_computes_changes_the_hash(base, changes, layer):
    net = _net(changes)
    assert [(n.output, n.params) for n in net] == [(n.output, n.params) for n in base]
    assert net.architecture_hash != base.architecture_hash
    changed = [n.name for n, b in zip(net, base) if n.architecture != b.architecture]
    assert layer in changed  # the per-layer lines name where it changed


@pytest.mark.parametrize("changes", [
    {"*": {"epsW": "0.02"}},
    {"conv1": {"epsW": "exp[base=0.05;tgtFactor=20]", "momW": "0.5"}},
    {"*": {"epsB": "0.1", "momB": "0.8", "wc": "0.001", "initW": "0.2"}},
    {"fc4": {"initW": None, "initB": "1"}},
])
def test_learning_parameters_and_initialisation_leave_the_hash(base, changes):
    net = _net(changes)
    assert net.spec != base.spec  # the change reached the spec
    assert net.architecture_hash == base.architecture_hash
    assert [n.architecture for n in net] == [n.architecture for n in base]
