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
