"""alexspec: cuda-convnet-style layer specs, lowered to PyTorch over two GPUs, trained as AlexNet was.

Public API:
    alexspec.load(path, params=None) -> Net              read, parse, validate and check a spec
    alexspec.compiler.build(net, devices=...)            a torch module placed on devices
    alexspec.runtime.session.run(RunOptions, reporter)   train or resume, as `alexspec run` does

Importing this package does not import torch.
"""

from alexspec.errors import AlexspecError, Diagnostic, RunError, Span, SpecError
from alexspec.net import Edge, Net, Node, Shape
from alexspec.pipeline import load

__all__ = [
    "AlexspecError", "Diagnostic", "Edge", "Net", "Node", "RunError", "Shape", "Span", "SpecError",
    "load",
]
