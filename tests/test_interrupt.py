"""Ctrl-C as a terminal sends it (SIGINT to the process group): the run finishes its step, saves
a checkpoint at that step boundary and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from alexspec.runtime import checkpoint as ckpt
from tests.test_runtime_helpers import REPO, write_fashion_like, write_spec


@pytest.mark.slow
def test_ctrl_c_saves_at_a_step_boundary_and_exits_130(tmp_path):
    spec = write_spec(tmp_path)
    data = write_fashion_like(tmp_path / "data")
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    proc = subprocess.Popen(
        [sys.executable, "-m", "alexspec.cli", "run", str(spec), "--data", str(data), "--gpu", "cpu",
         "--epochs", "1000", "--log-every", "1", "--save-path", str(out)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        for line in proc.stdout:
            if line.startswith("step "):
                break
        else:
            pytest.fail("no step line: " + proc.stderr.read())
        os.killpg(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "Traceback" not in err
    k = int(err.split("interrupted at step ")[1].split(",")[0])
    path, c = ckpt.resolve(out)
    assert str(path) in err and c["step"] == k >= 1
    t = c["train"]
    assert t["epoch"] * (256 // 16) + t["batch"] == k  # position = steps done: a step boundary
    train = [r for r in c["history"] if r["kind"] == "train"]
    assert train[-1]["step"] == k  # every finished step recorded, none half-done
