"""How the front end's cost grows with the size of a spec: parse + validate + check.

Times `alexspec.pipeline.loads` (the whole front end, without reading the file from disk) on
specs/alexnet.cfg and on generated valid specs of 100, 1,000 and 10,000 layers, and prints the
time per layer against the 100-layer spec's: a ratio near 1 at every size means linear cost.
The grammar alone (`alexspec.parse.parse`) is timed too, to show where the time goes, and the
whole front end once more with Python's cyclic garbage collector off: at 10,000 layers the
collector's full passes over the parse tree add a share that grows with the heap, which is the
interpreter's cost, not the front end's algorithm.

    .venv/bin/python bench/bench_check.py [--repeat N]

Times are CPU seconds of this process (best of N). It is a benchmark, not a test: nothing is
asserted, and the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from alexspec.parse import parse
from alexspec.pipeline import loads

ROOT = Path(__file__).resolve().parent.parent

HEADER = """[net]
type=net
innerSize=16

[*]
epsW=dexp[base=0.01;tgtFactor=250;numSteps=4]
epsB=0.02
momW=0.9
momB=0.9
wc=0.0005
initW=0.01

[data]
type=data
dataIdx=0

[labels]
type=data
dataIdx=1

[conv0]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
neuron=relu
"""

# One block of four layers that keeps the shape (16x16x16): a conv, an LRN, a residual sum of the
# block's input and the conv, and a neuron layer. The sum makes the graph more than a chain.
BLOCK = """
[conv{i}]
type=conv
inputs={prev}
channels=16
filters=16
filterSize=3
padding=1
stride=1
neuron=relu

[rnorm{i}]
type=cmrnorm
inputs=conv{i}
channels=16
size=5
scale=0.0005
pow=0.75

[sum{i}]
type=eltsum
inputs={prev},rnorm{i}

[act{i}]
type=neuron
inputs=sum{i}
neuron=tanh[1.7159,0.6666]
"""

FOOTER = """
[fc]
type=fc
inputs={prev}
outputs=10

[probs]
type=softmax
inputs=fc

[logprob]
type=cost.logreg
inputs=labels,probs
coeff=1
"""


def generated_spec(layers: int) -> tuple[str, int]:
    """A valid spec with about `layers` layers; returns the text and its exact layer count."""
    blocks = max((layers - 6) // 4, 0)  # data, labels, conv0, fc, probs, logprob + 4 per block
    parts, prev = [HEADER], "conv0"
    for i in range(1, blocks + 1):
        parts.append(BLOCK.format(i=i, prev=prev))
        prev = f"act{i}"
    parts.append(FOOTER.format(prev=prev))
    return "".join(parts), 6 + 4 * blocks


def best_time(fn, repeat: int) -> float:
    """The least CPU time of this process over `repeat` calls: CPU time rather than wall time so
    that other processes on a shared machine disturb the numbers less."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="best of N runs per spec (default 5)")
    args = ap.parse_args()

    cases = [("specs/alexnet.cfg", (ROOT / "specs" / "alexnet.cfg").read_text(encoding="utf-8"))]
    cases += [(f"generated {n:,}", generated_spec(n)[0]) for n in (100, 1_000, 10_000)]

    loads(cases[0][1], path="warmup.cfg")  # build the lark parser once, outside the timings
    rows = []
    for name, text in cases:
        net = loads(text, path=name)
        repeat = max(1, args.repeat if len(net) < 5_000 else args.repeat // 2)
        total = best_time(lambda: loads(text, path=name), repeat)
        grammar = best_time(lambda: parse(text, name), repeat)
        gc.disable()
        try:
            no_gc = best_time(lambda: loads(text, path=name), repeat)
        finally:
            gc.enable()
        rows.append((name, len(net), total, grammar, no_gc))

    ref = rows[1][2] / rows[1][1]  # the 100-layer spec's time per layer
    ref_no_gc = rows[1][4] / rows[1][1]
    print(f"{'spec':<20} {'layers':>7} {'total ms':>10} {'parse ms':>10} {'us/layer':>9} "
          f"{'x 100-layer':>12} {'no-GC x 100':>12}")
    for name, n, total, grammar, no_gc in rows:
        per = total / n
        print(f"{name:<20} {n:>7,} {total * 1e3:>10.1f} {grammar * 1e3:>10.1f} {per * 1e6:>9.1f} "
              f"{per / ref:>12.2f} {no_gc / n / ref_no_gc:>12.2f}")


if __name__ == "__main__":
    main()
