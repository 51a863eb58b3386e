"""Lowering a checked Net to a plan: which layer runs on which logical GPU, in what order, and
where a transfer moves an input from another logical GPU. Pure Python, no torch.

The plan is layer-major: layers are ordered by depth (longest path from the data), so the two
columns' layers alternate (conv1a, conv1b, rnorm1a, rnorm1b, ...) and both GPUs get work queued.
A source from another logical GPU gets an explicit transfer; data is fed to each GPU directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from alexspec.compiler.layers import COSTS, unsupported
from alexspec.errors import Diagnostic, SpecError
from alexspec.net import Net
from alexspec.support import refused_at_check


@dataclass(frozen=True)
class Source:
    """Input `index` of a step: the output of layer `name`, living on logical GPU `gpu`."""

    name: str
    gpu: int
    is_data: bool = False
    transfer: bool = False  # moved to the consumer's GPU by an explicit transfer


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    gpu: int
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    images: str  # the dataIdx=0 data layer
    logits: str  # the layer whose output the model returns (the softmax input of the cost)
    cost: str | None
    num_gpus: int

    @property
    def transfers(self) -> list[tuple[Step, Source]]:
        return [(s, src) for s in self.steps for src in s.sources if src.transfer]

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def rewire(self, layer: str, index: int, *, src: str | None = None, src_gpu: int | None = None,
               transfer: bool | None = None) -> "Plan":
        """A copy with input `index` of `layer` changed (test hook: deliberately broken plans)."""
        steps = []
        for s in self.steps:
            if s.name == layer:
                old = s.sources[index]
                new = replace(old, name=src if src is not None else old.name,
                              gpu=src_gpu if src_gpu is not None else old.gpu,
                              transfer=old.transfer if transfer is None else transfer)
                s = replace(s, sources=s.sources[:index] + (new,) + s.sources[index + 1:])
            steps.append(s)
        return replace(self, steps=tuple(steps))

    def needed_for(self, targets: set[str]) -> tuple[Step, ...]:
        """The steps (in plan order) that `targets` depend on, themselves included."""
        by_name = {s.name: s for s in self.steps}
        need, stack = set(), [t for t in targets if t in by_name]
        while stack:
            n = stack.pop()
            if n in need:
                continue
            need.add(n)
            stack.extend(src.name for src in by_name[n].sources if src.name in by_name)
        return tuple(s for s in self.steps if s.name in need)


def lower(net: Net) -> Plan:
    """The plan of `net`, or a SpecError listing every layer the compiler cannot lower."""
    diags = [d for d in (unsupported(n) for n in net) if d is not None]
    diags += [*_parallelism_diagnostics(net), *_no_layer_to_compute(net)]
    images = [n for n in net.data_nodes if n.layer.data_idx == 0]
    costs = net.cost_nodes
    diags += refused_at_check(net.warnings)  # check warned in the same words (alexspec/support.py)
    if diags:
        raise SpecError(diags)

    cost = costs[0] if costs else None
    if cost is not None:
        probs = net[cost.layer.inputs[-1]]
        logits = probs.layer.inputs[0] if probs.type == "softmax" else probs.name
    else:
        logits = [n for n in net if n.type != "data"][-1].name

    depth: dict[str, int] = {}
    steps = []
    for i, node in enumerate(net):
        if node.type == "data" or node.type in COSTS:
            depth[node.name] = 0
            continue
        depth[node.name] = 1 + max(depth[s] for s in node.layer.inputs)
        sources = []
        for src in node.layer.inputs:
            s = net[src]
            if s.type == "data":
                sources.append(Source(src, node.gpu, is_data=True))
            else:
                sources.append(Source(src, s.gpu, transfer=s.gpu != node.gpu))
        steps.append((depth[node.name], i, Step(node.name, node.type, node.gpu, tuple(sources))))
    ordered = tuple(s for _, _, s in sorted(steps, key=lambda t: (t[0], t[1])))
    num_gpus = 1 + max((s.gpu for s in ordered), default=0)
    return Plan(ordered, images[0].name, logits, cost.name if cost else None, num_gpus)


def _parallelism_diagnostics(net: Net) -> list[Diagnostic]:
    """cuda-convnet2 replicas (`gpu=0,1`): every layer with the same replicas is pure data
    parallelism (one replica per process); replicas feeding layers on one GPU each is the
    hybrid form (compiler/parallel/hybrid.py), which needs the replicas to cover every logical
    GPU. In one process a replicated layer runs once, on its first GPU, on the whole batch."""
    if net.replicas <= 1:
        return []
    layers = [n for n in net if n.type != "data"]
    if all(n.gpus == layers[0].gpus for n in layers):
        return []
    n_gpus = net.num_gpus
    return [Diagnostic(n.layer.where("gpu"), "unsupported",
                       f"layer {n.name!r}: {len(n.gpus)} replicas in a hybrid spec over {n_gpus} "
                       f"logical GPUs; replicated layers must run on all of them (gpu="
                       f"{','.join(map(str, range(n_gpus)))}) yet",
                       "replicate over every logical GPU, or put the layer on one GPU")
            for n in layers if 1 < len(n.gpus) < n_gpus or (len(n.gpus) == n_gpus and n.gpus != tuple(range(n_gpus)))][:1]


def _no_layer_to_compute(net: Net) -> list[Diagnostic]:
    """A net whose only layers besides the data are cost layers (a cost reading the data layer
    directly) has no step to run: its model output would be a data layer, which no step makes.
    (Kept last in the module, so that the mutation runs' mutant numbers above stay the same.)"""
    costs = net.cost_nodes
    if not costs or any(n.type != "data" and n.type not in COSTS for n in net):
        return []
    c = costs[0]
    return [Diagnostic(c.layer.span, "unsupported",
                       f"layer {c.name!r}: the cost layer reads only data layers, so the net has "
                       "no layer to compute (the model output would be the data layer "
                       f"{c.layer.inputs[-1]!r})",
                       "put the layers to train between the data and the cost layer")]
