"""The compiler: a checked Net -> a torch module placed over logical GPUs (docs/compiler.md).

    model = alexspec.compiler.build(alexspec.load("specs/alexnet.cfg"), devices=["cpu", "cpu"])
"""

from alexspec.compiler.build import build, init_weights, resolve_devices
from alexspec.compiler.model import CompiledNet, Cost, ParamRule
from alexspec.compiler.plan import Plan, Source, Step, lower
from alexspec.compiler.transfer import TransferEvent, TransferLog, feed, transfer

__all__ = [
    "CompiledNet", "Cost", "ParamRule", "Plan", "Source", "Step", "TransferEvent", "TransferLog",
    "build", "feed", "init_weights", "lower", "resolve_devices", "transfer",
]
