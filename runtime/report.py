"""How the runtime tells the user what happens: a `Reporter` the CLI hands in (the runtime never
prints). `alexspec.console.RunReporter` draws rich progress bars; `NullReporter` is silent."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


def error_rate(hits: int, images: int, classifies: bool = True) -> float:
    """1 - hits / images; NaN for a cost without classes (`Cost.classifies` False: cost.sum2),
    whose hit counts are 0 and mean nothing."""
    return 1 - hits / images if classifies else math.nan


@dataclass(frozen=True)
class StepInfo:
    """One training step: `images` in this step, `loss`/`top1`/`top5` are this step's values.
    `top1`/`top5` are NaN when the cost has no classes (`classifies`): `loss` is then the cost."""

    step: int  # 1-based count of steps done
    total: int
    epoch: int  # 1-based
    loss: float
    top1: float  # error rates in [0, 1]
    top5: float
    lr: float
    images: int
    images_per_s: float
    seconds_left: float

    @property
    def classifies(self) -> bool:
        """Whether the error rates mean anything (False for cost.sum2)."""
        return not math.isnan(self.top1)


@dataclass(frozen=True)
class TestInfo:
    """One validation pass (`top1`/`top5` NaN when the cost has no classes, as in StepInfo)."""

    step: int
    epoch: float  # epochs done
    loss: float
    top1: float
    top5: float
    images: int
    views: int
    dropped_lr: bool = False

    @property
    def classifies(self) -> bool:
        """Whether the error rates mean anything (False for cost.sum2)."""
        return not math.isnan(self.top1)


class Reporter(Protocol):
    def info(self, text: str) -> None:
        """A line of information (what data, devices and sizes a run uses)."""

    def warn(self, text: str) -> None:
        """Something went wrong but the run goes on (a skipped image, a skipped checkpoint)."""

    def start(self, total_steps: int, done: int) -> None:
        """Training starts (or resumes after `done` steps)."""

    def step(self, info: StepInfo) -> None:
        """A step is done (after the update)."""

    def testing(self, total_images: int) -> None:
        """A validation pass starts."""

    def test_progress(self, images_done: int) -> None:
        """Images validated so far in the current pass."""

    def test(self, info: TestInfo) -> None:
        """A validation pass is done."""

    def saved(self, path: str) -> None:
        """A checkpoint was written."""

    def finish(self) -> None:
        """Training ended (normally or not): close progress bars."""


class NullReporter:
    """Reports nothing; collects warnings (for tests and library use)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.steps: list[StepInfo] = []
        self.tests: list[TestInfo] = []

    def info(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def start(self, total_steps: int, done: int) -> None:
        pass

    def step(self, info: StepInfo) -> None:
        self.steps.append(info)

    def testing(self, total_images: int) -> None:
        pass

    def test_progress(self, images_done: int) -> None:
        pass

    def test(self, info: TestInfo) -> None:
        self.tests.append(info)

    def saved(self, path: str) -> None:
        pass

    def finish(self) -> None:
        pass
