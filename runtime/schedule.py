"""Training progress (what cuda-convnet2's schedules are a function of) and the paper's plateau policy.

cuda-convnet2 (`gpumodel.py` `get_progress`) passes `(batches done before this one) / (batches in
the whole run)` to its learning-rate schedules; here a batch is one minibatch, so the step with
0-based index k of a run of T steps trains at progress k / T.
"""

from __future__ import annotations

from dataclasses import dataclass


def progress(step: int, total_steps: int) -> float:
    """Progress in [0, 1] of the step with 0-based index `step` in a run of `total_steps`."""
    return min(1.0, max(0.0, step / max(total_steps, 1)))


@dataclass
class PlateauPolicy:
    """Divide the learning rate by the schedule's factor when the validation error stops improving.

    After each test, an error not lower than `best - min_delta` counts as a test without
    improvement; after `patience` such tests in a row the drop count goes up by one (at most
    `max_drops`, the paper's three) and the count of bad tests starts again.
    """

    max_drops: int = 3
    patience: int = 1
    min_delta: float = 0.0
    drops: int = 0
    best: float | None = None
    bad_tests: int = 0

    def observe(self, val_error: float) -> bool:
        """Record one validation error; True when this caused a drop."""
        if self.best is None or val_error < self.best - self.min_delta:
            self.best, self.bad_tests = val_error, 0
            return False
        self.bad_tests += 1
        if self.bad_tests >= self.patience and self.drops < self.max_drops:
            self.drops += 1
            self.bad_tests = 0
            return True
        return False

    def state(self) -> dict[str, object]:
        return {"drops": self.drops, "best": self.best, "bad_tests": self.bad_tests,
                "max_drops": self.max_drops, "patience": self.patience, "min_delta": self.min_delta}

    @classmethod
    def from_state(cls, d: dict[str, object]) -> "PlateauPolicy":
        return cls(max_drops=int(d["max_drops"]), patience=int(d["patience"]),  # type: ignore[arg-type]
                   min_delta=float(d["min_delta"]), drops=int(d["drops"]),  # type: ignore[arg-type]
                   best=None if d["best"] is None else float(d["best"]),  # type: ignore[arg-type]
                   bad_tests=int(d["bad_tests"]))  # type: ignore[arg-type]
