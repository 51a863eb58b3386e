"""check: a validated `Spec` -> the checked `Net` (references, cycles, GPUs, shapes).

All problems of the stage are reported together. Reference problems (undefined inputs, inputs
defined below their reader, cycles) stop the stage before shapes, since shapes need an order.
"""

from __future__ import annotations

import re

from alexspec import ir, support
from alexspec.errors import Diagnostic, Span, SpecError
from alexspec.layers import kind_of
from alexspec.layers.base import NEURON_PARAMS
from alexspec.near import closest
from alexspec.net import Net, Node, Shape
from alexspec.shapes import Problem, infer
from alexspec.values import split_list



_INDEX = re.compile(r"[0-9]{1,4}")  # weightSource=name[k]: ASCII digits only (str.isdigit takes '²')


class _Ctx:
    def __init__(self, spec: ir.Spec, sources: dict[str, str], failed: dict[str, tuple[str, ...]]):
        self.spec, self.sources, self.failed = spec, sources, failed
        self.diags: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []  # located, what the compiler will refuse in a valid file
        self.index = {layer.name: i for i, layer in enumerate(spec.layers)}
        self._lines: dict[str, list[str]] = {}

    def line(self, path: str, n: int) -> str | None:
        """Line `n` (1-based) of the source `path`, as the parser counts lines; None if unknown."""
        if path not in self._lines:
            text = self.sources.get(path)
            self._lines[path] = text.split("\n") if text is not None else []
        lines = self._lines[path]
        return lines[n - 1] if 0 < n <= len(lines) else None

    def add(self, span: Span, code: str, layer: ir.Layer, message: str, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(span, code, f"layer '{layer.name}': {message}", hint))

    def input_span(self, layer: ir.Layer, i: int) -> Span:
        """The span of the i-th name in `inputs=`, when the file spells the names one by one."""
        return self.elem_span(layer, "inputs", i, len(layer.inputs))

    def elem_span(self, layer: ir.Layer, field: str, i: int | None, n: int) -> Span:
        span = layer.where(field)
        if i is None or span == layer.span:
            return span
        line = self.line(span.path, span.line)
        if line is None or span.end_line != span.line:
            return span
        value = line[span.column - 1:span.end_column - 1]
        elems = split_list(value, span)
        return elems[i][1] if len(elems) == n and i < n else span


_HEADER = re.compile(r"\s*\[([^\]]*)\]")


def _written_name(ctx: _Ctx, layer: ir.Layer) -> str | None:
    """The name in the section header of `layer`: `pool1` for the columns `pool1a`, `pool1b`."""
    line = ctx.line(layer.span.path, layer.span.line)
    m = _HEADER.match(line) if line is not None else None
    return m.group(1).strip() if m else None


def _near_input(ctx: _Ctx, reader: ir.Layer, name: str) -> str | None:
    """The did-you-mean of an undefined input: a layer name, or the name of a compact section as
    the file writes it, never the reader itself; at equal closeness a name defined above the reader
    (a name below would be an input-order error), then one on the reader's GPUs."""
    here = ctx.index[reader.name]
    rank: dict[str, int] = {}  # candidate -> preference
    for i, layer in enumerate(ctx.spec.layers):
        if layer.name == reader.name:
            continue
        score = 2 * (i < here) + (bool(reader.gpu) and layer.gpu == reader.gpu)
        written = _written_name(ctx, layer)
        for c in (layer.name, written) if written and written != reader.name else (layer.name,):
            rank[c] = max(rank.get(c, -1), score)
    for failed in ctx.failed:  # a layer with its own error is still a name the file defines
        rank.setdefault(failed, 0)
    return closest(name, rank, prefer=rank.__getitem__)


def _references(ctx: _Ctx) -> None:
    layers = ctx.spec.layers
    graph: dict[str, list[str]] = {}
    for layer in layers:
        graph[layer.name] = [x for x in layer.inputs if x in ctx.index]
        for i, x in enumerate(layer.inputs):
            if x not in ctx.index and x not in ctx.failed:  # a failed layer is reported already
                near = _near_input(ctx, layer, x)
                ctx.add(ctx.input_span(layer, i), "undefined-input", layer, f"input layer {x!r} is not defined",
                        f"did you mean {near!r}?" if near else "define it in a section above this one")
    in_cycle = set()
    for cycle in _cycles(graph, [layer.name for layer in layers]):
        in_cycle.update(cycle)
        first = layers[min(ctx.index[n] for n in cycle)]
        succ = {n: m for n, m in zip(cycle, cycle[1:] + cycle[:1])}  # n reads m
        i = first.inputs.index(succ[first.name])
        path = " <- ".join(_rotate(cycle, first.name) + [first.name])
        ctx.add(ctx.input_span(first, i), "cycle", first, f"the inputs form a cycle: {path}",
                "a layer cannot read its own output, directly or through other layers")
    for layer in layers:
        for i, x in enumerate(layer.inputs):
            if x in ctx.index and ctx.index[x] > ctx.index[layer.name] and layer.name not in in_cycle:
                below = layers[ctx.index[x]].span.line
                ctx.add(ctx.input_span(layer, i), "input-order", layer,
                        f"input layer {x!r} is defined below this layer (line {below})",
                        "cuda-convnet reads layers in file order: move the section of "
                        f"'{x}' above '{layer.name}'")


def _rotate(cycle: list[str], start: str) -> list[str]:
    k = cycle.index(start)
    return cycle[k:] + cycle[:k]


def _cycles(graph: dict[str, list[str]], order: list[str]) -> list[list[str]]:
    """One cycle (as a list n0, n1, ... where n_i reads n_{i+1}) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    for root in order:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in graph[node]:
                    comps.append(comp)
    return [_cycle_in(graph, set(c), min(c, key=order.index)) for c in comps]


def _cycle_in(graph: dict[str, list[str]], comp: set[str], start: str) -> list[str]:
    """A simple cycle through `start` inside one strongly connected component (BFS back to start)."""
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for n in frontier:
            for m in graph[n]:
                if m not in comp:
                    continue
                if m == start:
                    path = [n]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return list(reversed(path))
                if m not in prev:
                    prev[m] = n
                    nxt.append(m)
        frontier = nxt
    return [start]


def _structure(ctx: _Ctx) -> None:
    """Input counts, neurons, cost inputs and unused layers."""
    consumers: dict[str, int] = {n: 0 for n in ctx.index}
    for inputs in [layer.inputs for layer in ctx.spec.layers] + list(ctx.failed.values()):
        for x in inputs:
            consumers[x] = consumers.get(x, 0) + 1
    by_name = {layer.name: layer for layer in ctx.spec.layers}
    for layer in ctx.spec.layers:
        kind = kind_of(layer.type)
        lo, hi = kind.arity
        n = len(layer.inputs)
        if n < lo or (hi is not None and n > hi):
            ctx.add(layer.where("inputs"), "inputs", layer,
                    f"type={layer.type} takes {kind.describe_arity()}, got {n}")
        neuron = getattr(layer, "neuron", None)
        if neuron is not None and len(neuron.args) != len(NEURON_PARAMS[neuron.kind]):
            k = len(NEURON_PARAMS[neuron.kind])
            form = f"{neuron.kind}[" + ",".join(NEURON_PARAMS[neuron.kind]) + "]" if k else neuron.kind
            ctx.add(layer.where("neuron"), "neuron", layer,
                    f"neuron {neuron.kind} takes {k} parameter{'s' if k != 1 else ''}, got {len(neuron.args)}",
                    f"write neuron={form}")
        if layer.type in ("cost.logreg", "cost.crossent") and n == 2:
            labels, probs = (by_name.get(x) for x in layer.inputs)
            if labels is not None and labels.type != "data":
                ctx.add(ctx.input_span(layer, 0), "cost-inputs", layer,
                        f"the first input must be the labels data layer, not {labels.type} '{labels.name}'",
                        "write inputs=labels,probs")
            if probs is not None and layer.type == "cost.logreg" and probs.type != "softmax":
                ctx.add(ctx.input_span(layer, 1), "cost-inputs", layer,
                        f"the second input must be a softmax layer, not {probs.type} '{probs.name}'")
        for i, src in enumerate(getattr(layer, "weight_source", ())):
            _weight_source(ctx, layer, i, src, by_name)
        if not layer.type.startswith("cost.") and consumers.get(layer.name, 0) == 0:
            ctx.add(layer.span, "unused", layer, f"layer of type {layer.type} is unused: no layer reads it",
                    "every layer except a cost layer must feed another (cuda-convnet's rule)")


def _weight_source(ctx: _Ctx, layer: ir.Layer, i: int, src: str, by_name: dict[str, ir.Layer]) -> None:
    """`weightSource=name` or `name[k]`: another weight layer (input k) whose matrix this input shares."""
    if not src:
        return
    name, _, rest = src.partition("[")
    span = ctx.elem_span(layer, "weight_source", i, len(layer.weight_source))
    if rest and not (rest.endswith("]") and _INDEX.fullmatch(rest[:-1])):
        ctx.add(span, "weight-source", layer, f"weightSource entry {src!r} is not name or name[index]")
        return
    other = by_name.get(name)
    if name in ctx.failed:
        return  # its own problems are reported
    if other is None or other.type not in ir.WEIGHT_TYPES:
        what = "is not defined" if other is None else f"is a {other.type} layer, which has no weights"
        ctx.add(span, "weight-source", layer, f"weightSource layer {name!r} {what}")
    elif rest and int(rest[:-1]) >= len(other.inputs):  # at most 4 ASCII digits (_INDEX)
        ctx.add(span, "weight-source", layer,
                f"weightSource {src!r}: '{name}' has only {len(other.inputs)} input(s)")


def _place(ctx: _Ctx) -> dict[str, tuple[int, ...]]:
    """Logical GPUs per layer: its `gpu=`, else its first non-data input's, else (0,)."""
    gpus: dict[str, tuple[int, ...]] = {}
    by_name = {layer.name: layer for layer in ctx.spec.layers}
    for layer in ctx.spec.layers:
        if layer.type == "data":
            continue
        if layer.gpu:
            if any(g < 0 for g in layer.gpu):
                ctx.add(layer.where("gpu"), "gpu", layer, f"gpu indices must be 0 or more (got {list(layer.gpu)})")
            if len(set(layer.gpu)) < len(layer.gpu):
                ctx.add(layer.where("gpu"), "gpu", layer, "all replicas must run on different GPUs "
                        f"(gpu={','.join(map(str, layer.gpu))})")
            gpus[layer.name] = layer.gpu
        else:
            src = [x for x in layer.inputs if x in gpus and by_name[x].type != "data"]
            gpus[layer.name] = gpus[src[0]] if src else (0,)
        for x in layer.inputs:
            if x in gpus and by_name[x].type != "data" and len(gpus[x]) % len(gpus[layer.name]):
                ctx.add(layer.where("gpu"), "gpu", layer,
                        f"its {len(gpus[layer.name])} replicas do not divide the "
                        f"{len(gpus[x])} replicas of input '{x}'")
    used = sorted({g for gs in gpus.values() for g in gs if g >= 0})
    gap = next((k for k, g in enumerate(used) if g != k), None)  # no range(max gpu): gpu= may be huge
    if gap is not None:
        first = next(layer for layer in ctx.spec.layers if layer.gpu and max(layer.gpu) > gap)
        shown = used if len(used) <= 8 else used[:4] + ["..."] + used[-2:]
        ctx.add(first.where("gpu"), "gpu", first,
                f"gpu={max(first.gpu)} but no layer runs on logical GPU {gap}",
                f"logical GPUs are numbered from 0 without gaps; the spec uses {shown}")
    for layer in ctx.spec.layers:  # a data layer feeds every GPU that reads it
        if layer.type == "data":
            readers = sorted({g for other in ctx.spec.layers if layer.name in other.inputs
                              for g in gpus.get(other.name, ())})
            gpus[layer.name] = tuple(readers) or (0,)
    return gpus


def _data_shape(ctx: _Ctx, layer: ir.DataLayer, inner: int | None) -> Shape | None:
    channels = layer.channels
    if channels is None:  # the first reader that declares its input channels says it
        for other in ctx.spec.layers:
            if layer.name in other.inputs and hasattr(other, "channels") and other.channels is not None:
                c = other.channels
                channels = c[other.inputs.index(layer.name)] if isinstance(c, tuple) else c
                break
    if layer.data_idx == 1 or (layer.data_idx != 0 and channels is None):
        # labels; cuda-convnet2's other data layers are images when they (or a reader) say channels=
        return Shape(1)
    if layer.data_idx != 0:
        ctx.warnings.append(support.second_image(layer))
    if inner is None:
        ctx.add(layer.span, "input-size", layer, "the input image size is not known",
                "add innerSize=N to a section with type=net, or pass --inner-size N")
        return None
    if inner <= 0:
        ctx.add(layer.span, "input-size", layer, f"the input image size must be positive (got {inner})")
        return None
    return Shape(channels or 3, inner, inner)


def _problem_span(ctx: _Ctx, layer: ir.Layer, p: Problem) -> Span:
    if p.field is None:
        return layer.span
    value = getattr(layer, _attr(layer, p.field), None)
    n = len(value) if isinstance(value, tuple) else 0
    return ctx.elem_span(layer, p.field, p.index if n > 1 else None, n)


def _attr(layer: ir.Layer, key: str) -> str:
    for name, info in type(layer).model_fields.items():
        if key in (name, info.alias):
            return name
    return key


def _with_actual_channels(layer: ir.Layer, problems: list[Problem]) -> ir.Layer | None:
    """The layer with `channels=` set to what its inputs give, when that is all that is wrong."""
    if not all(p.code == "channels" and p.actual is not None for p in problems):
        return None
    channels = layer.channels
    if isinstance(channels, tuple):
        fixed = list(channels)
        for p in problems:
            fixed[p.index or 0] = p.actual
        return layer.model_copy(update={"channels": tuple(fixed)})
    return layer.model_copy(update={"channels": problems[0].actual})


def check(spec: ir.Spec, *, inner_size: int | None = None, sources: dict[str, str] | None = None,
          source_text: str = "", failed: dict[str, tuple[str, ...]] | None = None) -> Net:
    """Check a validated spec and derive placement and shapes.

    `inner_size` (the `--inner-size` option) overrides `[net] innerSize`. Raises SpecError with
    every problem found. `failed` names the layers that did not validate (with the inputs their
    sections write): they are not reported again, and the layers that read them are not checked
    beyond their references.
    """
    ctx = _Ctx(spec, sources or {}, failed or {})
    _references(ctx)
    if ctx.diags:
        raise SpecError(ctx.diags, ctx.sources)
    _structure(ctx)
    gpus = _place(ctx)
    inner = inner_size if inner_size is not None else spec.settings.inner_size
    shapes: dict[str, Shape] = {}
    nodes: list[Node] = []
    for layer in spec.layers:
        if layer.type == "data":
            out = _data_shape(ctx, layer, inner)
            if out is not None:
                shapes[layer.name] = out
                nodes.append(Node(layer, gpus[layer.name], (), out, 0, 0))
            continue
        if not all(x in shapes for x in layer.inputs) or not layer.inputs:
            continue  # an input already failed (reported there) or the arity is wrong (reported)
        ins = tuple(shapes[x] for x in layer.inputs)
        problems: list[Problem] = []
        res = infer(layer, ins, problems)
        for p in problems:
            ctx.add(_problem_span(ctx, layer, p), p.code, layer, p.message, p.hint)
        if problems:
            fixed = _with_actual_channels(layer, problems)
            if fixed is not None:  # a channels= mismatch only: go on with the channels the input gives,
                res = infer(fixed, ins, [])  # so the layers below are checked in the same run
                if res is not None:
                    shapes[layer.name] = res.output
            continue
        if res is None:
            continue
        shapes[layer.name] = res.output
        nodes.append(Node(layer, gpus[layer.name], ins, res.output, res.params, res.macs))
        refused = support.refusal(layer, at_check=True)  # what the compiler will refuse (torch-free)
        if refused is not None:
            ctx.diags.append(refused)
    labels = {x.name for x in spec.layers if x.type == "data" and x.data_idx != 0
              and x.name in shapes and not shapes[x.name].is_image}
    ctx.warnings += support.net_refusals(spec.layers, labels)
    if ctx.diags:
        raise SpecError(ctx.diags + ctx.warnings, ctx.sources)
    return Net(spec, tuple(nodes), source_text, warnings=tuple(ctx.warnings))
