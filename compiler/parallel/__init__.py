"""Placement and collectives, in one place (docs/compiler.md, "Parallelism").

    ctx = setup(net, devices)          # torchrun's environment, process group, device mesh
    model = model_for(net, ctx)        # this process's model (CompiledNet or HybridNet)
    forward = wrap(model, ctx)         # DDP for data parallelism
    x = shard(batch, ctx)              # this process's share (hybrid models shard themselves)
    loss, top1, topk, n, stop = agree(ctx, loss, top1, topk, n, asked)
    stop = any_asked(ctx, asked)       # at a validation batch: did any process get a signal?
    teardown(ctx, leave_together=True)
"""

from alexspec.compiler.parallel.apply import (gather_training_state, local_sgd_state, model_for,
                                              wrap)
from alexspec.compiler.parallel.devices import Devices, process_devices, resolve_devices
from alexspec.compiler.parallel.group import (DistContext, ParallelContext, agree, any_asked,
                                              check_batch, gather_objects, gather_to_main, is_hybrid,
                                              setup, shard, teardown)
from alexspec.compiler.parallel.hybrid import Crossing, HybridLayout, HybridNet, build_hybrid, hybrid_layout

__all__ = [
    "Crossing", "Devices", "DistContext", "HybridLayout", "HybridNet", "ParallelContext", "agree",
    "any_asked", "build_hybrid", "check_batch", "gather_objects", "gather_to_main",
    "gather_training_state", "hybrid_layout", "is_hybrid", "local_sgd_state", "model_for", "process_devices",
    "resolve_devices", "setup", "shard", "teardown", "wrap",
]
