"""`build(net, devices)`: lower, make the modules, initialise from the spec, place them."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from alexspec.compiler.layers import module_for
from alexspec.compiler.model import CompiledNet
from alexspec.compiler.plan import Plan, lower
from alexspec.errors import RunError
from alexspec.net import Net

Devices = str | Sequence[str | int | torch.device]


def resolve_devices(devices: Devices, n: int) -> tuple[list[torch.device], str]:
    """One torch device per logical GPU, and a one-line description of the choice.

    "auto": n distinct CUDA devices if there are that many, else CUDA device 0 for every logical
    GPU if there is one, else the CPU. A list names one device per logical GPU; a single entry
    (e.g. "cpu", "0") serves every logical GPU. A comma string "0,1" / "cpu,cpu" is a list.
    """
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if isinstance(devices, str) and devices.strip().lower() == "auto":
        if count >= n:
            out = [torch.device(f"cuda:{i}") for i in range(n)]
            why = f"{count} CUDA device(s)"
        elif count >= 1:
            out = [torch.device("cuda:0")] * n
            why = f"only {count} CUDA device: logical GPUs share it"
        else:
            out = [torch.device("cpu")] * n
            why = "no CUDA device"
        return out, _summary(out, f"auto, {why}")
    items = devices.split(",") if isinstance(devices, str) else list(devices)
    out = [_device(d, count) for d in items]
    if len(out) == 1:
        out = out * n
    if len(out) < n:
        raise RunError(f"the spec uses {n} logical GPUs but {len(out)} devices were given "
                       f"({', '.join(map(str, out))})", where="--gpu",
                       hint="give one device per logical GPU, e.g. 0,1 or cpu,cpu")
    return out[:n], _summary(out[:n], "as given")


def _device(d: str | int | torch.device, count: int) -> torch.device:
    if isinstance(d, str):
        d = d.strip()
        d = int(d) if d.isdigit() else d
    try:
        dev = torch.device(f"cuda:{d}") if isinstance(d, int) else torch.device(d)
    except RuntimeError as e:
        raise RunError(f"not a device: {d!r} ({e})", where="--gpu") from None
    if dev.type == "cuda" and (dev.index or 0) >= count:
        raise RunError(f"device {dev} does not exist ({count} CUDA device(s) here)", where="--gpu",
                       hint="use --gpu cpu, or --gpu auto")
    return dev


def _summary(devs: list[torch.device], why: str) -> str:
    return "devices: " + ", ".join(f"gpu{i} -> {d}" for i, d in enumerate(devs)) + f" ({why})"


def init_weights(model: CompiledNet, seed: int) -> None:
    """initW Gaussian std per input, initB constant; one CPU generator in net order, so the same
    seed gives the same weights on any device list and in any dtype (drawn in float32)."""
    g = torch.Generator().manual_seed(seed)
    for name, mod in sorted(model.weight_layers(), key=lambda t: model.net.nodes.index(model.net[t[0]])):
        with torch.no_grad():
            for i, (w, std) in enumerate(zip(mod.weights, mod.init_w)):
                if (name, i) not in model.shared:  # weightSource: drawn once, by its owner
                    w.copy_(torch.randn(w.shape, generator=g) * std)
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
