"""Ctrl-C as a terminal sends it (SIGINT to the process group): the run finishes its step, saves
a checkpoint at that step boundary and exits 130."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from alexspec.runtime import checkpoint as ckpt
from tests.test_runtime_helpers import REPO, write_fashion_like, write_spec


def _drain(proc: subprocess.Popen) -> tuple[queue.Queue, threading.Thread]:
    """Read stdout on a thread (to its end, so the pipe never fills); lines go to a queue,
    then None at EOF."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return lines, t


def _wait_for_step(lines: queue.Queue, timeout: float) -> bool:
    """True once a `step ` line arrives; False at EOF or after `timeout` seconds in all."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if line is None:
            return False
        if line.startswith("step "):
            return True


@pytest.mark.slow
def test_ctrl_c_saves_at_a_step_boundary_and_exits_130(tmp_path):
    spec = write_spec(tmp_path)
    data = write_fashion_like(tmp_path / "data")
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    err_path = tmp_path / "stderr.txt"
    with err_path.open("w") as err_file:  # a file, not a pipe: it never fills up and blocks the run
        proc = subprocess.Popen(
            [sys.executable, "-m", "alexspec.cli", "run", str(spec), "--data", str(data), "--gpu", "cpu",
             "--epochs", "1000", "--log-every", "1", "--save-path", str(out)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err_file, text=True,
            start_new_session=True)
        lines, reader = _drain(proc)
        try:
            if not _wait_for_step(lines, timeout=120):
                proc.kill()
                proc.wait()
                pytest.fail("no step line: " + err_path.read_text())
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
    err = err_path.read_text()
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "Traceback" not in err
    k = int(err.split("interrupted at step ")[1].split(",")[0])
    path, c = ckpt.resolve(out)
    assert str(path) in err and c.step == k >= 1
    t = c.train
    assert t.epoch * (256 // 16) + t.batch == k  # position = steps done: a step boundary
    train = [r for r in c.history if r.kind == "train"]
    assert train[-1].step == k  # every finished step recorded, none half-done
