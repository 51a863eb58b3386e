"""The loop in-process on a tiny spec and synthetic data: it learns, tests, records, saves; a
non-finite loss stops it before the update and nothing of the bad step is saved."""

from __future__ import annotations

import json

import pytest
import torch

from alexspec.errors import RunError
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.report import NullReporter
from alexspec.runtime.metrics import to_dict
from alexspec.runtime.session import RunOptions, run
from tests.test_runtime_helpers import write_fashion_like, write_spec


@pytest.fixture
def tiny(tmp_path):
    return write_spec(tmp_path), write_fashion_like(tmp_path / "data")


def test_tiny_run_learns_tests_and_saves(tiny, tmp_path):
    spec, data = tiny
    rep = NullReporter()
    out = tmp_path / "run"
    result = run(RunOptions(str(spec), data=str(data), gpu="cpu", epochs=6, save_path=str(out),
                            log_every=4), rep)
    assert result.steps == 6 * (256 // 16) == len(rep.steps)
    first = sum(s.loss for s in rep.steps[:8]) / 8
    last = sum(s.loss for s in rep.steps[-8:]) / 8
    assert last < first - 0.3, (first, last)  # the bars are easy: loss falls clearly
    assert len(rep.tests) == 6  # testFreq 0: once per epoch
    assert rep.tests[-1].top1 < 0.5 and rep.tests[-1].images == 64
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in lines} == {"train", "test"}
    assert (out / "cost.png").stat().st_size > 1000
    saved = ckpt.list_checkpoints(out)
    assert [p.name for p in saved] == ["ckpt-00000064.pt", "ckpt-00000080.pt", "ckpt-00000096.pt"]  # last 3
    c = ckpt.load_file(saved[-1])
    assert c.step == 96 and c.spec_text == spec.read_text() and [to_dict(r) for r in c.history] == lines


def test_max_batches_and_test_freq(tiny, tmp_path):
    spec, data = tiny
    rep = NullReporter()
    result = run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=7, test_freq=3,
                            test_subset=16, save_path=str(tmp_path / "r")), rep)
    assert result.steps == 7
    assert [t.step for t in rep.tests] == [3, 6, 7] and all(t.images == 16 for t in rep.tests)


def test_nan_loss_stops_before_the_update_and_is_not_saved(tmp_path):
    spec = write_spec(tmp_path, eps="1e12")
    data = write_fashion_like(tmp_path / "data")
    out = tmp_path / "run"
    snapshots = []

    class Keep(NullReporter):
        def step(self, info):
            super().step(info)
            snapshots.append({k: v.clone() for k, v in model_ref[0].state_dict().items()})

    model_ref = []
    import alexspec.compiler

    real_build = alexspec.compiler.build

    def spy(*a, **k):
        m = real_build(*a, **k)
        model_ref.append(m)
        return m

    alexspec.compiler.build = spy
    try:
        with pytest.raises(RunError) as e:
            run(RunOptions(str(spec), data=str(data), gpu="cpu", test_freq=1000, save_path=str(out)), Keep())
    finally:
        alexspec.compiler.build = real_build
    msg = str(e.value)
    bad_step = len(snapshots) + 1
    assert f"step {bad_step} (epoch" in msg and "stopped before the update" in msg
    # the parameters are those after the last good step: nothing of the bad one was applied
    now = model_ref[0].state_dict()
    assert snapshots, "expected at least one good step before the divergence"
    assert all(torch.equal(now[k], snapshots[-1][k]) for k in now)
    assert all(torch.isfinite(v).all() for v in now.values())
    assert not ckpt.list_checkpoints(out)  # no test was due: nothing saved, nothing bad saved


def test_a_non_finite_validation_writes_no_checkpoint_and_is_not_resumed(tmp_path):
    """What was seen: a checkpoint was written right after a validation with NaN loss."""
    spec = write_spec(tmp_path, eps="1e12")
    data = write_fashion_like(tmp_path / "data")
    out = tmp_path / "run"
    with pytest.raises(RunError) as e:
        run(RunOptions(str(spec), data=str(data), gpu="cpu", test_freq=1, save_path=str(out)), NullReporter())
    msg = str(e.value)
    assert "validation log-prob is nan" in msg and "no checkpoint was written" in msg
    step = int(msg.split("test at step ")[1].split(":")[0])
    saved = ckpt.list_checkpoints(out)
    assert saved and max(ckpt.checkpoint_step(p) for p in saved) == step - 1
    assert all(ckpt.load_file(p).validation_finite for p in saved)
    # a checkpoint from such a step (an older version wrote them) is never resumed
    bad = ckpt.read(saved[-1])
    bad["history"].append({"kind": "test", "step": bad["step"], "epoch": 0.1, "loss": float("nan"),
                           "top1": float("nan"), "top5": float("nan"), "images": 64, "views": 1, "lr_drops": 0})
    ckpt.atomic_save(bad, saved[-1])
    with pytest.raises(RunError, match="not finite; a run does not start from it"):
        run(RunOptions(str(spec), data=str(data), gpu="cpu", load_file=str(saved[-1])), NullReporter())


def test_gradient_check_names_the_non_finite_parameter_and_ignores_huge_finite_ones():
    import torch

    from alexspec.runtime.train import _grads_finite

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    for p in model.parameters():
        p.grad = torch.full_like(p, 3e38)  # finite, but its norm overflows float32
    assert _grads_finite(model) is None
    model[1].weight.grad[0, 1] = float("nan")
    assert _grads_finite(model) == "1.weight"
