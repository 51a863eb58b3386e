"""The layout of a cuda-convnet2 hybrid spec, torch-free (used by `alexspec check` and by the
compiler's hybrid step, compiler/parallel/hybrid.py): which layers are replicated, which run on
one GPU and in which stage, what each exchange between stages moves, and its bytes per image.

Stage 0 is the replicated part (each process its share of the minibatch); a layer on one GPU is
one stage later than any input it reads from the replicated part or from another GPU. Exchange
s (before stage s) is one all_gather: every process sends its shares of the replicated outputs
that stage s reads ("batch") and its own outputs that other GPUs read ("column"); the last one
hands the model output (the logits) to every process.
"""

from __future__ import annotations

from dataclasses import dataclass

from alexspec.errors import Diagnostic, SpecError
from alexspec.net import Net, Node


@dataclass(frozen=True)
class Crossing:
    """One tensor an exchange moves: a replicated layer's output (`batch`: every process sends
    its share of the minibatch) or a split layer's output (`column`: its GPU sends all of it)."""

    layer: str
    kind: str  # "batch" | "column"
    src: int  # the sending GPU of a column crossing; -1 for a batch crossing (every GPU)
    shape: tuple[int, ...]  # per image

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class HybridLayout:
    """Which layer runs where and in which stage, and what each exchange moves."""

    world: int
    replicated: tuple[str, ...]  # net order
    split: tuple[tuple[str, int, int], ...]  # (layer, gpu, stage), net order
    exchanges: tuple[tuple[Crossing, ...], ...]  # exchanges[s - 1] runs before stage s
    logits: str
    logits_gpu: int

    def stage_layers(self, gpu: int, stage: int) -> list[str]:
        return [n for n, g, s in self.split if g == gpu and s == stage]

    @property
    def stages(self) -> int:
        return len(self.exchanges)

    def sent_per_image(self, exchange: int, gpu: int, element_size: int = 4) -> float:
        """Bytes process `gpu` puts into exchange `exchange` (1-based) per image of the
        minibatch, padding to the largest process's share included (all_gather sends equal
        sizes)."""
        ex = self.exchanges[exchange - 1]
        batch = sum(c.numel for c in ex if c.kind == "batch") / self.world
        cols = [sum(c.numel for c in ex if c.kind == "column" and c.src == r) for r in range(self.world)]
        return element_size * max(batch + col for col in cols)

    def received_per_image(self, exchange: int, element_size: int = 4) -> float:
        """Bytes every process receives from exchange `exchange` per image (its own included)."""
        return self.world * self.sent_per_image(exchange, 0, element_size)


def tensor_shape(node: Node) -> tuple[int, ...]:
    """The per-image shape of a layer's output tensor: (C, H, W) for maps, (N,) for vectors."""
    o = node.output
    return (o.channels, o.height, o.width) if o.is_image else (o.channels,)


def model_output(net: Net) -> str:
    """The layer whose output the model returns: the softmax input of the cost layer."""
    costs = [n for n in net if n.type.startswith("cost.")]
    if costs:
        probs = net[costs[0].layer.inputs[-1]]
        return probs.layer.inputs[0] if probs.type == "softmax" else probs.name
    return [n for n in net if n.type != "data"][-1].name


def is_hybrid(net: Net) -> bool:
    """cuda-convnet2's hybrid form: replicated layers (`gpu=0,1,...`) and layers on one GPU."""
    layers = [n for n in net if n.type != "data"]
    return net.replicas > 1 and any(n.gpus != layers[0].gpus for n in layers)


def hybrid_layout(net: Net) -> HybridLayout:
    """The stages and exchanges of a hybrid net, or a SpecError for forms not lowered yet."""
    world = net.num_gpus
    diags: list[Diagnostic] = []
    replicated, split, stage = [], [], {}
    need: dict[int, dict[str, Crossing]] = {}
    for node in net:
        if node.type == "data" or node.type.startswith("cost."):
            continue
        name = node.name
        if any(getattr(node.layer, "weight_source", ())):
            diags.append(Diagnostic(node.layer.where("weight_source"), "unsupported",
                                    f"layer {name!r}: weightSource in a hybrid spec is not supported yet",
                                    "give the layer its own weights, or run the spec in one process"))
        if len(node.gpus) == world:
            for src in node.layer.inputs:
                if net[src].type != "data" and len(net[src].gpus) != world:
                    diags.append(Diagnostic(node.layer.span, "unsupported",
                                            f"layer {name!r}: a replicated layer reading the split "
                                            f"layer {src!r} is not supported yet"))
            replicated.append(name)
            stage[name] = 0
            continue
        if len(node.gpus) != 1:
            diags.append(Diagnostic(node.layer.where("gpu"), "unsupported",
                                    f"layer {name!r}: {len(node.gpus)} replicas in a hybrid spec over "
                                    f"{world} logical GPUs; only {world} replicas or one GPU are supported yet",
                                    f"use gpu={','.join(map(str, range(world)))} or a single gpu"))
            continue
        st = 0
        for src in node.layer.inputs:
            other = net[src]
            if other.type == "data":
                diags.append(Diagnostic(node.layer.span, "unsupported",
                                        f"layer {name!r}: a layer on one GPU of a hybrid spec reads "
                                        f"the data layer {src!r} directly; not supported yet",
                                        "read the images through replicated layers"))
                continue
            if src not in stage:
                continue  # reported above
            if len(other.gpus) == world:
                e, cross = 1, Crossing(src, "batch", -1, tensor_shape(other))
            elif other.gpu != node.gpu:
                e, cross = stage[src] + 1, Crossing(src, "column", other.gpu, tensor_shape(other))
            else:
                st = max(st, stage[src])
                continue
            need.setdefault(e, {})[src] = cross
            st = max(st, e)
        stage[name] = st
        split.append((name, node.gpu, st))
    logits = model_output(net)
    out = net[logits]
    if not diags and len(out.gpus) != 1:
        diags.append(Diagnostic(out.layer.span, "unsupported",
                                f"layer {logits!r}: the model output of a hybrid spec must be on one GPU"))
    if diags:
        raise SpecError(diags)
    last = stage[logits] + 1
    need.setdefault(last, {})[logits] = Crossing(logits, "column", out.gpu, tensor_shape(out))
    exchanges = tuple(tuple(need.get(e, {}).values()) for e in range(1, last + 1))
    return HybridLayout(world, tuple(replicated), tuple(split), exchanges, logits, out.gpu)
