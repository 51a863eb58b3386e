"""The only way a tensor crosses logical GPUs: `transfer`, and `feed` for data.

Fast path: `x.to(device)` (autograd moves the gradient back). When a `TransferLog` is active or a
`LogicalDeviceChecker` is installed, the instrumented path runs instead: an autograd.Function that
records every move, forward and backward, with its direction, layer tag and bytes. On the CPU
`x.to("cpu")` is `x` itself, so counting `.to()` calls proves nothing there; the log does.
Keep the instrumented path out of torch.compile (it graph-breaks by design).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class TransferEvent:
    direction: str  # "fwd" or "bwd"
    src: int  # logical GPU the bytes leave
    dst: int  # logical GPU the bytes arrive on
    tag: str  # the consuming layer and its input, e.g. "conv3a<-pool2b"
    bytes: int


@dataclass
class TransferLog:
    """`with TransferLog() as log:` records every cross-GPU move made inside the block."""

    events: list[TransferEvent] = field(default_factory=list)

    def count(self, direction: str | None = None) -> int:
        return sum(direction is None or e.direction == direction for e in self.events)

    def bytes(self, direction: str | None = None) -> int:
        return sum(e.bytes for e in self.events if direction is None or e.direction == direction)

    def __enter__(self) -> "TransferLog":
        _ACTIVE_LOGS.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE_LOGS.remove(self)


_ACTIVE_LOGS: list[TransferLog] = []
# The installed logical-device checker (checker.py), if any: re-tags moved tensors.
CHECKER = None


def set_checker(checker) -> None:
    """Install (or with None remove) the logical-device checker that re-tags moved tensors."""
    global CHECKER
    CHECKER = checker


def _record(direction: str, src: int, dst: int, tag: str, t: Tensor) -> None:
    ev = TransferEvent(direction, src, dst, tag, t.numel() * t.element_size())
    for log in _ACTIVE_LOGS:
        log.events.append(ev)


def _retag(t: Tensor, gpu: int) -> None:
    if CHECKER is not None:
        CHECKER.tag(t, gpu)


class _Transfer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, src: int, dst: int, device: torch.device, tag: str) -> Tensor:
        ctx.meta = (src, dst, x.device, tag)
        _record("fwd", src, dst, tag, x)
        y = x.to(device)
        # On the CPU .to() returns x itself; a view gives the moved tensor its own identity.
        return x.view_as(x) if y is x else y

    @staticmethod
    def backward(ctx, g: Tensor):
        src, dst, src_device, tag = ctx.meta
        _record("bwd", dst, src, tag, g)
        out = g.to(src_device)
        out = g.view_as(g) if out is g else out
        _retag(out, src)
        return out, None, None, None, None


def transfer(x: Tensor, src: int, dst: int, device: torch.device, tag: str = "") -> Tensor:
    """Move `x` from logical GPU `src` to logical GPU `dst` (physical `device`)."""
    if src == dst:
        return x
    if _ACTIVE_LOGS or CHECKER is not None:
        y = _Transfer.apply(x, src, dst, device, tag)
        _retag(y, dst)
        return y
    return x.to(device)


class _Feed(torch.autograd.Function):
    """Checker path of `feed`: its own tensor per logical GPU; the gradient goes back to the
    host copy (untagged), as `.to()` would move it on real devices."""

    @staticmethod
    def forward(ctx, x: Tensor, device: torch.device) -> Tensor:
        ctx.src_device = x.device
        y = x.to(device)
        return x.view_as(x) if y is x else y

    @staticmethod
    def backward(ctx, g: Tensor):
        out = g.to(ctx.src_device)
        out = g.view_as(g) if out is g else out
        if CHECKER is not None:
            CHECKER.untag(out)
        return out, None


def feed(x: Tensor, gpu: int, device: torch.device) -> Tensor:
    """Data for logical GPU `gpu`: copied there directly, never counted as a crossing."""
    if CHECKER is None:
        return x.to(device)
    y = _Feed.apply(x, device)
    _retag(y, gpu)
    return y
