"""More tests that kill surviving mutants of compiler/ (issue 12; docs/testing.md): the transfer
log's per-direction sums, the plan's image layer, torchrun's device choice.
Each expected value is written out by hand from the spec, not recomputed by the code under test."""

from __future__ import annotations

import torch

import alexspec
from alexspec.compiler import build, lower
from alexspec.compiler.transfer import TransferLog
from alexspec.pipeline import loads

TWOCOL = "tests/specs/compiler/twocol-small.cfg"


def test_the_transfer_log_sums_bytes_per_direction():
    """`TransferLog.bytes("fwd")` counts the forward moves only, `bytes("bwd")` the backward ones.
    twocol-small at 16x16, batch 2, float32: conv2 (both columns) reads the other column's 3x3x16
    pool1, fc3 the other column's 3x3x16 conv2, fc4 (gpu 0) gpu 1's 32 drop3 outputs:
    (2*144 + 2*144 + 32) floats * 2 images * 4 bytes = 4864 bytes forward, none backward yet."""
    model = build(alexspec.load(TWOCOL), devices="cpu", seed=0)
    model.eval()
    x = torch.randn(2, *model.input_shape)
    with TransferLog() as log:
        y = model(x)
        assert (log.count("fwd"), log.bytes("fwd"), log.count("bwd"), log.bytes("bwd")) == (5, 4864, 0, 0)
        y.sum().backward()
    assert (log.count("bwd"), log.bytes("bwd"), log.bytes()) == (5, 4864, 2 * 4864)


def test_the_images_are_the_first_data_layer_with_dataidx_0():
    """Two data layers with dataIdx=0 (cuda-convnet feeds both the same images): the plan's
    image layer is the first in the spec, so `forward_layers` gives the images under its name."""
    net = loads("[net]\ntype=net\ninnerSize=8\n[data]\ntype=data\ndataIdx=0\n"
                "[data2]\ntype=data\ndataIdx=0\n[labels]\ntype=data\ndataIdx=1\n"
                "[fc]\ntype=fc\ninputs=data,data2\noutputs=4\n[probs]\ntype=softmax\ninputs=fc\n"
                "[logprob]\ntype=cost.logreg\ninputs=labels,probs\n", "s.cfg")
    assert lower(net).images == "data"
    model = build(net, devices="cpu", seed=0)
    x = torch.randn(2, 3, 8, 8)
    assert model.forward_layers(x, ["data"])["data"] is x


def test_a_hybrid_process_with_too_few_cuda_devices_takes_the_cpu(monkeypatch):
    """torchrun's process 2 of 3 of a hybrid run (`--gpu auto`) with one CUDA device: cuda:2 does
    not exist, so it runs on the CPU and says why."""
    from alexspec.compiler.parallel import devices

    monkeypatch.setattr(devices, "cuda_count", lambda: 1)
    devs, why = devices.process_devices("auto", 3, 2, 3, per_gpu=True)
    assert devs == [torch.device("cpu")]
    assert why == "devices: gpu2 -> cpu (process 2 of 3: 1 CUDA device(s) are too few, CPU)"
