"""The validated intermediate representation: one frozen pydantic model per layer type.

Each model lives in its family file under `alexspec/layers/` with everything else about its
types (registered there); this module gathers them into the `AnyLayer` union and re-exports them,
the value types (`Neuron`, `Schedule`) and the `Spec`. Attribute names are snake_case; each
field's alias is the key as cuda-convnet spells it (`filterSize`, `epsW`, ...). Keys are
case-insensitive in files, so `validate` maps them to aliases before pydantic sees them. Per-input
keys are tuples with one entry per input, already broadcast from a single value.

Every layer keeps `span` (its section header) and `spans` (field name -> span of the value), so
any later stage can point at the exact text it is complaining about.

Nothing here imports torch.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from alexspec.errors import Span
from alexspec.layers import kinds, models
from alexspec.layers.base import (  # noqa: F401  (re-exported)
    NEURON_PARAMS, CodeHooks, Finite, Frozen, Layer, Neuron, NeuronMixin, NormParams, PerInput, Schedule,
    WeightParams,
)
from alexspec.layers.conv import ConvLayer, LocalLayer  # noqa: F401
from alexspec.layers.cost import CostLayer, SumOfSquaresCostLayer  # noqa: F401
from alexspec.layers.data import DataLayer  # noqa: F401
from alexspec.layers.fc import FcLayer, SfcLayer  # noqa: F401
from alexspec.layers.image import ImageOpLayer  # noqa: F401
from alexspec.layers.neuron import NeuronLayer  # noqa: F401
from alexspec.layers.norm import ContrastNormLayer, CrossMapNormLayer, ResponseNormLayer  # noqa: F401
from alexspec.layers.pool import CrossMapPoolLayer, PoolLayer  # noqa: F401
from alexspec.layers.simple import (  # noqa: F401
    ConcatLayer, DropoutLayer, EltMaxLayer, EltSumLayer, SoftmaxLayer, SumLayer,
)

# --------------------------------------------------------------------------- layers

AnyLayer = Annotated[Union[models()], Field(discriminator="type")]  # type: ignore[valid-type]

WEIGHT_TYPES = tuple(t for t, k in kinds().items() if k.weights)

# --------------------------------------------------------------------------- run settings


# The `type=net` section: the one run-settings type (alexspec/settings.py).
from alexspec.settings import RunSettings  # noqa: E402


class Spec(Frozen):
    """A validated spec: layers in file order (after the compact-split expansion) and settings."""

    path: str
    layers: tuple[AnyLayer, ...]
    settings: RunSettings = Field(default_factory=RunSettings)
    settings_span: Span | None = Field(None, exclude=True)
