"""cuda-convnet2's hybrid parallelism ("one weird trick", Krizhevsky 2014) on torch.distributed.

A hybrid spec has replicated layers (`gpu=0,1,...,R-1`: data parallel, each process its share
of the minibatch) feeding layers that live on one logical GPU each (model parallel, e.g.
`fc1024a gpu=0` ... `fc1024d gpu=3`, joined by `pass` layers). One process runs per logical GPU:
it holds every replicated layer (a replica) and the split layers of its own GPU, nothing else.

This is the "all activations at once" variant: every split layer sees the whole minibatch in one
pass (cuda-convnet2 instead feeds its fc layers one replica's microbatch per pass, and with
updatePeriod=1 updates them after each; see docs/compiler.md). The computation is then exactly
the single-process model's, which is what the tests check in float64.

Layers are grouped into stages: stage 0 is the replicated part; a split layer's stage is one
more than that of any input it reads from the replicated part or from another GPU. Between
stage s-1 and s runs exchange s: one `torch.distributed.nn.functional.all_gather` (autograd
aware: its backward is an all-to-all and a sum) of a flat buffer per process holding its
shares of the replicated outputs that stage s reads ("batch" crossings: gathered in rank order
they are the whole minibatch) and its own split outputs that other GPUs read ("column"
crossings). The last exchange hands the logits from their GPU to every process, so every
process computes the same cost and the training loop stays symmetric. Each exchange's buffer
carries a zero-weighted term of the previous exchange's output, so the backward passes of the
exchanges run in the same order (last to first) on every process, as collectives must.
The replicated layers are wrapped in DistributedDataParallel whose comm hook sums (not
averages) the gradients: each process's share of a full-batch mean loss adds up to its mean.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dnn
from torch import Tensor, nn

from alexspec.compiler.layers import cost_for, module_for
from alexspec.compiler.layers.common import WeightLayer
from alexspec.compiler.model import CompiledNet, Cost, module_key
from alexspec.compiler.plan import Plan, Step
from alexspec.hybrid import Crossing, HybridLayout
from alexspec.hybrid import hybrid_layout as _layout
from alexspec.net import Net


def hybrid_layout(net: Net, plan: Plan | None = None) -> HybridLayout:
    """The stages and exchanges of a hybrid net (alexspec/hybrid.py, shared with `check`)."""
    return _layout(net)


class _Replicated(nn.Module):
    """The replicated layers of one process: its share of the minibatch in, the outputs that
    exchange 1 sends out. (A module of its own so DDP can wrap exactly these parameters.)"""

    def __init__(self, steps: list[Step], layers: dict[str, nn.Module], outputs: list[str]):
        super().__init__()
        self.steps = steps
        self.layers = nn.ModuleDict({module_key(s.name): layers[s.name] for s in steps})
        self.outputs = outputs

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        env: dict[str, Tensor] = {}
        for s in self.steps:
            xs = [x if src.is_data else env[src.name] for src in s.sources]
            env[s.name] = self.layers[module_key(s.name)](*xs)
        return tuple(env[n] for n in self.outputs)


def _sum_hook(group, bucket):
    """DDP comm hook: all-reduce SUM (the default hook averages)."""
    fut = dist.all_reduce(bucket.buffer(), group=group, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


class HybridNet(nn.Module):
    """One process of a hybrid run: `model(images) -> logits` of the whole minibatch on every
    process (a collective: every process calls it with the same batch), `model.cost(...)`,
    `model.learning_rules()` (this process's parameters only), and `state_dict()` /
    `load_state_dict()` with the single-process model's keys (its own entries, resp. picked out
    of a whole model's)."""

    def __init__(self, net: Net, plan: Plan, layout: HybridLayout, rank: int,
                 device: torch.device, layers: dict[str, nn.Module], all_keys: set[str],
                 full_rules: list[tuple[str, str, int]], group=None, summary: str = ""):
        super().__init__()
        self.net, self.plan, self.layout, self.rank, self.group = net, plan, layout, rank, group
        self.devices = [device]
        self.placement_summary = summary
        self.shared: frozenset[tuple[str, int]] = frozenset()  # weightSource is refused in hybrid specs
        self.layers = nn.ModuleDict({module_key(k): m for k, m in layers.items()})
        self._all_keys, self._full_rules = all_keys, full_rules
        out = net[plan.logits].output
        img = net[plan.images].output
        self.input_shape = (img.channels, img.height, img.width)
        self.num_classes = out.numel
        cost = net[plan.cost].layer if plan.cost else None
        self.cost_coeff = cost.coeff if cost else 1.0
        self.topk = cost.topk if cost else 1
        self._cost = cost_for(cost) if cost else None
        rep_steps = [s for s in plan.steps if s.name in set(layout.replicated)]
        first = [c.layer for c in layout.exchanges[0] if c.kind == "batch"] if layout.exchanges else []
        rep = _Replicated(rep_steps, layers, first)
        if dist.is_initialized() and dist.get_world_size(group) > 1 and any(True for _ in rep.parameters()):
            ddp = nn.parallel.DistributedDataParallel(rep, device_ids=None, process_group=group)
            ddp.register_comm_hook(group, _sum_hook)
            rep = ddp
        object.__setattr__(self, "_replicated", rep)  # not a submodule: its layers are in self.layers
        needed = {s.name for s in plan.needed_for({plan.logits})}
        self._local_steps = {st: [plan.step(n) for n in layout.stage_layers(rank, st) if n in needed]
                             for st in range(layout.stages)}

    # ------------------------------------------------------------------ running

    def train(self, mode: bool = True) -> "HybridNet":
        super().train(mode)
        self._replicated.train(mode)
        return self

    def forward(self, images: Tensor) -> Tensor:
        lay, world = self.layout, self.layout.world
        b = images.shape[0]
        shares = [len(t) for t in torch.tensor_split(torch.arange(b), world)]
        x = torch.tensor_split(images, world)[self.rank].to(self.devices[0])
        rep_out = dict(zip(self._replicated.outputs if isinstance(self._replicated, _Replicated)
                           else self._replicated.module.outputs, self._replicated(x)))
        local: dict[str, Tensor] = {}
        received: dict[str, Tensor] = {}
        tie: Tensor | None = None
        for s, crossings in enumerate(lay.exchanges, start=1):
            for step in self._local_steps.get(s - 1, []):
                xs = [local[src.name] if src.name in local else received[src.name] for src in step.sources]
                local[step.name] = self.layers[module_key(step.name)](*xs)
            pieces = self._exchange(crossings, rep_out, local, shares, b, tie)
            for c in crossings:
                received[c.layer] = pieces[c.layer]
            tie = pieces["__tie__"]
        scores = received[lay.logits]
        if self.rank != lay.logits_gpu:
            # The same values everywhere; the gradient flows only on the logits' own GPU.
            scores = scores.detach() + 0.0 * scores
        return scores

    def _exchange(self, crossings: tuple[Crossing, ...], rep_out: dict[str, Tensor],
                  local: dict[str, Tensor], shares: list[int], b: int,
                  tie: Tensor | None) -> dict[str, Tensor]:
        world, me = self.layout.world, self.rank
        batch = [c for c in crossings if c.kind == "batch"]

        def length(r: int) -> int:
            return (sum(shares[r] * c.numel for c in batch)
                    + sum(b * c.numel for c in crossings if c.kind == "column" and c.src == r))

        size = max(length(r) for r in range(world))
        mine = [rep_out[c.layer].reshape(-1) for c in batch]
        mine += [local[c.layer].reshape(-1) for c in crossings if c.kind == "column" and c.src == me]
        dtype = next(iter(self.parameters())).dtype
        buf = torch.cat(mine) if mine else torch.zeros(0, dtype=dtype, device=self.devices[0])
        buf = torch.cat([buf, buf.new_zeros(size - buf.numel())])
        if tie is not None:
            buf = buf + 0.0 * tie
        with warnings.catch_warnings():
            # torch 2.13 marks it deprecated in favour of the private _functional_collectives,
            # whose backward is a reduce-scatter that gloo lacks; this one's is an all-to-all.
            warnings.simplefilter("ignore", FutureWarning)
            got = dnn.all_gather(buf, group=self.group if self.group is not None else dist.group.WORLD)
        out: dict[str, Tensor] = {}
        offs = [0] * world  # where the next piece starts in each process's buffer
        for c in batch:  # shares in rank order: the whole minibatch
            parts = []
            for r in range(world):
                parts.append(got[r][offs[r]:offs[r] + shares[r] * c.numel].view(shares[r], *c.shape))
                offs[r] += shares[r] * c.numel
            out[c.layer] = torch.cat(parts)
        for r in range(world):
            for c in crossings:
                if c.kind == "column" and c.src == r:
                    out[c.layer] = got[r][offs[r]:offs[r] + b * c.numel].view(b, *c.shape)
                    offs[r] += b * c.numel
        out["__tie__"] = torch.stack([g.sum() for g in got]).sum()
        return out

    def cost(self, scores: Tensor, labels: Tensor) -> Cost:
        """The spec's cost on the whole minibatch (the same on every process)."""
        return CompiledNet.cost(self, scores, labels)  # uses only _cost and topk

    # ------------------------------------------------------------------ parameters

    def weight_layers(self) -> list[tuple[str, WeightLayer]]:
        return [(s.name, m) for s in self.plan.steps if module_key(s.name) in self.layers
                and isinstance(m := self.layers[module_key(s.name)], WeightLayer)]

    def parameter_gpus(self):
        for name, m in self.layers.items():
            for p in m.parameters():
                yield p, self.rank

    def learning_rules(self):
        """This process's parameters' rules, in the single-process model's order."""
        return CompiledNet.learning_rules(self)

    def full_rule_order(self) -> list[tuple[str, str, int]]:
        """(layer, kind, input index) of every parameter of the whole model, in the order of
        the single-process model's `learning_rules()` (and so of its SGD state)."""
        return list(self._full_rules)

    def local_rule_order(self) -> list[tuple[str, str, int]]:
        return [(r.layer, r.kind, r.index) for r in self.learning_rules()]

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        """Load this process's entries from a whole model's state dict."""
        own = set(super().state_dict().keys())
        missing = sorted(own - set(state))
        unexpected = sorted(set(state) - self._all_keys)
        if strict and (missing or unexpected):
            raise RuntimeError(f"Error(s) in loading state_dict for HybridNet: missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]}")
        return super().load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict,
                                       assign=assign)

    def program(self) -> str:
        lay = self.layout
        lines = [f"HybridNet: logical GPU {self.rank} of {lay.world} on {self.devices[0]}; "
                 f"{lay.stages} exchange(s)"]
        lines.append("    replicated: " + ", ".join(lay.replicated))
        for s in range(lay.stages):
            mine = lay.stage_layers(self.rank, s)
            if mine:
                lines.append(f"    stage {s}: " + ", ".join(mine))
            lines.append(f"    exchange {s + 1}: " + ", ".join(
                f"{c.layer}({'shares' if c.kind == 'batch' else f'gpu{c.src}'})" for c in lay.exchanges[s]))
        return "\n".join(lines)


def build_hybrid(net: Net, plan: Plan, rank: int, device: torch.device, *, seed: int = 0,
                 dtype: torch.dtype = torch.float32, group=None, summary: str = "",
                 init: bool = True) -> HybridNet:
    """The HybridNet of process `rank`: the modules of its layers only (the others are made on
    the meta device, so the weights are drawn in the same order as the single-process model's
    and equal its weights for the same seed)."""
    from alexspec.compiler.build import init_layers

    layout = hybrid_layout(net, plan)
    mine = set(layout.replicated) | {n for n, g, _ in layout.split if g == rank}
    modules: dict[str, nn.Module] = {}
    all_keys: set[str] = set()
    full_rules: list[tuple[str, str, int]] = []
    for s in plan.steps:
        if s.name in mine:
            m = module_for(net[s.name])
        else:
            with torch.device("meta"):
                m = module_for(net[s.name])
        modules[s.name] = m
        all_keys |= {f"layers.{module_key(s.name)}.{k}" for k in m.state_dict()}
        if isinstance(m, WeightLayer):
            full_rules += [(s.name, "weight", i) for i in range(len(m.weights))] + [(s.name, "bias", 0)]
    if init:
        init_layers([(s.name, modules[s.name]) for s in plan.steps], net, seed)
    local = {n: m.to(device=device, dtype=dtype) for n, m in modules.items() if n in mine}
    return HybridNet(net, plan, layout, rank, device, local, all_keys, full_rules, group, summary)
