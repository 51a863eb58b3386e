"""Bit-exact resume (Caffe's TestSnapshot, torchtitan's checkpoint_compat_test): 2N steps in one
process equal N steps, process exit, and N more in a fresh process, with losses compared with ==
and weights, momentum and RNG states with torch.equal."""

from __future__ import annotations

import json

import pytest
import torch

from alexspec.runtime import checkpoint as ckpt
from tests.test_runtime_helpers import cli, write_fashion_like, write_spec

N = 7  # mid-epoch (16 steps per epoch): the data position matters


def _losses(run_dir):
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in recs if r["kind"] == "train"]


def _straight_and_split(tmp_path, launch):
    """Run 2N steps straight and N + N (resumed in new processes) through `launch(args)`, which
    returns the completed processes of one invocation; the two run directories."""
    spec = write_spec(tmp_path)
    data = write_fashion_like(tmp_path / "data")
    common = [str(spec), "--data", str(data), "--gpu", "cpu", "--log-every", "1", "--test-freq", "5"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    for args in (["--max-batches", str(2 * N), "--save-path", str(straight)],
                 ["--max-batches", str(N), "--save-path", str(split)],
                 ["--max-batches", str(2 * N), "--load-file", str(split)]):
        for r in launch(["run", *common, *args]):
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return straight, split


@pytest.mark.slow
def test_two_n_steps_equal_n_plus_n_in_a_new_process(tmp_path):
    straight, split = _straight_and_split(tmp_path, lambda args: [cli(*args)])
    a, b = _losses(straight), _losses(split)
    assert [s for s, _ in a] == list(range(1, 2 * N + 1))
    assert a == b  # exact float equality, step by step
    _, ca = ckpt.resolve(straight)
    _, cb = ckpt.resolve(split)
    assert ca.step == cb.step == 2 * N
    assert ca.model.keys() == cb.model.keys()
    assert all(torch.equal(ca.model[k], cb.model[k]) for k in ca.model)
    assert all(torch.equal(x, y) for x, y in zip(ca.sgd["velocity"], cb.sgd["velocity"]))
    assert any(v.abs().sum() > 0 for v in ca.sgd["velocity"])
    assert torch.equal(ca.rng["torch"], cb.rng["torch"])
    assert torch.equal(ca.rng["gens"]["augment"], cb.rng["gens"]["augment"])
    assert ca.train == cb.train


@pytest.mark.dist
@pytest.mark.slow
def test_two_process_run_resumes_exactly_on_every_rank(tmp_path):
    """torchrun with 2 gloo processes: each has its own dropout stream, and the checkpoint keeps
    every rank's random states, so N + N in new processes equals 2N straight."""
    from tests.torchrun import torchrun

    straight, split = _straight_and_split(
        tmp_path, lambda args: [torchrun(2, "-m", "alexspec.cli", *args)])
    a, b = _losses(straight), _losses(split)
    assert [s for s, _ in a] == list(range(1, 2 * N + 1))
    assert a == b
    _, ca = ckpt.resolve(straight)
    _, cb = ckpt.resolve(split)
    assert len(ca.rng_ranks) == 2 and not torch.equal(ca.rng_ranks[0]["torch"], ca.rng_ranks[1]["torch"])
    assert all(torch.equal(ca.model[k], cb.model[k]) for k in ca.model)
    assert all(torch.equal(x, y) for x, y in zip(ca.sgd["velocity"], cb.sgd["velocity"]))


@pytest.mark.dist
@pytest.mark.slow
def test_two_node_run_resumes_exactly(tmp_path):
    """torchrun --nnodes 2 on 127.0.0.1: two launchers of one process each meet at a c10d
    rendezvous (no port race: tests/torchrun.py), train, checkpoint, and N + N equals 2N."""
    from tests.torchrun import torchrun_nodes

    straight, split = _straight_and_split(
        tmp_path, lambda args: torchrun_nodes(2, 1, "-m", "alexspec.cli", *args))
    a, b = _losses(straight), _losses(split)
    assert [s for s, _ in a] == list(range(1, 2 * N + 1))
    assert a == b
    _, ca = ckpt.resolve(straight)
    _, cb = ckpt.resolve(split)
    assert len(ca.rng_ranks) == 2
    assert all(torch.equal(ca.model[k], cb.model[k]) for k in ca.model)
    assert all(torch.equal(x, y) for x, y in zip(ca.sgd["velocity"], cb.sgd["velocity"]))
