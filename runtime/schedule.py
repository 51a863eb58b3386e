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

    A test improves when its top-1 error is below `best - threshold`. When `patience` epochs have
    passed since the last improvement (or the last drop), the drop count goes up by one (at most
    `max_drops`, the paper's three) and the clock starts again. Patience counts epochs, not tests,
    so a run that tests often cannot spend its drops in the first epochs.
    """

    max_drops: int = 3
    patience: float = 3.0  # epochs
    threshold: float = 0.0
    drops: int = 0
    best: float | None = None
    since: float = 0.0  # epochs done at the last improvement or drop

    def observe(self, val_error: float, epoch: float) -> bool:
        """Record one validation error at `epoch` (epochs done); True when this caused a drop."""
        if self.best is None or val_error < self.best - self.threshold:
            self.best, self.since = val_error, epoch
            return False
        if epoch - self.since >= self.patience - 1e-9 and self.drops < self.max_drops:
            self.drops += 1
            self.since = epoch
            return True
        return False

    def state(self) -> dict[str, object]:
        """Where the policy stands (its limits come from the settings and the spec)."""
        return {"drops": self.drops, "best": self.best, "since": float(self.since)}

    def restore(self, d: dict[str, object]) -> None:
        """Set the position `state` returned."""
        self.drops = int(d["drops"])  # type: ignore[arg-type]
        self.best = None if d["best"] is None else float(d["best"])  # type: ignore[arg-type]
        self.since = float(d["since"])  # type: ignore[arg-type]
