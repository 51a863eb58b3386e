"""The process group and the device mesh of a torchrun job, and the collectives the training
loop needs besides the model's own (agreeing on a step's numbers, gathering objects).

One process per model-parallel set (data parallelism: each process a whole replica of the
compiled model) or, for cuda-convnet2's hybrid specs, one process per logical GPU. The mesh is
one-dimensional either way: `("dp",)` over replicas, or `("gpu",)` over logical GPUs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from alexspec.compiler.parallel.devices import Devices, process_devices, resolve_devices
from alexspec.errors import RunError
from alexspec.hybrid import is_hybrid
from alexspec.net import Net


@dataclass(frozen=True)
class ParallelContext:
    """Where this process stands: rank, world size, its devices (one per logical GPU it drives),
    and whether it runs one logical GPU of a hybrid spec."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: single process, no process group
    devices: list[torch.device] = field(default_factory=lambda: [torch.device("cpu")])
    summary: str = ""
    owns_group: bool = False
    hybrid: bool = False  # one process per logical GPU: replicated layers + this GPU's split layers
    mesh: Any = None  # torch.distributed.device_mesh.DeviceMesh, when distributed

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def group(self) -> Any:
        """The process group of the mesh (the default group when there is no mesh)."""
        return self.mesh.get_group() if self.mesh is not None else None


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise RunError(f"environment variable {name}={os.environ[name]!r} is not an integer",
                       where=name) from None


def process_group_backend(device_type: str) -> str:
    """gloo on the CPU; on GPUs nccl for the model's tensors and gloo for the CPU tensors of the
    step's small collectives (`agree`, `any_asked`, the gathered objects), which nccl refuses."""
    return "cpu:gloo,cuda:nccl" if device_type == "cuda" else "gloo"


def setup(net: Net, devices: Devices = "auto", *, timeout_s: float = 300.0) -> ParallelContext:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), start the
    process group (`process_group_backend`), the one-dimensional device mesh, and pick this
    process's devices.

    Without torchrun (no WORLD_SIZE, or 1) it is the single-process context: no process group,
    one process drives every logical GPU (a hybrid spec's replicas collapse onto one).
    """
    n = net.num_gpus
    world = _env_int("WORLD_SIZE", 1)
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    hybrid = is_hybrid(net)
    if world <= 1:
        devs, summary = resolve_devices(devices, n)
        if hybrid:
            summary += (f"; hybrid spec in one process: the {net.replicas} replicas run as one "
                        "on the whole minibatch (torchrun --nproc-per-node "
                        f"{n} runs one process per logical GPU)")
        return ParallelContext(devices=devs, summary=summary)
    if hybrid and world != n:
        raise RunError(f"the hybrid spec {net.path} runs one process per logical GPU: it needs "
                       f"{n} processes, torchrun started {world}", where="WORLD_SIZE",
                       hint=f"torchrun --nproc-per-node {n} (or --nnodes/--nproc-per-node that multiply to {n})")
    devs, summary = process_devices(devices, n, local, world, per_gpu=hybrid)
    backend = process_group_backend(devs[0].type)
    owns = False
    if not dist.is_initialized():
        if devs[0].type == "cuda":
            torch.cuda.set_device(devs[0])
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        owns = True
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh(devs[0].type, (world,), mesh_dim_names=("gpu" if hybrid else "dp",))
    if hybrid:
        what = f"hybrid: logical GPU {rank} of {n}, {net.replicas} replicas data-parallel"
        periods = sorted({n_.layer.update_period for n_ in net if len(n_.gpus) == 1
                          and getattr(n_.layer, "update_period", 0)})
        if periods:  # cuda-convnet2 would update the split layers after each replica's share
            what += (f"; updatePeriod={','.join(map(str, periods))} on the split layers is not "
                     "applied: every layer sees the whole minibatch at once and is updated once "
                     "per minibatch (docs/compiler.md, hybrid)")
    else:
        what = f"the spec asks for {net.replicas} replicas" if net.replicas > 1 else ""
    return ParallelContext(rank, world, local, backend, devs,
                           f"{summary}; rank {rank} of {world} ({backend})" + (f"; {what}" if what else ""),
                           owns, hybrid, mesh)


def check_batch(size: int, ctx: ParallelContext) -> None:
    """Refuse a global batch that does not split into equal shares: DDP averages the shards'
    mean gradients, which is the full batch's mean only when the shares are equal (and an
    empty share's mean is NaN)."""
    if ctx.distributed and size % ctx.world_size != 0:
        raise RunError(f"the minibatch of {size} images does not split evenly over {ctx.world_size} "
                       "processes", where="--mini",
                       hint=f"use a multiple of {ctx.world_size} (e.g. {max(1, size // ctx.world_size) * ctx.world_size})")


def shard(batch: Tensor, ctx: ParallelContext) -> Tensor:
    """This process's equal share of a global batch (RunError when it does not divide evenly).

    A hybrid model takes the whole batch (it shards the replicated part itself and its split
    layers see every image), so it is returned unchanged there."""
    if not ctx.distributed or ctx.hybrid:
        return batch
    check_batch(len(batch), ctx)
    return torch.tensor_split(batch, ctx.world_size)[ctx.rank]


def agree(ctx: ParallelContext, loss: float, top1: int, topk: int, images: int,
          asked: bool) -> tuple[float, int, int, int, bool]:
    """One all-reduce per step: the batch's mean loss and hits over all processes, NaN if any
    process's loss is not finite, and whether any process was asked to stop.

    Data-parallel processes each hold a shard's numbers; hybrid ones each the whole batch's
    (the cost is computed once, on the full batch), so those are not summed."""
    finite = math.isfinite(loss)
    t = torch.tensor([loss * images if finite else 0.0, top1, topk, images, 0.0 if finite else 1.0,
                      float(asked)], dtype=torch.float64)
    dist.all_reduce(t, group=ctx.group)
    if ctx.hybrid:
        t[:4] /= ctx.world_size
    mean = float(t[0] / t[3]) if t[4] == 0 else float("nan")
    return mean, int(round(float(t[1]))), int(round(float(t[2]))), int(round(float(t[3]))), bool(t[5] > 0)


def any_asked(ctx: ParallelContext, asked: bool) -> bool:
    """Whether any process was asked to stop (one all-reduce of one number, a collective): at
    each batch of a validation pass, so that every process ends the pass at the same batch."""
    t = torch.tensor([float(asked)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=ctx.group)
    return bool(t[0] > 0)


def gather_objects(obj: object, ctx: ParallelContext) -> list:
    """Every process's `obj`, in rank order (a collective: every process must call it)."""
    out: list = [None] * ctx.world_size
    if ctx.group is None:  # the default group
        dist.all_gather_object(out, obj)
    else:
        dist.all_gather_object(out, obj, group=ctx.group)
    return out


def gather_to_main(obj: object, ctx: ParallelContext) -> list | None:
    """Every process's `obj` on rank 0 (None elsewhere); a collective."""
    out: list | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0, group=ctx.group)
    return out


def teardown(ctx: ParallelContext, leave_together: bool = False) -> None:
    """Destroy the process group if `setup` created it.

    `leave_together` (after a clean run, when every process reaches this point) waits for all
    processes first: one that destroys its gloo group while rank 0 still writes files can abort
    (seen once in four 2-process runs). After an error the others may never arrive, so no wait.
    """
    if ctx.owns_group and dist.is_initialized():
        if leave_together:
            dist.barrier()
        dist.destroy_process_group()


DistContext = ParallelContext  # the name runtime/ and older tests use
