"""The metrics file of a run (JSON lines) and the cost plot (PNG, like cuda-convnet's --show-cost)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """Records kept in memory (they go into every checkpoint) and appended to `metrics.jsonl`.

    Each record has `kind` ("train" or "test"), `step`, `epoch` and the values: train records are
    averages over the steps since the previous record; test records are one validation pass.
    """

    def __init__(self, path: Path | None, history: list[dict[str, Any]] | None = None):
        self.path = path
        self.records: list[dict[str, Any]] = list(history or [])
        if path is not None:
            # Rewrite from the history: a resumed run drops records after its checkpoint.
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in self.records))

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def plot_costs(records: list[dict[str, Any]], out: Path, title: str = "") -> Path | None:
    """Training and validation log-prob and top-1 error against steps, as a PNG. None when there
    is nothing to draw."""
    train = [r for r in records if r["kind"] == "train"]
    test = [r for r in records if r["kind"] == "test"]
    if not train and not test:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for rs, label, style in ((train, "train", "-"), (test, "validation", "o-")):
        if rs:
            ax1.plot([r["step"] for r in rs], [r["loss"] for r in rs], style, label=label, markersize=3)
            ax2.plot([r["step"] for r in rs], [100 * r["top1"] for r in rs], style, label=label, markersize=3)
    ax1.set(xlabel="step", ylabel="logprob (cost)", title="cost")
    ax2.set(xlabel="step", ylabel="top-1 error (%)", title="top-1 error")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
