"""The parallelisms, applied as ordered steps to a device-free model description (the Net and
its plan), in the manner of torchtitan's `parallelize_*` functions:

1. `lower`     the plan (pure Python): which layer on which logical GPU, where the crossings are;
2. `place`     the modules of this process's layers on its devices (`build`, or `build_hybrid`
               for one logical GPU of a hybrid spec), initialised from the spec's seed;
3. `replicate` data parallelism over the mesh: DDP around the whole model (one process per
               model-parallel set), or inside the hybrid model around its replicated part;
4. `hybrid`    the hybrid step: the split layers joined by autograd-aware all_gathers.

`model_for(net, ctx)` runs 1-2 (and 3-4 for hybrid specs, whose model is a HybridNet);
`wrap(model, ctx)` is step 3 for data parallelism (the module the training loop calls forward
on). Checkpoint helpers gather a hybrid run's per-process weights into one whole model's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from alexspec.compiler.parallel.group import ParallelContext, gather_to_main
from alexspec.compiler.parallel.hybrid import HybridNet, build_hybrid
from alexspec.net import Net


def model_for(net: Net, ctx: ParallelContext, *, seed: int = 0,
              dtype: torch.dtype = torch.float32) -> nn.Module:
    """This process's model: the compiled net on `ctx.devices`, or its part of a hybrid net."""
    import alexspec.compiler as compiler  # the public `build` (tests spy on it there)
    from alexspec.compiler.plan import lower

    plan = lower(net)
    if ctx.distributed and ctx.hybrid:
        return build_hybrid(net, plan, ctx.rank, ctx.devices[0], seed=seed, dtype=dtype,
                            group=ctx.group, summary=ctx.summary)
    return compiler.build(net, ctx.devices, seed=seed, dtype=dtype, plan=plan)


def wrap(model: nn.Module, ctx: ParallelContext) -> nn.Module:
    """DDP around the (possibly multi-device) model when distributed; the model itself when not
    distributed or when it is a HybridNet (which holds its own DDP and collectives).

    DDP broadcasts rank 0's parameters at construction, so every replica starts identical.
    """
    if not ctx.distributed or isinstance(model, HybridNet):
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=None, process_group=ctx.group)


def gather_training_state(model: nn.Module, sgd: Any, ctx: ParallelContext) -> tuple[dict, dict] | None:
    """A hybrid run's whole weights and SGD state on rank 0, keyed and ordered as the
    single-process model's (so `alexspec test` and a resume read them); a collective.
    None when the model is not hybrid (each process already holds everything) and on ranks > 0."""
    if not isinstance(model, HybridNet) or not ctx.distributed:
        return None
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    vel = sgd.state_dict()["velocity"]
    parts = gather_to_main((weights, model.local_rule_order(), vel), ctx)
    if parts is None:
        return None
    whole: dict = {}
    by_rule: dict = {}
    for w, order, v in reversed(parts):  # rank 0's replicated entries win (they are equal)
        whole.update(w)
        by_rule.update(zip(order, v))
    full = model.full_rule_order()
    return whole, {"velocity": [by_rule[r] for r in full], "names": [f"{n}.{k}" for n, k, _ in full]}


def local_sgd_state(model: nn.Module, state: dict) -> dict:
    """This process's part of a whole model's SGD state (the state itself unless hybrid)."""
    if not isinstance(model, HybridNet):
        return state
    vel = state.get("velocity")
    full = model.full_rule_order()
    if not isinstance(vel, list) or len(vel) != len(full):
        return state  # PaperSGD.load_state_dict says what does not fit
    by_rule = dict(zip(full, vel))
    mine = model.local_rule_order()
    return {"velocity": [by_rule[r] for r in mine], "names": [f"{n}.{k}" for n, k, _ in mine]}
