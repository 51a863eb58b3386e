"""weightSource: a weight layer's input i uses another weight matrix (cuda-convnet's sharing).

`weightSource=layer[k]` (or `layer`, k = 0) makes this layer's weights for input i the very
Parameter of `layer`'s input k; empty entries keep their own weights. As in cuda-convnet2
(WeightLayerParser.parse, weights.cu): the source must be of the same type, on the same GPU, and
have the same matrix shape; gradients of every user add up in the one matrix, and only the owner's
learning rule (epsW, momW, wc) updates it. A layer may share its own earlier input (`me[0]`).
"""

from __future__ import annotations

from torch import nn

from alexspec.errors import Diagnostic, SpecError
from alexspec.net import Net


def parse_source(entry: str) -> tuple[str, int]:
    """`name[k]` -> (name, k); `name` -> (name, 0). The front end checked the form."""
    name, _, rest = entry.partition("[")
    return name.strip(), int(rest[:-1]) if rest else 0


def share_weights(net: Net, modules: dict[str, nn.Module]) -> set[tuple[str, int]]:
    """Tie the weightSource weights in `modules` (in place); the (layer, input) pairs now shared.

    Raises a located SpecError for a source of another type or GPU, or of another shape."""
    shared: set[tuple[str, int]] = set()
    diags = []
    for node in net:
        sources = getattr(node.layer, "weight_source", ())
        for i, entry in enumerate(sources):
            if not entry:
                continue
            src, k = parse_source(entry)
            span = node.layer.where("weight_source")
            other = net[src]
            why = None
            if other.type != node.type:
                why = f"is a {other.type} layer, this one is {node.type} (cuda-convnet requires the same type)"
            elif other.gpus != node.gpus:
                why = f"runs on GPU(s) {list(other.gpus)}, this layer on {list(node.gpus)}"
            elif src == node.name and k >= i:
                why = f"input {k} of this layer is not defined before input {i}"
            else:
                mine, theirs = modules[node.name].weights[i], modules[src].weights[k]
                if mine.shape != theirs.shape:
                    why = (f"has a {tuple(theirs.shape)} weight matrix, input {i} of this layer "
                           f"needs {tuple(mine.shape)}")
            if why:
                diags.append(Diagnostic(span, "weight-source",
                                        f"layer {node.name!r}: weightSource {entry!r}: {src!r} {why}"))
                continue
            modules[node.name].weights[i] = modules[src].weights[k]
            shared.add((node.name, i))
    if diags:
        raise SpecError(diags)
    return shared
