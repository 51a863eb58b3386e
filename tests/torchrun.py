"""Starting torchrun from tests without a port race.

Single node: `--standalone` (torchrun's c10d rendezvous binds port 0 itself, so no port is
picked here and then taken by someone else before torchrun binds it). Several launchers (the
two-node test): this process holds a TCPStore bound to port 0 while the launchers run; their
c10d rendezvous connects to it as clients, so the port cannot be taken in between.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def torchrun(nproc: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N ARGS...` (a script path, or -m module ...).

    A launch that prints nothing before `timeout` is started once more: one CI run saw a
    two-process job (17 s on its own) print nothing for 240 s beside three CPU-bound jobs; a
    launch that hangs twice, or one that printed anything before timing out, fails the test."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           str(nproc), *args]
    try:
        return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        if e.stdout or e.stderr:
            raise
        print(f"torchrun printed nothing in {timeout:.0f} s; starting it once more", file=sys.stderr)
        return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def torchrun_nodes(nodes: int, nproc: int, *args: str, timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """`nodes` torchrun launchers on 127.0.0.1 (one per "machine", `nproc` processes each),
    meeting at a c10d rendezvous whose store this process hosts on a port the OS chose."""
    from torch.distributed import TCPStore

    store = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                     timeout=timedelta(seconds=timeout))
    try:
        procs = [subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes),
             "--nproc-per-node", str(nproc), "--node-rank", str(i), "--rdzv-backend", "c10d",
             "--rdzv-endpoint", f"127.0.0.1:{store.port}", "--rdzv-id", "alexspec-test",
             "--max-restarts", "0", *args],
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(nodes)]
        out = []
        for p in procs:
            so, se = p.communicate(timeout=timeout)
            out.append(subprocess.CompletedProcess(p.args, p.returncode, so, se))
        return out
    finally:
        del store
