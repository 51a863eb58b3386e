"""`alexspec check` and the front end never import torch (it takes seconds to load)."""

import subprocess
import sys

CODE = """
import sys
from alexspec.cli import main
rc = main(["check", "specs/alexnet.cfg"])
heavy = sorted(m for m in ("torch", "numpy", "alexspec.compiler", "alexspec.runtime") if m in sys.modules)
print("HEAVY", heavy, rc)
"""


def test_check_does_not_import_torch():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "HEAVY [] 0"
