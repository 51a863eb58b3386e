"""The validated intermediate representation: one frozen pydantic model per layer type.

Attribute names are snake_case; each field's alias is the key as cuda-convnet spells it
(`filterSize`, `epsW`, ...). Keys are case-insensitive in files, so `validate` maps them to
aliases before pydantic sees them. Per-input keys (`channels`, `filterSize`, `initW`, `epsW`, ...)
are tuples with one entry per input, already broadcast from a single value.

Every layer keeps `span` (its section header) and `spans` (field name -> span of the value), so
any later stage can point at the exact text it is complaining about.

Nothing here imports torch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from alexspec.errors import Span

# --------------------------------------------------------------------------- values


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Neuron(Frozen):
    """An elementwise activation: `neuron=relu`, `neuron=tanh[1.7159,0.6666]`."""

    kind: Literal[
        "ident", "relu", "logistic", "tanh", "abs", "square", "sqrt", "linear", "brelu",
        "softrelu", "abstanh", "nrelu", "log", "drelu",
    ]
    args: tuple[float, ...] = ()

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
    base: float
    tgt_factor: float = Field(1.0, alias="tgtFactor", gt=0)
    num_steps: int = Field(1, alias="numSteps", ge=1)
    factor: float = Field(10.0, gt=0)
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


class NeuronMixin(BaseModel):
    neuron: Neuron | None = None


class WeightParams(BaseModel):
    """Learning parameters of a weight layer (layer params file, cuda-convnet semantics)."""

    eps_w: tuple[Schedule, ...] = Field((), alias="epsW")
    eps_b: Schedule | None = Field(None, alias="epsB")
    mom_w: tuple[float, ...] = Field((), alias="momW")
    mom_b: float | None = Field(None, alias="momB")
    wc: tuple[float, ...] = ()
    wball: tuple[float, ...] = ()
    update_period: int = Field(0, alias="updatePeriod", ge=0)
    super_eps: float | None = Field(None, alias="superEps")
    super_mom: float | None = Field(None, alias="superMom")
    wc_norm_max: tuple[float, ...] = Field((), alias="wcNormMax")
    wc_norm_min: tuple[float, ...] = Field((), alias="wcNormMin")


class CodeHooks(BaseModel):
    """`module.fn(args)` keys that run Python: refused unless the user opts in."""

    init_w_func: str | None = Field(None, alias="initWFunc")
    init_b_func: str | None = Field(None, alias="initBFunc")
    init_c_func: str | None = Field(None, alias="initCFunc")
    weight_source: tuple[str, ...] = Field((), alias="weightSource")


class DataLayer(Layer):
    type: Literal["data"]
    data_idx: int = Field(alias="dataIdx", ge=0)
    start: int = Field(0, ge=0)
    end: int | None = Field(None, ge=0)
    channels: int | None = Field(None, gt=0)  # extension: image channels (else from consumers, else 3)


class ConvLayer(Layer, NeuronMixin, WeightParams, CodeHooks):
    type: Literal["conv"]
    channels: tuple[int, ...]
    filters: tuple[int, ...]
    filter_size: tuple[int, ...] = Field(alias="filterSize")
    padding: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    init_w: tuple[float, ...] = Field((), alias="initW")
    init_b: float = Field(0.0, alias="initB")
    shared_biases: bool = Field(True, alias="sharedBiases")
    partial_sum: int | None = Field(None, alias="partialSum")
    sum_width: int | None = Field(None, alias="sumWidth")
    rand_sparse: tuple[bool, ...] = Field((), alias="randSparse")
    filter_channels: tuple[int, ...] = Field((), alias="filterChannels")
    modules_x: int = Field(0, alias="modulesX", ge=0)


class LocalLayer(Layer, NeuronMixin, WeightParams, CodeHooks):
    type: Literal["local"]
    channels: tuple[int, ...]
    filters: tuple[int, ...]
    filter_size: tuple[int, ...] = Field(alias="filterSize")
    padding: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    init_w: tuple[float, ...] = Field((), alias="initW")
    init_b: float = Field(0.0, alias="initB")
    rand_sparse: tuple[bool, ...] = Field((), alias="randSparse")
    filter_channels: tuple[int, ...] = Field((), alias="filterChannels")
    modules_x: int = Field(0, alias="modulesX", ge=0)


class FcLayer(Layer, NeuronMixin, WeightParams, CodeHooks):
    type: Literal["fc"]
    outputs: int = Field(gt=0)
    init_w: tuple[float, ...] = Field((), alias="initW")
    init_b: float = Field(0.0, alias="initB")


class SfcLayer(Layer, NeuronMixin, WeightParams, CodeHooks):
    type: Literal["sfc"]
    outputs: int = Field(gt=0)
    parts: int = Field(gt=0)
    init_w: tuple[float, ...] = Field((), alias="initW")
    init_b: float = Field(0.0, alias="initB")


class PoolLayer(Layer, NeuronMixin):
    type: Literal["pool"]
    pool: Literal["max", "avg", "maxabs"]
    size_x: int = Field(alias="sizeX", gt=0)
    stride: int = Field(gt=0)
    channels: int = Field(gt=0)
    start: int = 0
    outputs_x: int = Field(0, alias="outputsX", ge=0)
    sum: bool = False


class CrossMapPoolLayer(Layer, NeuronMixin):
    type: Literal["cmpool"]
    pool: Literal["max", "avg", "maxabs"] = "max"
    size: int = Field(gt=0)
    stride: int = Field(1, gt=0)
    start: int = 0
    outputs: int = Field(0, ge=0)
    channels: int = Field(gt=0)


class NormParams(BaseModel):
    """Response/contrast normalisation constants (params file). As in cuda-convnet, `scale` is
    divided by `size` (cmrnorm) or `size**2` (rnorm, cnorm); `minDiv` is the additive k."""

    scale: float | None = None
    pow: float | None = None
    min_div: float = Field(1.0, alias="minDiv")


class CrossMapNormLayer(Layer, NeuronMixin, NormParams):
    type: Literal["cmrnorm"]
    channels: int = Field(gt=0)
    size: int = Field(gt=0)
    blocked: bool = False


class ResponseNormLayer(Layer, NeuronMixin, NormParams):
    type: Literal["rnorm"]
    channels: int = Field(gt=0)
    size: int = Field(gt=0)
    blocked: bool = False


class ContrastNormLayer(Layer, NeuronMixin, NormParams):
    type: Literal["cnorm"]
    channels: int = Field(gt=0)
    size: int = Field(gt=0)


class NeuronLayer(Layer):
    type: Literal["neuron"]
    neuron: Neuron


class EltSumLayer(Layer, NeuronMixin):
    type: Literal["eltsum"]
    coeffs: tuple[float, ...] = ()


class EltMaxLayer(Layer, NeuronMixin):
    type: Literal["eltmax"]


class SoftmaxLayer(Layer):
    type: Literal["softmax"]


class ConcatLayer(Layer, NeuronMixin):
    type: Literal["concat", "pass"]


class SumLayer(Layer, NeuronMixin):
    type: Literal["sum"]
    stride: int = Field(1, gt=0)


class DropoutLayer(Layer):
    """`dropout` is inverted (x/keep at train time); `dropout2` scales by keep at test time."""

    type: Literal["dropout", "dropout2"]
    enable: bool = True
    keep: float = Field(0.5, gt=0, le=1)


class CostLayer(Layer):
    type: Literal["cost.logreg", "cost.sum2", "cost.crossent", "cost.bce", "cost.dce"]
    coeff: float = 1.0
    topk: int = Field(1, ge=1)


class ImageOpLayer(Layer):
    """cuda-convnet's data-manipulation layers (no gradient). Known, not lowered."""

    type: Literal["nailbed", "blur", "resize", "rgb2yuv", "rgb2lab", "rscale", "href", "crop"]
    channels: int | None = None
    stride: int | None = None
    filter_size: int | None = Field(None, alias="filterSize")
    stdev: float | None = None
    scale: float | None = None
    center: bool | None = None
    max_scale: float | None = Field(None, alias="maxScale")
    tgt_size: int | None = Field(None, alias="tgtSize")
    start_x: int | None = Field(None, alias="startX")
    start_y: int | None = Field(None, alias="startY")
    size_x: int | None = Field(None, alias="sizeX")


AnyLayer = Annotated[
    Union[
        DataLayer, ConvLayer, LocalLayer, FcLayer, SfcLayer, PoolLayer, CrossMapPoolLayer,
        CrossMapNormLayer, ResponseNormLayer, ContrastNormLayer, NeuronLayer, EltSumLayer,
        EltMaxLayer, SoftmaxLayer, ConcatLayer, SumLayer, DropoutLayer, CostLayer, ImageOpLayer,
    ],
    Field(discriminator="type"),
]

WEIGHT_TYPES = ("conv", "local", "fc", "sfc")

# --------------------------------------------------------------------------- run settings


# The `type=net` section: the one run-settings type (alexspec/settings.py).
from alexspec.settings import RunSettings  # noqa: E402


class Spec(Frozen):
    """A validated spec: layers in file order (after the compact-split expansion) and settings."""

    path: str
    layers: tuple[AnyLayer, ...]
    settings: RunSettings = RunSettings()
    settings_span: Span | None = Field(None, exclude=True)
