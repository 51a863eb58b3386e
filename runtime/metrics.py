"""The metrics of a run: typed records, kept in memory (they go into every checkpoint) and
appended to `metrics.jsonl` (JSON lines); the cost plot (PNG, like cuda-convnet's --show-cost).
"""

from __future__ import annotations

import errno
import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from alexspec.errors import RunError


@dataclass(frozen=True)
class TrainRecord:
    """Averages over the training steps since the previous train record."""

    kind: ClassVar[str] = "train"
    step: int
    epoch: float
    loss: float
    top1: float
    top5: float
    images: int
    lr: float


@dataclass(frozen=True)
class TestRecord:
    """One validation pass."""

    kind: ClassVar[str] = "test"
    step: int
    epoch: float
    loss: float
    top1: float
    top5: float
    images: int
    views: int
    lr_drops: int


Record = TrainRecord | TestRecord
_KINDS: dict[str, type] = {"train": TrainRecord, "test": TestRecord}


def to_dict(r: Record) -> dict[str, Any]:
    """A record as one JSON object (with its `kind`)."""
    return {"kind": r.kind, **asdict(r)}


def from_dict(d: Any) -> Record:
    """The inverse of `to_dict`; ValueError naming what is wrong."""
    if not isinstance(d, dict) or d.get("kind") not in _KINDS:
        raise ValueError(f"not a metrics record: {str(d)[:80]}")
    cls = _KINDS[d["kind"]]
    names = [f.name for f in fields(cls)]
    missing = [n for n in names if n not in d]
    if missing:
        raise ValueError(f"a {d['kind']} record without {', '.join(missing)}")
    values = {}
    for f in fields(cls):
        v = d[f.name]
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ValueError(f"field {f.name} of a {d['kind']} record is {type(v).__name__}")
        values[f.name] = int(v) if f.type == "int" else float(v)
    return cls(**values)


def _why(e: OSError) -> str:
    return "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e)).lower()


class MetricsLog:
    """Typed records in memory, each appended to `path` as it is added (None: memory only)."""

    def __init__(self, path: Path | None, history: list[Record] | None = None):
        self.path = path
        self.records: list[Record] = list(history or [])
        if path is not None:
            # Rewrite from the history (a resumed run drops records after its checkpoint),
            # atomically: a full disk leaves the old file.
            tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text("".join(json.dumps(to_dict(r)) + "\n" for r in self.records))
                os.replace(tmp, path)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise RunError(f"cannot write the metrics: {_why(e)}", where=str(path)) from None

    def add(self, record: Record) -> None:
        """Keep `record` and append it to the file. A failed write (a full disk) is a RunError;
        the checkpoints written so far are untouched."""
        self.records.append(record)
        if self.path is None:
            return
        try:
            with self.path.open("a") as f:
                f.write(json.dumps(to_dict(record)) + "\n")
        except OSError as e:
            raise RunError(f"cannot write the metrics: {_why(e)}", where=str(self.path),
                           hint="free some space and resume from the last checkpoint") from None

    def as_dicts(self) -> list[dict[str, Any]]:
        """The records as plain data (what a checkpoint stores)."""
        return [to_dict(r) for r in self.records]


MAX_METRICS_BYTES = 512 * 2**20  # a metrics file larger than this is not one a run wrote


def read_metrics(path: Path) -> list[Record]:
    """The records of a `metrics.jsonl` (a run directory or the file); RunError when it is
    missing or holds no record. A damaged line (a run killed mid-write) is passed over."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    try:
        if path.stat().st_size > MAX_METRICS_BYTES:
            raise RunError(f"larger than {MAX_METRICS_BYTES >> 20} MiB: not a metrics file", where=str(path))
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise RunError(f"cannot read the metrics: {(e.strerror or str(e)).lower()}", where=str(path),
                       hint="pass a run directory (it holds metrics.jsonl)") from None
    out = []
    for line in lines:
        try:
            out.append(from_dict(json.loads(line)))
        except ValueError:
            continue
    if not out:
        raise RunError("no metrics records in this file", where=str(path))
    return out


def plot_costs(records: list[Record], out: Path, title: str = "") -> Path | None:
    """Training and validation log-prob and top-1 error (the cost alone for a cost without
    classes) against steps, as a PNG (written to a
    temporary file, then renamed: a reader never sees half a picture). None when there is
    nothing to draw."""
    train = [r for r in records if isinstance(r, TrainRecord)]
    test = [r for r in records if isinstance(r, TestRecord) and math.isfinite(r.loss)]
    if not train and not test:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # A cost without classes (cost.sum2) records NaN error rates: only its value is drawn.
    classifies = any(not math.isnan(r.top1) for r in train + test)
    fig, axes = plt.subplots(1, 2 if classifies else 1, figsize=(10 if classifies else 5, 4), squeeze=False)
    ax1 = axes[0][0]
    for rs, label, style in ((train, "train", "-"), (test, "validation", "o-")):
        if rs:
            ax1.plot([r.step for r in rs], [r.loss for r in rs], style, label=label, markersize=3)
            if classifies:
                axes[0][1].plot([r.step for r in rs], [100 * r.top1 for r in rs], style, label=label,
                                markersize=3)
    ax1.set(xlabel="step", ylabel="logprob (cost)" if classifies else "cost", title="cost")
    if classifies:
        axes[0][1].set(xlabel="step", ylabel="top-1 error (%)", title="top-1 error")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out


def show_cost(run: Path, out: Path | None = None) -> str:
    """`alexspec show RUN --cost`: draw the cost plot of a run directory (or of the directory of
    one of its checkpoints) from its metrics.jsonl; the line to print."""
    run = Path(run)
    folder = run if run.is_dir() else run.parent
    records = read_metrics(folder)
    out = out or Path(f"{folder.resolve().name}-cost.png")
    try:
        plot_costs(records, out, str(folder))
    except OSError as e:
        raise RunError(f"cannot write the picture: {(e.strerror or str(e)).lower()}", where=str(out)) from None
    n_test = sum(isinstance(r, TestRecord) for r in records)
    return f"wrote {out}: {len(records) - n_test} training and {n_test} validation records of {folder}"
