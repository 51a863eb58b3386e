"""Scale-out: data-parallel replicas of the compiled (two-GPU) model with torch.distributed.

One process per model-parallel pair, started by torchrun; each wraps its CompiledNet (which may
span two devices) in DistributedDataParallel with `device_ids=None`, as the DDP docs prescribe
for multi-device modules. Process k drives cuda:2k and cuda:2k+1 when there are enough GPUs,
else the CPU (gloo). cuda-convnet2's data-parallel files (`gpu=0,1` on the first layer, every
layer with the same replicas) lower to a one-device model per process: the same mechanism.

    torchrun --nproc-per-node 2 -m alexspec.cli run specs/alexnet.cfg ...

The runtime calls `setup(net)` once, builds the model on `ctx.devices`, then `wrap(model, ctx)`,
feeds each process `shard(batch, ctx)` and averages nothing itself: DDP all-reduces the mean
gradients, so equal shards give the full batch's mean gradient.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from alexspec.compiler.build import Devices, resolve_devices
from alexspec.compiler.plan import lower
from alexspec.errors import RunError
from alexspec.net import Net


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size, its devices (one per logical GPU)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: single process, no process group
    devices: list[torch.device] = field(default_factory=lambda: [torch.device("cpu")])
    summary: str = ""
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise RunError(f"environment variable {name}={os.environ[name]!r} is not an integer",
                       where=name) from None


def setup(net: Net, devices: Devices = "auto", *, timeout_s: float = 300.0) -> DistContext:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), start the
    process group (nccl on GPUs, gloo on the CPU) and pick this process's devices.

    Without torchrun (no WORLD_SIZE, or 1) it is the single-process context: no process group.
    `devices` other than "auto" are used as given by every process (e.g. "cpu").
    """
    n = lower(net).num_gpus
    world = _env_int("WORLD_SIZE", 1)
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if isinstance(devices, str) and devices.strip().lower() == "auto" and world > 1:
        if count >= n * (local + 1):
            devs = [torch.device(f"cuda:{n * local + i}") for i in range(n)]
            why = f"process {local} of {world}: its own {n} CUDA device(s)"
        else:
            devs = [torch.device("cpu")] * n
            why = f"process {local} of {world}: {count} CUDA device(s) are too few, CPU"
        summary = "devices: " + ", ".join(f"gpu{i} -> {d}" for i, d in enumerate(devs)) + f" ({why})"
    else:
        devs, summary = resolve_devices(devices, n)
    if world <= 1:
        return DistContext(devices=devs, summary=summary)
    backend = "nccl" if devs[0].type == "cuda" else "gloo"
    owns = False
    if not dist.is_initialized():
        if devs[0].type == "cuda":
            torch.cuda.set_device(devs[0])
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        owns = True
    replicas = f"; the spec asks for {net.replicas} replicas" if net.replicas > 1 else ""
    return DistContext(rank, world, local, backend, devs,
                       f"{summary}; rank {rank} of {world} ({backend}){replicas}", owns)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """DDP around the (possibly two-device) model when distributed; the model itself otherwise.

    DDP broadcasts rank 0's parameters at construction, so every replica starts identical.
    """
    if not ctx.distributed:
        return model
    return DistributedDataParallel(model, device_ids=None)


def check_batch(size: int, ctx: DistContext) -> None:
    """Refuse a global batch that does not split into equal shares: DDP averages the shards'
    mean gradients, which is the full batch's mean only when the shares are equal (and an
    empty share's mean is NaN)."""
    if ctx.distributed and size % ctx.world_size != 0:
        raise RunError(f"the minibatch of {size} images does not split evenly over {ctx.world_size} "
                       "processes", where="--mini",
                       hint=f"use a multiple of {ctx.world_size} (e.g. {max(1, size // ctx.world_size) * ctx.world_size})")


def shard(batch: Tensor, ctx: DistContext) -> Tensor:
    """This process's equal share of a global batch (RunError when it does not divide evenly)."""
    if not ctx.distributed:
        return batch
    check_batch(len(batch), ctx)
    return torch.tensor_split(batch, ctx.world_size)[ctx.rank]


def gather_objects(obj: object, ctx: DistContext) -> list:
    """Every process's `obj`, in rank order (a collective: every process must call it)."""
    out: list = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def teardown(ctx: DistContext, leave_together: bool = False) -> None:
    """Destroy the process group if `setup` created it.

    `leave_together` (after a clean run, when every process reaches this point) waits for all
    processes first: one that destroys its gloo group while rank 0 still writes files can abort
    (seen once in four 2-process runs). After an error the others may never arrive, so no wait.
    """
    if ctx.owns_group and dist.is_initialized():
        if leave_together:
            dist.barrier()
        dist.destroy_process_group()
