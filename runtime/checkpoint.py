"""Checkpoints: atomic writes, the last N kept, safe loads, and the architecture check on resume.

A checkpoint is one `torch.save` file `ckpt-<step>.pt` of plain data only (tensors, numbers,
strings, lists, dicts), so it loads with `torch.load(weights_only=True)`:

    format, step, spec_text, spec_path, params_text, params_path, arch_hash, arch (one line per
    layer), model (state_dict), sgd (momentum), train (loop position, plateau state, counters,
    training-set size), rng (torch CPU, CUDA per device, augmentation and any other generator),
    stats (mean, PCA), data (which dataset), settings (the resolved run settings), history
    (metrics records)

`load_file` checks every field the runtime reads and returns a frozen `Checkpoint`; a missing or
malformed field is a RunError naming the file and the field.

It is written to `<name>.tmp-<pid>`, flushed and fsynced, then renamed over the final name (and the
directory fsynced), so a killed writer leaves either the old set of checkpoints or the new one.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from alexspec.errors import RunError
from alexspec.net import Net
from alexspec.runtime.augment import DataStats

FORMAT = 1
PATTERN = "ckpt-*.pt"
T = TypeVar("T")


class _Fields:
    """Reads the fields of one checkpoint's plain data, naming the file and the field when one
    is missing or of the wrong type."""

    def __init__(self, path: Path):
        self.path = path

    def get(self, d: Any, key: str, kind: type | tuple[type, ...], where: str = "",
            optional: bool = False) -> Any:
        name = f"{where}{key}"
        if not isinstance(d, dict):
            raise self.bad(f"'{where.rstrip('.')}' is not a mapping")
        if key not in d:
            if optional:
                return None
            raise self.bad(f"has no '{name}'")
        v = d[key]
        if optional and v is None:
            return None
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.bad(f"field '{name}' is {type(v).__name__}, expected {want}")
        return v

    def tensors(self, d: Any, key: str, where: str = "") -> Any:
        v = self.get(d, key, (dict, list), where)
        values = v.values() if isinstance(v, dict) else v
        if not all(isinstance(t, torch.Tensor) for t in values):
            raise self.bad(f"field '{where}{key}' holds something other than tensors")
        return v

    def bad(self, what: str) -> RunError:
        return RunError(f"the checkpoint {what}; it is damaged or was written by another version",
                        where=str(self.path), hint="use an earlier checkpoint, or start a new run")


@dataclass(frozen=True)
class Settings:
    """The resolved run settings a checkpoint was trained with (what `test`/`show` need)."""

    mini: int
    img_size: int
    inner_size: int
    flip: bool


@dataclass(frozen=True)
class TrainState:
    """The loop position and plateau state at the checkpoint's step boundary."""

    step: int
    epoch: int
    batch: int
    skipped_batches: int
    drops: int
    best: float | None
    bad_tests: int
    train_images: int | None  # images in the training split (None in older checkpoints)


@dataclass(frozen=True)
class DataInfo:
    """Which data the checkpoint trained on."""

    name: str
    location: str
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Checkpoint:
    """One loaded and checked checkpoint (see the module docstring for what it holds)."""

    path: Path
    step: int
    spec_text: str
    spec_path: str
    params_text: str | None
    params_path: str | None
    arch_hash: str
    arch: tuple[str, ...]
    model: dict[str, torch.Tensor]
    sgd: dict[str, Any]
    train: TrainState
    rng: dict[str, Any]
    stats: DataStats
    data: DataInfo
    settings: Settings
    history: tuple[dict[str, Any], ...]
    rng_ranks: tuple[dict[str, Any], ...] = ()  # every torchrun process's `rng`, rank order

    @classmethod
    def from_dict(cls, c: dict[str, Any], path: Path) -> "Checkpoint":
        """Check and convert what `read` loaded; RunError naming the first bad field."""
        f = _Fields(path)
        t = f.get(c, "train", dict)
        plateau = f.get(t, "plateau", dict, "train.")
        s = f.get(c, "settings", dict)
        d = f.get(c, "data", dict)
        stats = f.get(c, "stats", dict)
        sgd = f.get(c, "sgd", dict)
        f.tensors(sgd, "velocity", "sgd.")
        rng = f.get(c, "rng", dict)
        f.get(rng, "torch", torch.Tensor, "rng.")
        f.tensors(rng, "gens", "rng.")
        rng_ranks = f.get(c, "rng_ranks", list, optional=True) or []
        for i, r in enumerate(rng_ranks):
            f.get(r, "torch", torch.Tensor, f"rng_ranks.{i}.")
            f.tensors(r, "gens", f"rng_ranks.{i}.")
        history = f.get(c, "history", list)
        if not all(isinstance(r, dict) for r in history):
            raise f.bad("field 'history' holds something other than records")
        arch = f.get(c, "arch", list)
        return cls(
            path=path, step=f.get(c, "step", int),
            spec_text=f.get(c, "spec_text", str), spec_path=f.get(c, "spec_path", str),
            params_text=f.get(c, "params_text", str, optional=True),
            params_path=f.get(c, "params_path", str, optional=True),
            arch_hash=f.get(c, "arch_hash", str), arch=tuple(str(a) for a in arch),
            model=f.tensors(c, "model"), sgd=sgd,
            train=TrainState(
                f.get(t, "step", int, "train."), f.get(t, "epoch", int, "train."),
                f.get(t, "batch", int, "train."), f.get(t, "skipped_batches", int, "train."),
                f.get(plateau, "drops", int, "train.plateau."),
                f.get(plateau, "best", float, "train.plateau.", optional=True),
                f.get(plateau, "bad_tests", int, "train.plateau."),
                f.get(t, "train_images", int, "train.", optional=True)),
            rng=rng,
            stats=DataStats(f.get(stats, "mean", torch.Tensor, "stats."),
                            f.get(stats, "eigvec", torch.Tensor, "stats."),
                            f.get(stats, "eigval", torch.Tensor, "stats.")),
            data=DataInfo(f.get(d, "name", str, "data."), f.get(d, "location", str, "data."),
                          tuple(f.get(d, "classes", list, "data."))),
            settings=Settings(f.get(s, "mini", int, "settings."), f.get(s, "img_size", int, "settings."),
                              f.get(s, "inner_size", int, "settings."), f.get(s, "flip", bool, "settings.")),
            history=tuple(history), rng_ranks=tuple(rng_ranks))


def arch_lines(net: Net) -> list[str]:
    """One line per layer with what `Net.architecture_hash` covers, to name what changed."""
    return [n.architecture for n in net.nodes]


def arch_diff(saved: list[str], now: list[str]) -> list[str]:
    """Human-readable differences between two `arch_lines` lists."""
    a = {s.split(":", 1)[0]: s for s in saved}
    b = {s.split(":", 1)[0]: s for s in now}
    out = [f"layer {k} removed" for k in a if k not in b]
    out += [f"layer {k} added" for k in b if k not in a]
    out += [f"{a[k]}  ->  {b[k].split(': ', 1)[1]}" for k in a if k in b and a[k] != b[k]]
    return out


def check_architecture(ckpt: Checkpoint, net: Net, where: str) -> None:
    """Refuse to resume a checkpoint into a net whose architecture differs, naming the changes."""
    if ckpt.arch_hash == net.architecture_hash:
        return
    diff = arch_diff(list(ckpt.arch), arch_lines(net)) or ["(layer order or connections)"]
    raise RunError("the spec's architecture differs from the checkpoint's:\n    " + "\n    ".join(diff),
                   where=where, hint="resume with the spec the checkpoint was trained with, or start "
                   "a new run (learning parameters may change; the architecture may not)")


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: dict[str, Any], path: Path) -> None:
    """`torch.save` to a temporary file, fsync, rename over `path`, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as a RuntimeError
        raise RunError(f"cannot write checkpoint: {e}", where=str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; a leftover of a failed write
    _fsync_dir(path.parent)


def checkpoint_name(step: int) -> str:
    """The file name of the checkpoint of `step` (zero-padded, so names sort by step)."""
    return f"ckpt-{step:08d}.pt"


def checkpoint_step(path: Path) -> int | None:
    """The step in a `ckpt-<step>.pt` name, or None for another name."""
    try:
        return int(Path(path).stem.split("-", 1)[1])
    except (IndexError, ValueError):
        return None


def list_checkpoints(directory: Path) -> list[Path]:
    """Finished checkpoints in `directory`, oldest first (temporary files are not listed)."""
    return sorted(p for p in Path(directory).glob(PATTERN) if p.is_file())


def save(obj: dict[str, Any], directory: Path, step: int, keep: int) -> Path:
    """Write checkpoint `step` atomically into `directory`, then delete all but the newest `keep`."""
    path = Path(directory) / checkpoint_name(step)
    atomic_save(obj, path)
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _damaged(path: Path, e: Exception) -> RunError:
    return RunError(f"cannot load checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                    "the file is truncated or damaged", where=str(path),
                    hint="use an earlier checkpoint from the same directory")


def read(path: Path) -> dict[str, Any]:
    """Load one checkpoint file's plain data with `weights_only=True` (no validation of its
    fields); an unreadable file is a RunError naming it."""
    path = Path(path)
    if not path.is_file():
        raise RunError("no such checkpoint", where=str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" not in str(e):
            raise _damaged(path, e) from None
        raise RunError("the file holds Python objects (code that would run when unpickled), which "
                       "a checkpoint never contains; it was not loaded", where=str(path),
                       hint="load only checkpoints written by alexspec") from None
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means the file is damaged
        raise _damaged(path, e) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise RunError("not an alexspec checkpoint (or a different format version)", where=str(path))
    return obj


def load_file(path: Path) -> Checkpoint:
    """Load one checkpoint and check every field the runtime reads (a RunError naming the file
    and the missing or malformed field otherwise)."""
    path = Path(path)
    return Checkpoint.from_dict(read(path), path)


def resolve(path: Path, warn: Callable[[str], None] | None = None,
            load: Callable[[Path], T] = load_file) -> tuple[Path, T]:  # type: ignore[assignment]
    """A checkpoint file, or the newest loadable one in a directory (`warn` is told of each
    damaged one passed over). Returns the path and what `load` made of it (a `Checkpoint`)."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise RunError("no checkpoint (ckpt-*.pt) in this directory", where=str(path))
        for p in reversed(found):
            try:
                return p, load(p)
            except RunError as e:
                if warn is not None:
                    warn(str(e).splitlines()[0] + "; trying an earlier one")
        raise RunError("every checkpoint in this directory is damaged", where=str(path))
    return path, load(path)


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Torch CPU and CUDA RNG states and those of the named generators."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(),
                             "gens": {k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    """Restore what `rng_state` saved (CUDA only when the same number of devices is present)."""
    torch.set_rng_state(state["torch"])
    for k, g in generators.items():
        if k in state["gens"]:
            g.set_state(state["gens"][k])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
