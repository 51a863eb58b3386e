"""Every layers file of cuda-convnet2's layers/ and cuda-convnet's example-layers/ (copied byte
for byte into tests/specs/cuda-convnet2/ and tests/specs/cuda-convnet/) builds with its params
file and trains 3 minibatches of random images on the CPU with the paper's SGD.

Not here: layers-example.cfg, which cuda-convnet itself rejects (`sizeX` on an rnorm layer), and
the hybrid data- and model-parallel layers-imagenet-4gpu-data-model.cfg (issue 11).
"""

from __future__ import annotations

import glob
import os

import pytest
import torch

import alexspec
from alexspec.compiler import build
from alexspec.runtime.sgd import PaperSGD

EXCLUDED = {
    "cuda-convnet/layers-example.cfg": "cuda-convnet rejects it: sizeX on rnorm",
    "cuda-convnet2/layers-imagenet-4gpu-data-model.cfg": "hybrid data- and model-parallel",
}


def _files() -> list:
    out = []
    for folder in ("tests/specs/cuda-convnet", "tests/specs/cuda-convnet2"):
        for path in sorted(glob.glob(f"{folder}/layers*.cfg")):
            key = path.removeprefix("tests/specs/")
            if key in EXCLUDED:
                continue
            marks = [pytest.mark.slow] if "imagenet" in path else []
            out.append(pytest.param(path, id=key, marks=marks))
    return out


def _inner_size(path: str) -> int:
    """The crop their authors trained on (cuda-convnet's data providers)."""
    if "imagenet" in path:
        return 224
    if "layers.gc" in path:
        return 8  # the gradient-check net
    if any(k in path for k in ("conv-local", "cifar10-11pct", "19pct")):
        return 24  # cifar-cropped
    return 32


@pytest.mark.parametrize("path", _files())
def test_file_builds_and_trains_three_batches(path):
    params = os.path.join(os.path.dirname(path), os.path.basename(path).replace("layers", "layer-params", 1))
    net = alexspec.load(path, params=params, inner_size=_inner_size(path))
    model = build(net, devices="cpu", seed=0)
    sgd = PaperSGD(model.learning_rules())
    before = [p.detach().clone() for p in model.parameters()]
    g = torch.Generator().manual_seed(0)
    batch = 1 if "imagenet" in path else 4
    for _ in range(3):
        x = torch.randn(batch, *model.input_shape, generator=g)
        labels = torch.randint(0, model.num_classes, (batch,), generator=g)
        cost = model.cost(model.train()(x), labels)
        assert torch.isfinite(cost.loss)
        sgd.zero_grad()
        cost.loss.backward()
        sgd.step(0.0)
    moved = [not torch.equal(b, p) for b, p in zip(before, model.parameters())]
    assert any(moved)
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), name


def test_the_corpus_is_complete():
    """The copied folders hold the upstream file lists (cuda-convnet2 layers/: 6 nets)."""
    assert len(glob.glob("tests/specs/cuda-convnet2/layers*.cfg")) == 6
    assert len(glob.glob("tests/specs/cuda-convnet/layers*.cfg")) == 7
