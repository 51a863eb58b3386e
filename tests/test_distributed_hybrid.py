"""cuda-convnet2's hybrid parallelism (issue 11): replicated convolutions, split fc layers, one
gloo process per logical GPU under torchrun. In float64 over a few SGD steps the processes'
losses and updated weights equal one process running the same net on the whole minibatch;
each process holds only its GPU's parameters; a dropped crossing is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import alexspec
from alexspec.compiler import build, lower
from alexspec.compiler.parallel import hybrid_layout
from alexspec.runtime.sgd import PaperSGD
from tests.torchrun import torchrun

SPEC = "tests/specs/compiler/hybrid-2gpu.cfg"
STEPS = 3


def _reference(path: str, steps: int) -> tuple[list[float], dict[str, torch.Tensor], list[torch.Tensor]]:
    """One process, the whole minibatch, the same seed and batches as tests/hybrid_worker.py."""
    model = build(alexspec.load(path), devices="cpu", seed=0, dtype=torch.float64)
    sgd = PaperSGD(model.learning_rules())
    losses = []
    for step in range(steps):
        g = torch.Generator().manual_seed(123 + step)
        x = torch.randn(8, *model.input_shape, generator=g, dtype=torch.float64)
        y = torch.randint(0, model.num_classes, (8,), generator=g)
        model.train()
        cost = model.cost(model(x), y)
        sgd.zero_grad()
        cost.loss.backward()
        sgd.step(step / steps, 0)
        losses.append(float(cost.loss.detach()))
    return losses, model.state_dict(), sgd.state_dict()["velocity"]


def _close(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(torch.allclose(got[k], want[k], rtol=1e-10, atol=1e-13) for k in want)


def test_layout_of_the_small_hybrid_spec():
    net = alexspec.load(SPEC)
    lay = hybrid_layout(net, lower(net))
    assert lay.replicated == ("conv1", "pool1", "conv2")
    kinds = [[(c.layer, c.kind, c.src) for c in ex] for ex in lay.exchanges]
    assert kinds == [[("conv2", "batch", -1)], [("fcb", "column", 1), ("fca", "column", 0)],
                     [("fc2b", "column", 1)], [("fc3", "column", 0)]]


@pytest.mark.dist
@pytest.mark.slow
def test_hybrid_processes_equal_one_process_in_float64(tmp_path: Path):
    for extra in ((), ("--broken",)):
        proc = torchrun(2, "tests/hybrid_worker.py", str(tmp_path), SPEC, str(STEPS), *extra)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    want_losses, want_w, want_v = _reference(SPEC, STEPS)
    net = alexspec.load(SPEC)
    ranks = [torch.load(tmp_path / f"hybrid-rank{r}.pt", weights_only=False) for r in (0, 1)]
    for r, got in enumerate(ranks):
        assert got["world"] == 2 and "hybrid: logical GPU" in got["summary"]
        assert got["losses"] == pytest.approx(want_losses, rel=1e-12, abs=0)
        # Only this GPU's parameters: the replicas' and its own split layers'.
        mine = [n for n in net if r in n.gpus]
        assert got["count"] == sum(n.params for n in mine)
        assert {k.split(".")[1] for k in got["names"]} == {n.name for n in mine if n.params}
    assert ranks[0]["count"] + ranks[1]["count"] < 2 * net.params  # nothing held twice but replicas
    whole, sgd = ranks[0]["whole"]
    assert _close(whole, want_w)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-15) for a, b in zip(sgd["velocity"], want_v))
    assert len(sgd["velocity"]) == len(want_v)
    assert ranks[1]["whole"] is None
    # A dropped crossing (passa reads its own GPU's fca instead of fcb): the comparison fails.
    broken = torch.load(tmp_path / "broken-rank0.pt", weights_only=False)
    assert broken["losses"][0] != pytest.approx(want_losses[0], rel=1e-6)
    assert not _close(broken["whole"][0], want_w)


def test_check_shows_per_process_parameters_and_exchange_bytes():
    from alexspec.report import check_report

    text = check_report(alexspec.load(SPEC)).text()
    net = alexspec.load(SPEC)
    rep = sum(net[n].params for n in ("conv1", "conv2"))
    own0 = rep + sum(net[n].params for n in ("fca", "fc2a", "fc3"))
    own1 = rep + sum(net[n].params for n in ("fcb", "fc2b"))
    assert f"{own0:,}" in text and f"{own1:,}" in text
    # exchange 1: each sends its half of conv2's 3x3x16 floats per image, receives both halves
    row = next(line for line in text.splitlines() if "conv2 (shares)" in line)
    assert [c.strip() for c in row.split("│")[3:5]] == [f"{4 * 144 // 2:,}", f"{4 * 144:,}"]


CC2 = "tests/specs/cuda-convnet2"


@pytest.mark.dist
@pytest.mark.slow
def test_cuda_convnet2_4gpu_data_model_trains_one_step_on_four_processes(tmp_path: Path):
    """cuda-convnet2's own layers-imagenet-4gpu-data-model.cfg with its params file, unchanged:
    one SGD step under torchrun --nproc-per-node 4 on the CPU, 8 images of 224x224 (2 each)."""
    spec, params = f"{CC2}/layers-imagenet-4gpu-data-model.cfg", f"{CC2}/layer-params-imagenet-4gpu-data-model.cfg"
    proc = torchrun(4, "tests/hybrid_worker.py", str(tmp_path), spec, "1", "8", "--params", params,
                    "--inner", "224", "--float32", "--no-whole", timeout=420)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from alexspec.pipeline import loads

    # no innerSize in the file (cuda-convnet2 took it from the data provider): 224, as the worker
    net = loads(open(spec).read(), spec, open(params).read(), params, inner_size=224)
    ranks = [torch.load(tmp_path / f"hybrid-rank{r}.pt", weights_only=False) for r in range(4)]
    losses = {got["losses"][0] for got in ranks}
    assert len(losses) == 1 and 0 < losses.pop() < 20  # one cost, the same on every process
    for r, got in enumerate(ranks):
        mine = [n for n in net if r in n.gpus]
        assert got["count"] == sum(n.params for n in mine)  # e.g. 16,103,232 on processes 1-3
        assert got["moved"] == got["names"]  # the step updated every parameter it holds
