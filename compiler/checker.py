"""A logical-device checker: finds ops that mix two logical GPUs, as real cuda:0/cuda:1 would.

Every tensor carries the logical GPU it lives on (parameters by their layer, data by `feed`,
moved tensors by `transfer`); each aten op's outputs inherit their inputs' tag. An op whose inputs
carry two different tags is a violation: on a real GPU pair it would fail, so it means a crossing
without a transfer. Works on the CPU, where every logical GPU is the same device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakTensorKeyDictionary

from alexspec.compiler.transfer import set_checker


@dataclass(frozen=True)
class Violation:
    op: str
    gpus: tuple[int, ...]


class CrossDeviceOpError(RuntimeError):
    pass


@dataclass
class _State:
    tags: WeakTensorKeyDictionary = field(default_factory=WeakTensorKeyDictionary)


class LogicalDeviceChecker(TorchDispatchMode):
    """`with LogicalDeviceChecker(model) as chk: ...`; then `chk.violations`, `chk.ops`.

    `strict=True` raises CrossDeviceOpError at the first violation.
    """

    def __init__(self, model=None, strict: bool = False):
        super().__init__()
        self.strict = strict
        self.state = _State()
        self.violations: list[Violation] = []
        self.ops = 0
        if model is not None:
            for p, gpu in model.parameter_gpus():
                self.tag(p, gpu)

    def tag(self, t: torch.Tensor, gpu: int) -> None:
        self.state.tags[t] = gpu

    def untag(self, t: torch.Tensor) -> None:
        self.state.tags.pop(t, None)

    def __enter__(self):
        set_checker(self)
        return super().__enter__()

    def __exit__(self, *exc):
        set_checker(None)
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        gpus = {self.state.tags[t] for t in flat
                if isinstance(t, torch.Tensor) and t in self.state.tags}
        self.ops += 1
        if len(gpus) > 1:
            v = Violation(str(func), tuple(sorted(gpus)))
            self.violations.append(v)
            if self.strict:
                raise CrossDeviceOpError(f"cross-device op without transfer: {v.op} on {v.gpus}")
        out = func(*args, **kwargs)
        if len(gpus) >= 1:
            gpu = min(gpus)
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.tag(t, gpu)
        return out
