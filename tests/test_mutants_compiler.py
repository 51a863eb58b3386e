"""Tests that kill the mutants cosmic-ray left alive in compiler/ (see docs/testing.md)."""

from __future__ import annotations

import pytest
import torch

from alexspec.compiler import build
from alexspec.pipeline import loads

SPEC = """
[net]
type=net
innerSize=8
[data]
type=data
dataIdx=0
[labels]
type=data
dataIdx=1
{sections}
[probs]
type=softmax
inputs=fc
[logprob]
type=cost.logreg
inputs=labels,probs
"""


def _model(sections: str, seed: int = 0):
    return build(loads(SPEC.format(sections=sections), "s.cfg"), devices="cpu", seed=seed)


def test_each_input_of_a_layer_gets_its_own_initw():
    # fc over two inputs with initW=0.01,1: each weight matrix drawn with its own std
    m = _model("[a]\ntype=fc\ninputs=data\noutputs=40\n[b]\ntype=fc\ninputs=data\noutputs=40\n"
               "[fc]\ntype=fc\ninputs=a,b\noutputs=300\ninitW=0.01,1\n")
    w0, w1 = (w.detach() for w in m.layers["fc"].weights)
    assert abs(float(w0.std()) - 0.01) < 0.001 and abs(float(w1.std()) - 1.0) < 0.1


def test_a_conv_whose_windows_overhang_pads_the_far_edge_only():
    # 8 pixels, 3-wide windows every 2: windows at 0, 2, 4, 6 need 9 pixels, so 0 before, 1 after
    m = _model("[x]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\nstride=2\n"
               "[fc]\ntype=fc\ninputs=x\noutputs=3\n")
    assert "3->16 3x3/2 pad (0,1)x(0,1)" in repr(m.layers["x"])
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    conv = m.layers["x"]
    w = conv.weights[0].detach().double()
    y = conv.double()(x)
    xp = torch.nn.functional.pad(x, (0, 1, 0, 1))
    want = torch.empty(2, 16, 4, 4, dtype=torch.float64)
    for i in range(4):
        for j in range(4):
            patch = xp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            want[:, :, i, j] = torch.einsum("bcij,fcij->bf", patch, w)
    want = want + conv.bias.detach().double()[None, :, None, None]
    assert torch.allclose(y, want, atol=1e-10)


class _Started(Exception):
    pass


def test_torchrun_processes_fall_back_to_the_cpu_without_n_devices_each(monkeypatch):
    """Process 1 of 2 with a 2-GPU net needs CUDA devices 2 and 3: with 3 devices it takes the
    CPU (gloo), and never selects a device it does not have."""
    import alexspec
    from alexspec.compiler.parallel import group

    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    picked: list = []
    monkeypatch.setattr(torch.cuda, "set_device", picked.append)
    monkeypatch.setattr(group.dist, "is_initialized", lambda: False)

    def init(backend, **kw):
        raise _Started(backend)

    monkeypatch.setattr(group.dist, "init_process_group", init)
    net = alexspec.load("tests/specs/compiler/twocol-small.cfg")
    with pytest.raises(_Started) as e:
        group.setup(net)
    assert e.value.args == ("gloo",) and picked == []
