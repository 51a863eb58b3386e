"""Shapes, parameters and multiply-adds against hand-written PyTorch references."""

import pytest
import torch
import torch.nn.functional as F

from alexspec.net import Shape
from alexspec.pipeline import loads

HEAD = "[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"
END = "[out]\ntype=fc\ninputs=x\noutputs=10\n\n[probs]\ntype=softmax\ninputs=out\n\n" \
      "[cost]\ntype=cost.logreg\ninputs=labels,probs\n"


def one_layer(body, size, channels=3):
    text = HEAD.replace("dataIdx=0\n", f"dataIdx=0\nchannels={channels}\n", 1) + "[x]\n" + body + "\n" + END
    return loads(text, "t.cfg", inner_size=size)["x"]


@pytest.mark.parametrize("size, k, stride, pad, channels, filters, groups", [
    (224, 11, 4, 0, 3, 48, 1),  # AlexNet conv1: 55 by cuda-convnet's ceil rule
    (27, 5, 1, 2, 48, 128, 1),
    (13, 3, 1, 1, 64, 16, 4),
    (32, 5, 2, 2, 3, 32, 1),
    (10, 4, 3, 0, 8, 16, 2),
])
def test_conv_against_torch(size, k, stride, pad, channels, filters, groups):
    node = one_layer(f"type=conv\ninputs=data\nchannels={channels}\nfilters={filters}\nfilterSize={k}\n"
                     f"stride={stride}\npadding={pad}\ngroups={groups}\n", size, channels)
    out_c = filters * groups  # cuda-convnet: filters per group
    ref = torch.nn.Conv2d(channels, out_c, k, stride=stride, groups=groups)
    n_out = node.output.height
    # cuda-convnet pads the right/bottom edge as far as the last (ceil) window needs.
    extra = (n_out - 1) * stride + k - (size + 2 * pad)
    x = F.pad(torch.zeros(1, channels, size, size), (pad, pad + extra, pad, pad + extra))
    y = ref(x)
    assert node.output == Shape(out_c, y.shape[2], y.shape[3])
    assert node.params == sum(p.numel() for p in ref.parameters())
    assert node.macs == ref.weight.numel() * n_out * n_out
    assert 0 <= extra < stride  # the windows cover the image, overhanging by less than a stride


def test_alexnet_conv1_is_55():
    assert one_layer("type=conv\ninputs=data\nchannels=3\nfilters=48\nfilterSize=11\nstride=4\n", 224).output \
        == Shape(48, 55, 55)


@pytest.mark.parametrize("size, k, stride", [(55, 3, 2), (27, 3, 2), (32, 3, 2), (8, 2, 2), (9, 4, 3)])
def test_pool_against_torch_ceil_mode(size, k, stride):
    node = one_layer(f"type=pool\ninputs=data\npool=max\nsizeX={k}\nstride={stride}\nchannels=16\n", size, 16)
    y = F.max_pool2d(torch.zeros(1, 16, size, size), k, stride, ceil_mode=True)
    assert node.output == Shape(16, y.shape[2], y.shape[3]) and node.params == 0


def test_unshared_biases_and_local():
    conv = one_layer("type=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\nsharedBiases=0\n", 8)
    assert conv.params == 3 * 9 * 16 + 16 * 6 * 6
    local = one_layer("type=local\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\n", 8)
    assert local.output == Shape(16, 6, 6) and local.params == 6 * 6 * (3 * 9 * 16) + 16 * 6 * 6


def test_fc_reads_images_and_multiple_inputs():
    node = one_layer("type=fc\ninputs=data,data\noutputs=7\n", 4)
    ref = torch.nn.Linear(2 * 3 * 4 * 4, 7)
    assert node.output == Shape(7) and node.params == sum(p.numel() for p in ref.parameters())
    assert node.macs == ref.weight.numel()


def test_elementwise_and_norm_keep_the_shape():
    for body in ("type=neuron\ninputs=data\nneuron=relu\n", "type=dropout\ninputs=data\n",
                 "type=cmrnorm\ninputs=data\nchannels=16\nsize=5\n", "type=rnorm\ninputs=data\nchannels=16\nsize=3\n"):
        assert one_layer(body, 6, 16).output == Shape(16, 6, 6)
    assert one_layer("type=concat\ninputs=data,data\n", 6, 16).output == Shape(32, 6, 6)


@pytest.mark.parametrize("body, code, needle", [
    ("type=conv\ninputs=data\nchannels=3\nfilters=24\nfilterSize=3\n", "divisibility", "multiple of 16"),
    ("type=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=9\n", "shape", "larger than"),
    ("type=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\nstride=4\n", "shape", "skip pixels"),
    ("type=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=3\n", "shape", "smaller than"),
    ("type=pool\ninputs=data\npool=max\nsizeX=2\nstride=3\nchannels=3\n", "shape", "must not exceed"),
    ("type=cmrnorm\ninputs=data\nchannels=3\nsize=5\n", "divisibility", "divisible by 16"),
    ("type=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\ngroups=2\n", "divisibility", "groups=2"),
])
def test_cuda_convnet_rules(body, code, needle):
    from alexspec.errors import SpecError

    with pytest.raises(SpecError) as e:
        one_layer(body, 8)
    assert any(d.code == code and needle in d.message for d in e.value.diagnostics), str(e.value)


def test_vector_read_as_square_image():
    text = HEAD + "[f]\ntype=fc\ninputs=data\noutputs=192\n\n[x]\ntype=conv\ninputs=f\nchannels=3\n" \
        "filters=16\nfilterSize=3\npadding=1\n\n" + END
    assert loads(text, "t.cfg", inner_size=4)["x"].output == Shape(16, 8, 8)
