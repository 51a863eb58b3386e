"""The step's collectives and torchrun's context (compiler/parallel/group.py), in this process.

torchrun tests (tests/test_distributed*.py) run them for real, but in child processes that import
the installed package, and slowly. Here torch.distributed's calls are replaced by a second rank
written out by hand: what rank 1 would contribute to the reduction, computed independently from
its numbers, so each collective's arithmetic (packing, sums, the hybrid division, the NaN flag,
the stop flag) is checked against plain Python.
"""

from __future__ import annotations

import math

import pytest
import torch

import alexspec
from alexspec.compiler.parallel import group
from alexspec.compiler.parallel.group import (ParallelContext, agree, any_asked, check_batch,
                                              gather_objects, gather_to_main, process_group_backend,
                                              setup, shard, teardown)
from alexspec.errors import RunError

TWO_GPU = "specs/alexnet-mini.cfg"
HYBRID = "tests/specs/compiler/hybrid-2gpu.cfg"


def _ctx(rank: int = 0, world: int = 2, hybrid: bool = False) -> ParallelContext:
    return ParallelContext(rank=rank, world_size=world, backend="gloo", hybrid=hybrid)


def _other_rank(monkeypatch, contribution: list[float], op: str = "sum") -> list[dict]:
    """torch.distributed.all_reduce as a two-rank job would do it, rank 1 sending `contribution`."""
    calls = []

    def all_reduce(t, op=None, group=None):
        calls.append({"op": op, "group": group, "sent": t.tolist()})
        other = torch.tensor(contribution, dtype=t.dtype)
        t.copy_(torch.maximum(t, other) if op == torch.distributed.ReduceOp.MAX else t + other)

    monkeypatch.setattr(group.dist, "all_reduce", all_reduce)
    return calls


def test_agree_averages_the_loss_over_both_shards_and_sums_the_hits(monkeypatch):
    # rank 0: 6 images, loss 2.0, 3 top-1 hits, 5 top-5; rank 1: 2 images, loss 1.0, 1 and 2 hits
    calls = _other_rank(monkeypatch, [1.0 * 2, 1, 2, 2, 0.0, 0.0])
    mean, top1, topk, images, stop = agree(_ctx(), 2.0, 3, 5, 6, False)
    assert mean == pytest.approx((2.0 * 6 + 1.0 * 2) / 8)
    assert (top1, topk, images, stop) == (4, 7, 8, False)
    assert calls[0]["sent"] == [12.0, 3.0, 5.0, 6.0, 0.0, 0.0]  # loss x images, so shares weigh right


def test_agree_stops_everyone_when_any_rank_was_asked(monkeypatch):
    _other_rank(monkeypatch, [1.0, 1, 1, 1, 0.0, 1.0])
    assert agree(_ctx(), 1.0, 1, 1, 1, False)[4] is True
    _other_rank(monkeypatch, [1.0, 1, 1, 1, 0.0, 0.0])
    assert agree(_ctx(), 1.0, 1, 1, 1, True)[4] is True
    _other_rank(monkeypatch, [1.0, 1, 1, 1, 0.0, 0.0])
    assert agree(_ctx(), 1.0, 1, 1, 1, False)[4] is False


def test_agree_is_nan_when_any_rank_lost_a_finite_loss(monkeypatch):
    _other_rank(monkeypatch, [0.0, 0, 0, 4, 1.0, 0.0])  # rank 1's loss was inf: it sends the flag
    mean, top1, _, images, _ = agree(_ctx(), 0.5, 2, 3, 4, False)
    assert math.isnan(mean) and (top1, images) == (2, 8)
    calls = _other_rank(monkeypatch, [2.0, 1, 1, 4, 0.0, 0.0])
    mean, *_ = agree(_ctx(), float("nan"), 2, 3, 4, False)
    assert math.isnan(mean)
    assert calls[0]["sent"][0] == 0.0 and calls[0]["sent"][4] == 1.0  # no NaN in the sum: a flag


def test_agree_in_a_hybrid_job_divides_the_repeated_numbers_by_the_world(monkeypatch):
    # each hybrid process holds the whole batch's cost: rank 1 sends the same numbers
    _other_rank(monkeypatch, [3.0 * 8, 5, 7, 8, 0.0, 0.0])
    mean, top1, topk, images, stop = agree(_ctx(hybrid=True), 3.0, 5, 7, 8, False)
    assert (mean, top1, topk, images, stop) == (pytest.approx(3.0), 5, 7, 8, False)


def test_agree_rounds_the_summed_counts(monkeypatch):
    _other_rank(monkeypatch, [0.0, 0.9999999, 1.0000001, 2.0, 0.0, 0.0])
    _, top1, topk, images, _ = agree(_ctx(), 0.0, 1, 1, 2, False)
    assert (top1, topk, images) == (2, 2, 4)


def test_any_asked_is_the_maximum_over_ranks(monkeypatch):
    calls = _other_rank(monkeypatch, [1.0])
    assert any_asked(_ctx(), False) is True
    assert calls[0]["op"] == torch.distributed.ReduceOp.MAX and calls[0]["sent"] == [0.0]
    _other_rank(monkeypatch, [0.0])
    assert any_asked(_ctx(), False) is False
    _other_rank(monkeypatch, [0.0])
    assert any_asked(_ctx(), True) is True


def test_gather_objects_returns_every_rank_in_order(monkeypatch):
    seen = {}

    def all_gather_object(out, obj, group=None):
        seen["group"], seen["len"] = group, len(out)
        out[0], out[1] = obj, {"rank": 1}

    monkeypatch.setattr(group.dist, "all_gather_object", all_gather_object)
    assert gather_objects({"rank": 0}, _ctx()) == [{"rank": 0}, {"rank": 1}]
    assert seen == {"group": None, "len": 2}


def test_gather_to_main_gives_the_list_on_rank_0_only(monkeypatch):
    got = []

    def gather_object(obj, out, dst=0, group=None):
        got.append((obj, None if out is None else len(out), dst))
        if out is not None:
            out[0], out[1] = obj, "from 1"

    monkeypatch.setattr(group.dist, "gather_object", gather_object)
    assert gather_to_main("from 0", _ctx(rank=0)) == ["from 0", "from 1"]
    assert gather_to_main("from 1", _ctx(rank=1)) is None
    assert got == [("from 0", 2, 0), ("from 1", None, 0)]


def test_the_gpu_backend_adds_gloo_for_the_small_cpu_collectives():
    assert process_group_backend("cuda") == "cpu:gloo,cuda:nccl"
    assert process_group_backend("cpu") == "gloo"


def test_shard_and_check_batch():
    batch = torch.arange(8)
    assert shard(batch, _ctx(rank=1)).tolist() == [4, 5, 6, 7]
    assert shard(batch, _ctx(rank=0)).tolist() == [0, 1, 2, 3]
    assert shard(batch, _ctx(rank=1, hybrid=True)) is batch
    assert shard(batch, ParallelContext()) is batch
    check_batch(7, ParallelContext())  # one process: any size
    with pytest.raises(RunError) as e:
        shard(torch.arange(7), _ctx(rank=0, world=2))
    assert e.value.where == "--mini"
    assert str(e.value.hint) == "use a multiple of 2 (e.g. 6)"
    assert "the minibatch of 7 images does not split evenly over 2 processes" in str(e.value)
    with pytest.raises(RunError) as e:
        check_batch(2, _ctx(world=3))
    assert str(e.value.hint) == "use a multiple of 3 (e.g. 3)"  # never a suggestion of 0


class _Mesh:
    def __init__(self, device_type, shape, mesh_dim_names):
        self.args = (device_type, shape, mesh_dim_names)

    def get_group(self):
        return "the mesh's group"


def _torchrun_env(monkeypatch, rank: int, world: int, local: int | None = None) -> None:
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("LOCAL_RANK", str(rank if local is None else local))
    monkeypatch.setattr(group.dist, "is_initialized", lambda: True)  # the group exists: no init
    import torch.distributed.device_mesh as device_mesh

    monkeypatch.setattr(device_mesh, "init_device_mesh", _Mesh)


def test_setup_under_torchrun_reads_its_rank_and_builds_a_data_parallel_mesh(monkeypatch):
    _torchrun_env(monkeypatch, rank=1, world=2)
    ctx = setup(alexspec.load(TWO_GPU), "cpu")
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.backend) == (1, 2, 1, "gloo")
    assert (ctx.hybrid, ctx.owns_group, ctx.distributed, ctx.is_main) == (False, False, True, False)
    assert ctx.devices == [torch.device("cpu")] * 2
    assert ctx.mesh.args == ("cpu", (2,), ("dp",)) and ctx.group == "the mesh's group"
    assert ctx.summary.endswith("; rank 1 of 2 (gloo)")


def test_setup_of_a_hybrid_spec_runs_one_logical_gpu_per_process(monkeypatch):
    _torchrun_env(monkeypatch, rank=0, world=2)
    ctx = setup(alexspec.load(HYBRID), "cpu")
    assert ctx.hybrid and ctx.mesh.args == ("cpu", (2,), ("gpu",))
    assert ctx.devices == [torch.device("cpu")]
    assert ctx.summary.endswith("; rank 0 of 2 (gloo); hybrid: logical GPU 0 of 2, 2 replicas data-parallel")


def test_setup_of_a_hybrid_spec_needs_one_process_per_logical_gpu(monkeypatch):
    _torchrun_env(monkeypatch, rank=0, world=3)
    with pytest.raises(RunError) as e:
        setup(alexspec.load(HYBRID), "cpu")
    assert e.value.where == "WORLD_SIZE"
    assert "it needs 2 processes, torchrun started 3" in str(e.value)
    assert str(e.value.hint) == "torchrun --nproc-per-node 2 (or --nnodes/--nproc-per-node that multiply to 2)"


def test_setup_without_torchrun_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = setup(alexspec.load(HYBRID), "cpu")
    assert (ctx.world_size, ctx.backend, ctx.distributed, ctx.is_main) == (1, None, False, True)
    assert ctx.summary.endswith("; hybrid spec in one process: the 2 replicas run as one on the whole "
                                "minibatch (torchrun --nproc-per-node 2 runs one process per logical GPU)")


def test_a_torchrun_variable_that_is_not_a_number_is_a_located_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(RunError) as e:
        setup(alexspec.load(TWO_GPU), "cpu")
    assert e.value.where == "WORLD_SIZE"
    assert "environment variable WORLD_SIZE='two' is not an integer" in str(e.value)


def test_teardown_waits_for_everyone_only_after_a_clean_run(monkeypatch):
    calls = []
    monkeypatch.setattr(group.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(group.dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(group.dist, "destroy_process_group", lambda: calls.append("destroy"))
    owner = ParallelContext(rank=0, world_size=2, backend="gloo", owns_group=True)
    teardown(owner, leave_together=True)
    teardown(owner)
    teardown(ParallelContext(rank=0, world_size=2, backend="gloo"), leave_together=True)  # not ours
    assert calls == ["barrier", "destroy", "destroy"]
