"""A stop signal in the middle of a validation pass of a two-process (torchrun, gloo) run: the
processes agree at every validation batch whether any was signalled, end the pass together,
save one checkpoint (rank 0 writes it, both name it) and exit 130, as a single process does."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from alexspec.runtime import checkpoint as ckpt
from tests.test_runtime_helpers import REPO, write_fashion_like, write_spec
from tests.torchrun import ENV

TEST_FREQ = 2  # the first validation starts right after step 2's record
VAL_IMAGES = 4_000  # 250 batches of 16: a pass of several seconds on one CPU thread per process


def _worker_pids(launcher: int) -> dict[int, int]:
    """rank -> pid of the launcher's worker processes (its children with RANK set)."""
    out: dict[int, int] = {}
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    for pid in map(int, children):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for var in env:
            if var.startswith(b"RANK="):
                out[int(var[5:])] = pid
    return out


def _validating(metrics: Path) -> bool:
    """True once step TEST_FREQ's training record is written: the pass starts right after it
    (the console prints no progress when it is not a terminal)."""
    try:
        text = metrics.read_text()
    except OSError:
        return False
    return any(f'"step": {TEST_FREQ},' in x for x in text.splitlines() if x.endswith("}"))


def _lines(stream) -> queue.Queue:
    """The lines of `stream` on a queue (read to its end on a thread, so the pipe never fills),
    each with the time it arrived; None at EOF."""
    q: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            q.put((time.monotonic(), line))
        q.put(None)

    threading.Thread(target=read, daemon=True).start()
    return q


def _drained(lines: queue.Queue, seen: list[str]) -> str:
    """What the run printed so far (for a failure message)."""
    while not lines.empty():
        item = lines.get()
        if item is not None:
            seen.append(item[1])
    return "".join(seen)[-3000:]


@pytest.mark.dist
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker pids from /proc")
def test_a_signal_to_one_rank_during_validation_stops_both_within_seconds(tmp_path):
    """What was seen: on a multi-process run a stop signal during validation waited for the
    pass to end. SIGTERM goes to rank 1 only (as a scheduler preempting one machine would send
    it); rank 0 must learn of it at the next validation batch."""
    spec = write_spec(tmp_path)
    data = write_fashion_like(tmp_path / "data", n_train=256, n_val=VAL_IMAGES)
    out = tmp_path / "run"
    logs = tmp_path / "logs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--log-dir", str(logs), "--tee", "3", "-m", "alexspec.cli", "run", str(spec),
           "--data", str(data), "--gpu", "cpu", "--epochs", "1000", "--log-every", "1",
           "--test-freq", str(TEST_FREQ), "--save-path", str(out)]
    env = dict(ENV, COLUMNS="200")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines = _lines(proc.stdout)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not _validating(out / "metrics.jsonl"):
            assert proc.poll() is None and time.monotonic() < deadline, _drained(lines, seen)
            time.sleep(0.05)
        time.sleep(0.5)  # inside the pass (it takes several seconds)
        pids = _worker_pids(proc.pid)
        assert sorted(pids) == [0, 1], pids
        signalled, signalled_wall = time.monotonic(), time.time()
        os.kill(pids[1], signal.SIGTERM)
        closing: dict[int, float] = {}
        while True:
            item = lines.get(timeout=60)
            if item is None:
                break
            t, line = item
            seen.append(line)
            if "terminated at step" in line or "interrupted at step" in line:
                closing[1 if "terminated" in line else 0] = t
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = "".join(seen)
    workers = [x for x in seen if x.startswith("[default")]  # the ranks' own lines (--tee)
    assert not [x for x in workers if "Traceback" in x], text[-3000:]
    # One checkpoint, at the step boundary before the pass, written within ~2 s of the signal
    # (the pass alone takes several seconds); no test record of the cut pass; both ranks closed
    # soon after (the closing lines follow the cost plot and leaving the process group).
    path, c = ckpt.resolve(out)
    assert sorted(p.name for p in out.glob("ckpt-*.pt")) == [path.name]
    assert c.step == TEST_FREQ
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert not [r for r in records if r["kind"] == "test"], "the pass ran to its end"
    assert path.stat().st_mtime - signalled_wall < 2.0, path.stat().st_mtime - signalled_wall
    assert sorted(closing) == [0, 1], text[-3000:]
    assert max(closing.values()) - signalled < 10, max(closing.values()) - signalled
    # Each rank names the file rank 0 saved and exits 130 by itself, as a single process does
    # (torchrun, seeing a worker fail, exits 1 and lists each worker's exit code).
    closing_lines = [x for x in workers if "terminated at step" in x or "interrupted at step" in x]
    assert len(closing_lines) == 2 and all(str(path) in x for x in closing_lines), closing_lines
    codes = re.findall(r"rank\s*: (\d) \(local_rank: \d\)\s+exitcode\s*: (-?\d+)", text)
    assert sorted(codes) == [("0", "130"), ("1", "130")], text[-3000:]
