"""cuda-convnet's neuron (activation) functions, one small module for all of them.

Formulas (cuda-convnet `NeuronTypes`, cuda-convnet2 `layer.py`):
ident x; relu max(0,x); logistic 1/(1+e^-x); tanh[a,b] a*tanh(b*x); abs |x|;
linear[a,b] a*x+b; brelu[a] min(a, max(0,x)); softrelu log(1+e^x); square x^2; sqrt sqrt(x);
abstanh[a,b] a*|tanh(b*x)|; log[a] log(a+x); drelu[a] x - a*tanh(x/a);
nrelu: max(0,x) at test time and max(0, x + e), e ~ N(0,1), at train time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.ir import Neuron

# Parameter defaults when a spec writes the name without `[...]`.
_DEFAULT_ARGS: dict[str, tuple[float, ...]] = {
    "tanh": (1.0, 1.0), "linear": (1.0, 0.0), "brelu": (1.0,), "abstanh": (1.0, 1.0),
    "log": (0.0,), "drelu": (1.0,),
}


class Activation(nn.Module):
    """An elementwise cuda-convnet neuron. `inplace` lets relu overwrite a fresh layer output."""

    def __init__(self, neuron: Neuron, inplace: bool = False):
        super().__init__()
        self.kind = neuron.kind
        defaults = _DEFAULT_ARGS.get(self.kind, ())
        args = tuple(neuron.args) + defaults[len(neuron.args):]
        self.args = args
        self.inplace = inplace
        self.text = str(neuron)

    def forward(self, x: Tensor) -> Tensor:
        k, a = self.kind, self.args
        if k == "ident":
            return x
        if k == "relu":
            return torch.relu_(x) if self.inplace else torch.relu(x)
        if k == "logistic":
            return torch.sigmoid(x)
        if k == "tanh":
            return a[0] * torch.tanh(a[1] * x)
        if k == "abs":
            return x.abs()
        if k == "linear":
            return a[0] * x + a[1]
        if k == "brelu":
            return torch.clamp(x, min=0.0, max=a[0])
        if k == "softrelu":
            return F.softplus(x)
        if k == "square":
            return x * x
        if k == "sqrt":
            return torch.sqrt(x)
        if k == "abstanh":
            return a[0] * torch.tanh(abs(a[1]) * x).abs()
        if k == "log":
            return torch.log(a[0] + x)
        if k == "drelu":
            return x - a[0] * torch.tanh(x / a[0])
        if k == "nrelu":
            if self.training:
                return torch.relu(x + torch.randn_like(x))
            return torch.relu(x)
        raise ValueError(f"unknown neuron {k!r}")  # unreachable: the IR restricts `kind`

    def extra_repr(self) -> str:
        return self.text
