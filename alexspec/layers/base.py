"""The value types and key groups every layer family builds its IR model from.

Attribute names are snake_case; each field's alias is the key as cuda-convnet spells it
(`filterSize`, `epsW`, ...). Per-input keys are tuples with one entry per input. Every layer keeps
`span` (its section header) and `spans` (field name -> span of the value). Nothing here imports
torch.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from alexspec.errors import Span

# A float that must be a number: NaN and infinity are refused with a located error.
Finite = Annotated[float, Field(allow_inf_nan=False)]


# defer_build: a model's validator is built when it first validates, so a spec builds only the
# models of the types it uses (building all twenty at import was most of `check`'s start-up).
class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class _Part(BaseModel):
    """A group of keys mixed into layer models (deferred as they are)."""

    model_config = ConfigDict(defer_build=True)


# cuda-convnet's neurons and the names of their parameters (NeuronParser in layer.py of
# cuda-convnet and cuda-convnet2): `tanh[a,b]` is a*tanh(b*x). The one table: the IR's `kind`,
# check's parameter count and the compiler's activations all read it.
NEURON_PARAMS: dict[str, tuple[str, ...]] = {
    "ident": (), "relu": (), "logistic": (), "tanh": ("a", "b"), "abs": (), "square": (), "sqrt": (),
    "linear": ("a", "b"), "brelu": ("a",), "softrelu": (), "abstanh": ("a", "b"), "nrelu": (),
    "log": ("a",), "drelu": ("a",),
}


class Neuron(Frozen):
    """An elementwise activation: `neuron=relu`, `neuron=tanh[1.7159,0.6666]`."""

    kind: Literal[tuple(NEURON_PARAMS)]  # type: ignore[valid-type]
    args: tuple[Finite, ...] = ()

    def __str__(self) -> str:
        return self.kind + (f"[{','.join(f'{a:g}' for a in self.args)}]" if self.args else "")


class Schedule(Frozen):
    """A learning-rate schedule over training progress p in [0, 1] (cuda-convnet2 `lr.cu`).

    const: base. linear: base*(1-p) + base/tgt*p. exp: base*(1/tgt)^p.
    dexp: `num_steps` piecewise-constant levels from base down to base/tgt.
    plateau (extension): base / factor^k, where k counts the times the validation error stopped
    improving, at most `max_drops` (the paper's policy).
    """

    kind: Literal["const", "linear", "exp", "dexp", "plateau"] = "const"
    base: Finite
    tgt_factor: float = Field(1.0, alias="tgtFactor", gt=0, allow_inf_nan=False)
    num_steps: int = Field(1, alias="numSteps", ge=1)
    factor: float = Field(10.0, gt=0, allow_inf_nan=False)
    max_drops: int = Field(3, alias="maxDrops", ge=0)

    def at(self, progress: float, drops: int = 0) -> float:
        """The rate at training progress `progress` in [0, 1], after `drops` plateau drops."""
        p = min(max(progress, 0.0), 1.0)
        if self.kind == "const":
            return self.base
        if self.kind == "linear":
            return self.base * (1 - p) + self.base / self.tgt_factor * p
        if self.kind == "exp":
            return self.base * (1.0 / self.tgt_factor) ** p
        if self.kind == "dexp":
            step = min(int(p * self.num_steps), self.num_steps - 1)
            ratio = (1.0 / self.tgt_factor) ** (1.0 / max(self.num_steps - 1, 1))
            return self.base * ratio**step
        return self.base / self.factor ** min(drops, self.max_drops)

    def __str__(self) -> str:
        if self.kind == "const":
            return f"{self.base:g}"
        keys = {"linear": ("tgtFactor",), "exp": ("tgtFactor",), "dexp": ("tgtFactor", "numSteps"),
                "plateau": ("factor", "maxDrops")}[self.kind]
        vals = {"tgtFactor": self.tgt_factor, "numSteps": self.num_steps, "factor": self.factor,
                "maxDrops": self.max_drops}
        return f"{self.kind}[base={self.base:g};" + ";".join(f"{k}={vals[k]:g}" for k in keys) + "]"


PerInput = tuple  # documentation alias: a tuple with one entry per input

# --------------------------------------------------------------------------- layers


class Layer(Frozen):
    """Keys every layer has. `gpu` is a tuple of logical GPU indices; () means inherit."""

    name: str
    type: str
    inputs: tuple[str, ...] = ()
    gpu: tuple[int, ...] = ()
    span: Span = Field(exclude=True)
    spans: dict[str, Span] = Field(default_factory=dict, exclude=True, repr=False)

    def where(self, field: str) -> Span:
        """The span of a field's value, or of the section header when the field was not written."""
        return self.spans.get(field, self.span)

    def same_as(self, other: "Layer") -> bool:
        """Equal in meaning, ignoring where in which file each value was written."""
        return self.model_dump() == other.model_dump()


class NeuronMixin(_Part):
    neuron: Neuron | None = None


class WeightParams(_Part):
    """Learning parameters of a weight layer (layer params file, cuda-convnet semantics)."""

    eps_w: tuple[Schedule, ...] = Field((), alias="epsW")
    eps_b: Schedule | None = Field(None, alias="epsB")
    mom_w: tuple[Finite, ...] = Field((), alias="momW")
    mom_b: Finite | None = Field(None, alias="momB")
    wc: tuple[Finite, ...] = ()
    wball: tuple[Finite, ...] = ()
    update_period: int = Field(0, alias="updatePeriod", ge=0)
    super_eps: Finite | None = Field(None, alias="superEps")
    super_mom: Finite | None = Field(None, alias="superMom")
    wc_norm_max: tuple[Finite, ...] = Field((), alias="wcNormMax")
    wc_norm_min: tuple[Finite, ...] = Field((), alias="wcNormMin")


class CodeHooks(_Part):
    """`module.fn(args)` keys that run Python: refused unless the user opts in."""

    init_w_func: str | None = Field(None, alias="initWFunc")
    init_b_func: str | None = Field(None, alias="initBFunc")
    init_c_func: str | None = Field(None, alias="initCFunc")
    weight_source: tuple[str, ...] = Field((), alias="weightSource")


class NormParams(_Part):
    """Response/contrast normalisation constants (params file). As in cuda-convnet, `scale` is
    divided by `size` (cmrnorm) or `size**2` (rnorm, cnorm); `minDiv` is the additive k."""

    scale: Finite | None = None
    pow: Finite | None = None
    min_div: Finite = Field(1.0, alias="minDiv")


# The keys cuda-convnet read from the layer params file (`add_params` in layer.py of cuda-convnet
# and cuda-convnet2), by attribute name. A family lists the groups its types take; every other key
# of a layer belongs in the definition file, and is architecture (Net.architecture_hash).
WEIGHT_PARAMS_KEYS = frozenset(WeightParams.model_fields)
NORM_PARAMS_KEYS = frozenset({"scale", "pow", "min_div"})
# Initialisation matters only before the first step: not architecture, but a definition-file key.
INIT_KEYS = frozenset({"init_w", "init_b", "init_w_func", "init_b_func", "init_c_func"})
