"""How well `--test-subset N` stands for the full validation set: the top-1 error of a checkpoint
on the whole validation set and on N-image subsets (seeded and stratified by class, as
`alexspec test --test-subset N` chooses them) for several seeds.

    python scripts/subset_error.py RUN|CKPT [--subset 40] [--seeds 0,1,2,3,4] [--gpu cpu]

`alexspec test --test-subset N` uses the run's own seed (`--seed` of the run, 0 by default); this
script draws the same kind of subset (the same function) with other seeds and evaluates each on
the centre crop, as `alexspec test` does: for the run's seed it prints what `alexspec test` prints.
"""

from __future__ import annotations

import argparse
import math

import torch

from alexspec.runtime.data.base import SubsetSplit, subset_indices
from alexspec.runtime.evaluate import evaluate
from alexspec.runtime.restore import open_restored_data, restore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--subset", type=int, default=40)
    ap.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--gpu", default="cpu")
    args = ap.parse_args()
    r = restore(args.checkpoint, args.gpu)
    val = open_restored_data(r, None).val
    full = evaluate(r.model, val, r.augment, r.stats)
    print(f"{r.path} (step {r.step}): full validation set, {full.images} images: "
          f"top-1 error {100 * full.top1:.2f}%")
    errors = []
    for seed in (int(s) for s in args.seeds.split(",")):
        keep = subset_indices(val.labels, args.subset, seed)
        s = evaluate(r.model, SubsetSplit(val, keep), r.augment, r.stats)
        classes = len(torch.unique(val.labels[keep]))
        errors.append(100 * s.top1)
        print(f"  --test-subset {args.subset}, seed {seed}: {s.images} images, {classes} classes, "
              f"top-1 error {100 * s.top1:.2f}%")
    mean = sum(errors) / len(errors)
    sd = math.sqrt(sum((e - mean) ** 2 for e in errors) / max(1, len(errors) - 1))
    p = full.top1
    print(f"subsets: mean {mean:.2f}%, standard deviation {sd:.2f} points over {len(errors)} seeds; "
          f"binomial standard deviation of {args.subset} independent draws: "
          f"{100 * math.sqrt(p * (1 - p) / args.subset):.2f} points")


if __name__ == "__main__":
    main()
