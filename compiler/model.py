"""The compiled model: one module per layer on its device, run in plan order, with transfers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers import cost_for
from alexspec.compiler.layers.common import WeightLayer, pick
from alexspec.compiler.layers.cost import Cost
from alexspec.compiler.sharing import share_weights
from alexspec.compiler.plan import Plan, Source, Step
from alexspec.compiler.transfer import feed, transfer
from alexspec.errors import Diagnostic, RunError, SpecError
from alexspec.ir import Schedule
from alexspec.net import Net


@dataclass(frozen=True)
class ParamRule:
    """cuda-convnet's learning parameters of one parameter tensor."""

    param: nn.Parameter
    layer: str
    kind: str  # "weight" | "bias"
    eps: Schedule
    mom: float
    wc: float
    index: int = 0  # which input's weights
    period: int = 1  # updatePeriod: minibatches whose gradients one update averages


def module_key(name: str) -> str:
    """A ModuleDict key for a layer name ('.' is not allowed there)."""
    return name.replace(".", "_")


class CompiledNet(nn.Module):
    """`model(images) -> logits`, `model.cost(logits, labels)`, `model.learning_rules()`."""

    def __init__(self, net: Net, plan: Plan, devices: list[torch.device],
                 modules: dict[str, nn.Module], placement_summary: str = ""):
        super().__init__()
        self.net, self.plan, self.devices = net, plan, devices
        # weightSource: a layer's weight i becomes the source layer's Parameter (shared).
        self.shared = share_weights(net, modules)
        self.layers = nn.ModuleDict({module_key(k): m for k, m in modules.items()})
        self.placement_summary = placement_summary
        self._forward_steps = plan.needed_for({plan.logits})
        img = net[plan.images].output
        self.input_shape = (img.channels, img.height, img.width)
        self.num_classes = net[plan.logits].output.numel
        cost = net[plan.cost].layer if plan.cost else None
        self.cost_coeff = cost.coeff if cost else 1.0
        self.topk = cost.topk if cost else 1
        self._cost = cost_for(cost) if cost else None

    # ------------------------------------------------------------------ running

    def forward(self, images: Tensor) -> Tensor:
        return self._run(images, self._forward_steps)[self.plan.logits]

    def forward_layers(self, images: Tensor, names) -> dict[str, Tensor]:
        """Outputs of the named layers (the data layer's name gives the images)."""
        names = list(names)
        known = {s.name for s in self.plan.steps} | {self.plan.images}
        for n in names:
            if n not in known:
                raise RunError(f"no layer {n!r} computes an output here",
                               where=self.net.path, hint="layers: " + ", ".join(sorted(known)))
        env = self._run(images, self.plan.needed_for(set(names)))
        env[self.plan.images] = images
        return {n: env[n] for n in names}

    def _run(self, images: Tensor, steps: tuple[Step, ...]) -> dict[str, Tensor]:
        env: dict[str, Tensor] = {}
        fed: dict[int, Tensor] = {}
        for step in steps:
            xs = [self._source(step, src, env, fed, images) for src in step.sources]
            env[step.name] = self.layers[module_key(step.name)](*xs)
        return env

    def _source(self, step: Step, src: Source, env: dict[str, Tensor], fed: dict[int, Tensor],
                images: Tensor) -> Tensor:
        if src.is_data:
            if step.gpu not in fed:
                fed[step.gpu] = feed(images, step.gpu, self.devices[step.gpu])
            return fed[step.gpu]
        x = env[src.name]
        if src.transfer:
            return transfer(x, src.gpu, step.gpu, self.devices[step.gpu], f"{step.name}<-{src.name}")
        return x

    def cost(self, scores: Tensor, labels: Tensor) -> Cost:
        """The spec's cost layer on the model output (compiler/layers/cost.py), e.g. cost.logreg:
        coeff * mean(-log softmax(scores)[label]), plus top-1/top-k hits. Without a cost layer:
        cost.logreg with coeff 1."""
        if self._cost is None:
            labels = labels.to(scores.device).long()
            loss = F.cross_entropy(scores, labels)
            with torch.no_grad():
                k = min(self.topk, scores.shape[1])
                hit = scores.topk(k, dim=1).indices == labels[:, None]
                return Cost(loss, hit[:, 0].sum(), hit.any(1).sum(), k)
        return self._cost(scores, labels)

    # ------------------------------------------------------------------ parameters

    def weight_layers(self) -> list[tuple[str, WeightLayer]]:
        return [(s.name, m) for s in self.plan.steps
                if isinstance(m := self.layers[module_key(s.name)], WeightLayer)]

    def parameter_gpus(self):
        """(parameter, logical GPU) pairs, for the logical-device checker."""
        for step in self.plan.steps:
            for p in self.layers[module_key(step.name)].parameters():
                yield p, step.gpu

    def learning_rules(self) -> list[ParamRule]:
        """One rule per parameter tensor; a SpecError names every weight layer lacking them."""
        rules, diags = [], []
        for name, mod in self.weight_layers():
            layer = self.net[name].layer
            missing = [k for k, v in (("epsW", layer.eps_w), ("epsB", layer.eps_b),
                                      ("momW", layer.mom_w), ("momB", layer.mom_b), ("wc", layer.wc))
                       if v is None or v == ()]
            if missing:
                diags.append(Diagnostic(layer.span, "missing-params",
                                        f"layer {name!r}: learning parameters missing: "
                                        + ", ".join(missing),
                                        "add them to the layer params file (cuda-convnet requires "
                                        "epsW, epsB, momW, momB and wc on weight layers)"))
                continue
            period = max(layer.update_period, 1)
            for i, w in enumerate(mod.weights):
                if (name, i) in self.shared:
                    continue  # the source layer's rule updates it (cuda-convnet: only the owner)
                rules.append(ParamRule(w, name, "weight", pick(layer.eps_w, i, None),
                                       pick(layer.mom_w, i, 0.0), pick(layer.wc, i, 0.0), i,
                                       period))
            rules.append(ParamRule(mod.bias, name, "bias", layer.eps_b, layer.mom_b, 0.0, 0,
                                   period))
        if diags:
            raise SpecError(diags)
        return rules

    # ------------------------------------------------------------------ reading

    def program(self) -> str:
        """The forward pass as text: one line per layer, GPU columns, transfers marked."""
        lines = [f"CompiledNet: {len(self.plan.steps)} layers on "
                 + ", ".join(f"gpu{i}={d}" for i, d in enumerate(self.devices))
                 + f"; {len(self.plan.transfers)} cross-GPU transfers"]
        for s in self.plan.steps:
            ins = []
            for src in s.sources:
                if src.is_data:
                    ins.append(f"feed({src.name})")
                elif src.transfer:
                    ins.append(f"transfer({src.name}: gpu{src.gpu}->gpu{s.gpu})")
                elif src.gpu != s.gpu:
                    ins.append(f"{src.name}[gpu{src.gpu}!]")
                else:
                    ins.append(src.name)
            mod = self.layers[module_key(s.name)]
            desc = f"{type(mod).__name__}({mod.extra_repr()})"
            if getattr(mod, "neuron", None) is not None:
                desc += f" {mod.neuron.text}"
            indent = "    " + " " * 36 * s.gpu
            out = "   [model output]" if s.name == self.plan.logits else ""
            lines.append(f"{indent}gpu{s.gpu} {s.name} = {desc}  <- {', '.join(ins)}{out}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.program()
