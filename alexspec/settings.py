"""The one type for a run's settings: what cuda-convnet kept on its command line.

A spec's `[net] type=net` section is read into `RunSettings` (its keys are the aliases, in
cuda-convnet's camelCase); a checkpoint stores the resolved settings of its run with `to_dict`
and reads them back with `from_dict`; the command line overrides fields by name. The runtime
resolves them once, in that order (spec, then checkpoint, then command line), with `resolve`.

Every numeric field is bounded (pydantic checks it), so a crafted checkpoint or spec cannot make
the runtime allocate terabytes: the bounds are checked before anything is allocated.

No torch here: `alexspec check` imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Upper bounds: far above any real run, far below what would exhaust memory.
MAX_SIDE = 4096  # imgSize / innerSize in pixels (AlexNet: 256 / 224)
MAX_MINI = 65_536
MAX_COUNT = 10**12  # steps, images
MAX_SEED = 2**32 - 1  # what numpy and torch both accept


class RunSettings(BaseModel):
    """The `[name] type=net` section (extension) and the resolved settings of a run.

    Command-line options override these (same names, `--kebab-case`); a checkpoint restores them.
    Names follow cuda-convnet's options.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    mini: int = Field(128, gt=0, le=MAX_MINI)
    epochs: float = Field(90, gt=0, le=1e6)
    test_freq: int = Field(0, alias="testFreq", ge=0, le=MAX_COUNT)  # batches between tests; 0 = per epoch
    inner_size: int | None = Field(None, alias="innerSize", gt=0, le=MAX_SIDE)  # crop fed to the net
    img_size: int | None = Field(None, alias="imgSize", gt=0, le=MAX_SIDE)  # working size of the crop
    color_noise: float = Field(0.1, alias="colorNoise", ge=0, le=100)  # std of PCA alpha
    flip: bool = True
    crop: bool = True  # random innerSize crops in training (False: the centre crop)
    mean: Literal["image", "channel", "none"] = "image"
    multiview_test: bool = Field(False, alias="multiviewTest")
    data_provider: str | None = Field(None, alias="dataProvider")
    data_path: str | None = Field(None, alias="dataPath")
    max_batches: int | None = Field(None, alias="maxBatches", gt=0, le=MAX_COUNT)
    train_subset: int | None = Field(None, alias="trainSubset", gt=0, le=MAX_COUNT)
    test_subset: int | None = Field(None, alias="testSubset", gt=0, le=MAX_COUNT)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    keep_checkpoints: int = Field(3, alias="keepCheckpoints", ge=1, le=10_000)
    log_every: int | None = Field(None, alias="logEvery", gt=0, le=MAX_COUNT)  # None: ~50 records a run
    # The paper's plateau policy: drop when the validation error has not improved by more than
    # `plateau_threshold` (top-1 error, absolute) for `plateau_patience` epochs.
    plateau_patience: float = Field(3.0, alias="plateauPatience", gt=0, le=1e6)
    plateau_threshold: float = Field(0.0, alias="plateauThreshold", ge=0, le=1)
    plateau_drops: int | None = Field(None, alias="plateauDrops", ge=0, le=1000)  # None: schedules' maxDrops

    def to_dict(self) -> dict[str, Any]:
        """Plain data (field names, not aliases), as a checkpoint stores it."""
        return self.model_dump(by_alias=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSettings":
        """The inverse of `to_dict`; unknown keys are refused, bounds checked (ValidationError)."""
        return cls.model_validate(dict(d))

    def updated(self, changes: Mapping[str, Any]) -> "RunSettings":
        """A copy with `changes` (field name -> value) applied and checked like any input."""
        return type(self).model_validate({**self.to_dict(), **changes})


# Fields that describe one invocation and are not restored from a checkpoint.
NOT_RESTORED = frozenset({"max_batches", "data_provider", "data_path"})


def field_names() -> tuple[str, ...]:
    """Every setting's field name."""
    return tuple(RunSettings.model_fields)


def option_name(field: str) -> str:
    """The command-line option of a field: `train_subset` -> `--train-subset`."""
    return "--" + field.replace("_", "-")


def check_value(field: str, value: Any) -> str | None:
    """Why `value` is not a valid `field`, in words, or None when it is."""
    try:
        RunSettings.model_validate({field: value})
    except ValidationError as e:
        return e.errors()[0]["msg"].lower()
    return None


@dataclass(frozen=True)
class Resolved:
    """The settings of a run and where they came from: the fields the checkpoint restored
    (differing from the spec) and those the command line overrode (with their old values)."""

    settings: RunSettings
    restored: tuple[str, ...]
    overridden: tuple[tuple[str, Any, Any], ...]  # (field, value before, value given)

    def describe_overrides(self) -> str:
        """`--mini 32 (checkpoint: 128), --epochs 10 (checkpoint: 3)`, or ''."""
        return ", ".join(f"{option_name(f)} {_show(new)} (was {_show(old)})" for f, old, new in self.overridden)


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return "none" if v is None else str(v)


def resolve(spec: RunSettings, checkpoint: RunSettings | None,
            command_line: Mapping[str, Any]) -> Resolved:
    """Spec, then checkpoint (every field but `NOT_RESTORED`), then the command line's non-None
    values. Raises ValidationError for a command-line value out of bounds."""
    s, restored = spec, []
    if checkpoint is not None:
        ck = checkpoint.to_dict()
        changes = {k: v for k, v in ck.items() if k not in NOT_RESTORED}
        restored = [k for k, v in changes.items() if getattr(spec, k) != v]
        s = s.updated(changes)
    given = {k: v for k, v in command_line.items() if v is not None}
    overridden = tuple((k, getattr(s, k), v) for k, v in given.items()
                       if checkpoint is not None and getattr(s, k) != v)
    return Resolved(s.updated(given), tuple(restored), overridden)
