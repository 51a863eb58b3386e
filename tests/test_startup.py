"""What `alexspec check` does at start-up (bench/bench_startup.py measures how long it takes):
it builds the pydantic validators of the layer types the spec uses only, and loads the parser
from the shipped tables instead of analysing the grammar."""

import subprocess
import sys

CODE = """
import sys
import alexspec.parse
def no(*a, **k):
    raise AssertionError("the parser was built from the grammar")
alexspec.parse.build_parser = no
from alexspec import ir
from alexspec.cli import main
from alexspec.layers import models
rc = main(["check", "specs/alexnet.cfg"])
print("BUILT", sorted(m.__name__ for m in models() if m.__pydantic_complete__), ir.Spec.__pydantic_complete__, rc)
"""


def test_check_builds_only_the_models_it_uses():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # specs/alexnet.cfg's types: data, conv, cmrnorm, pool, fc, dropout2, softmax, cost.logreg
    assert r.stdout.strip().splitlines()[-1] == (
        "BUILT ['ConvLayer', 'CostLayer', 'CrossMapNormLayer', 'DataLayer', 'DropoutLayer', 'FcLayer', "
        "'PoolLayer', 'SoftmaxLayer'] False 0")


SKIPPED = """
import contextlib, io, sys
from alexspec.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(["check", "specs/alexnet.cfg"])
print("LOADED", rc, sorted(m for m in ("rich._emoji_codes", "email.parser", "torch") if m in sys.modules))
"""


def test_check_skips_the_emoji_table_and_the_package_metadata():
    # rich imports its emoji table to render a `str` title or header (the report's are Text), and
    # `--version` reads the installed metadata only when asked for
    r = subprocess.run([sys.executable, "-c", SKIPPED], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "LOADED 0 []"
