"""Checkpoints: atomic under a killed writer, last N kept, truncated file named, architecture
changes refused naming the layer, learning parameters may change on resume."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from alexspec.errors import RunError
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.report import NullReporter
from alexspec.runtime.session import RunOptions, run
from tests.test_runtime_helpers import REPO, cli, write_fashion_like, write_spec


def _obj(step: int) -> dict:
    return {"format": ckpt.FORMAT, "step": step, "w": torch.full((512, 1024), float(step))}


def test_save_keeps_the_last_n_and_loads_weights_only(tmp_path):
    for step in (1, 2, 3, 4, 5):
        ckpt.save(_obj(step), tmp_path, step, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["ckpt-00000004.pt", "ckpt-00000005.pt"]
    path, c = ckpt.resolve(tmp_path, load=ckpt.read)  # the raw payload: no run fields here
    assert path.name == "ckpt-00000005.pt" and c["step"] == 5 and torch.all(c["w"] == 5)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_truncated_checkpoint_is_named(tmp_path):
    ckpt.save(_obj(1), tmp_path, 1, keep=3)
    p = ckpt.save(_obj(2), tmp_path, 2, keep=3)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(RunError) as e:
        ckpt.load_file(p)
    assert str(p) in str(e.value) and "truncated or damaged" in str(e.value)
    warned = []
    path, c = ckpt.resolve(tmp_path, warned.append, load=ckpt.read)  # a directory falls back to the previous one
    assert c["step"] == 1 and str(p) in warned[0]


def test_code_in_a_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    p = tmp_path / "ckpt-00000001.pt"
    torch.save({"format": ckpt.FORMAT, "x": Evil()}, p)
    with pytest.raises(RunError) as e:
        ckpt.load_file(p)
    assert str(p) in str(e.value)


WRITER = """
import sys, torch
from alexspec.runtime import checkpoint as ckpt
step = 0
print("ready", flush=True)
while True:
    step += 1
    ckpt.save({"format": ckpt.FORMAT, "step": step, "w": torch.full((1024, 1024), float(step))},
              sys.argv[1], step, keep=2)
"""


@pytest.mark.slow
def test_latest_checkpoint_always_loads_under_a_killed_writer(tmp_path):
    rng = random.Random(4)
    last = 0
    for kill in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60  # under load the first save may take a while
        while not ckpt.list_checkpoints(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ckpt.list_checkpoints(tmp_path), "the writer saved nothing in 60 s"
        time.sleep(rng.random() * 0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        path, c = ckpt.resolve(tmp_path, load=ckpt.read)  # never a damaged file: the newest one loads
        assert torch.all(c["w"] == c["step"]) and c["step"] >= 1
        # the loop restarts from step 1, so compare within this writer only
        assert c["step"] == max(int(p.stem.split("-")[1]) for p in ckpt.list_checkpoints(tmp_path))
        last = c["step"]
        for p in ckpt.list_checkpoints(tmp_path):
            ckpt.read(p)
        for p in tmp_path.glob("ckpt-*.pt"):
            p.unlink()
    assert last >= 1


def _two_steps_saved(tmp_path):
    """A tiny spec trained for 2 steps with its checkpoint in tmp_path/run: (spec, data, run dir)."""
    spec = write_spec(tmp_path)
    data = write_fashion_like(tmp_path / "data")
    out = tmp_path / "run"
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=2, save_path=str(out)), NullReporter())
    return spec, data, out


def test_resume_refuses_a_changed_architecture_and_names_it(tmp_path):
    spec, data, out = _two_steps_saved(tmp_path)
    spec.write_text(spec.read_text().replace("outputs=32", "outputs=48"))
    with pytest.raises(RunError) as e:
        run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=4, load_file=str(out)), NullReporter())
    msg = str(e.value)
    assert "architecture differs" in msg and "fc3a" in msg and "out=32" in msg and "48" in msg


def test_resume_rereads_learning_parameters(tmp_path):
    spec, data, out = _two_steps_saved(tmp_path)
    spec.write_text(spec.read_text().replace("epsW=0.01", "epsW=0.002"))
    rep = NullReporter()
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=3, load_file=str(out)), rep)
    assert [s.step for s in rep.steps] == [3] and rep.steps[0].lr == 0.002
    assert ckpt.resolve(out)[1].spec_text == spec.read_text()


def test_cli_test_on_a_truncated_checkpoint(tmp_path):
    p = tmp_path / "ckpt-00000001.pt"
    torch.save(_obj(1), p)
    p.write_bytes(p.read_bytes()[:100])
    r = cli("test", str(p))
    assert r.returncode == 1 and str(p) in r.stderr and "Traceback" not in r.stderr


def test_resume_refuses_a_changed_neuron_and_names_it(tmp_path):
    spec, data, out = _two_steps_saved(tmp_path)
    spec.write_text(spec.read_text().replace("neuron=relu", "neuron=tanh[1,1]", 1))
    with pytest.raises(RunError) as e:
        run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=4, load_file=str(out)), NullReporter())
    msg = str(e.value)
    assert "architecture differs" in msg and "neuron=relu" in msg and "neuron=tanh[1,1]" in msg
