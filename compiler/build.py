"""`build(net, devices)`: lower, make the modules, initialise from the spec, place them."""

from __future__ import annotations

from collections.abc import Set

import torch

from alexspec.compiler.layers import module_for
from alexspec.compiler.layers.common import WeightLayer
from alexspec.compiler.model import CompiledNet
from alexspec.compiler.plan import Plan, lower
from alexspec.compiler.parallel.devices import Devices, resolve_devices
from alexspec.net import Net

# Device resolution lives in the parallelism package (one place for every process layout).
__all__ = ["Devices", "build", "init_layers", "init_weights", "resolve_devices"]


def init_weights(model: CompiledNet, seed: int) -> None:
    """initW Gaussian std per input, initB constant; one CPU generator in net order, so the same
    seed gives the same weights on any device list and in any dtype (drawn in float32)."""
    init_layers(model.weight_layers(), model.net, seed, shared=model.shared)


def init_layers(layers, net: Net, seed: int, *, shared: Set[tuple[str, int]] = frozenset()) -> None:
    """`init_weights` over (layer name, module) pairs in net order. A module on the meta device
    (a layer another process holds) still takes its draws, so every process's weights equal
    the single-process model's. `shared` (layer, input) weights are another layer's (weightSource)
    and take no draw."""
    g = torch.Generator().manual_seed(seed)
    weighted = [(n, m) for n, m in layers if isinstance(m, WeightLayer)]
    for name, mod in sorted(weighted, key=lambda t: net.nodes.index(net[t[0]])):
        with torch.no_grad():
            for i, (w, std) in enumerate(zip(mod.weights, mod.init_w)):
                if (name, i) in shared:  # weightSource: drawn once, by its owner
                    continue
                draw = torch.randn(w.shape, generator=g) * std
                if w.device.type != "meta":
                    w.copy_(draw)
            if mod.bias.device.type != "meta":
                mod.bias.fill_(mod.init_b)


def build(net: Net, devices: Devices = "auto", *, seed: int = 0, dtype: torch.dtype = torch.float32,
          init: bool = True, plan: Plan | None = None) -> CompiledNet:
    """Lower a checked Net to a model placed on `devices` (one per logical GPU).

    Raises SpecError (located) for layers the compiler cannot lower, RunError for bad devices.
    `init=False` leaves the weights uninitialised (to time the build alone); `plan` replaces
    the lowering (tests pass a deliberately broken one).
    """
    plan = plan or lower(net)
    devs, summary = resolve_devices(devices, plan.num_gpus)
    modules = {s.name: module_for(net[s.name]) for s in plan.steps}
    model = CompiledNet(net, plan, devs, modules, summary)
    if init:
        init_weights(model, seed)
    for s in plan.steps:
        modules[s.name].to(device=devs[s.gpu], dtype=dtype)
    return model
