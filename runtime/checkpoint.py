"""Checkpoints: atomic writes, the last N kept, safe loads, and the architecture check on resume.

A checkpoint is one `torch.save` file `ckpt-<step>.pt` of plain data only (tensors, numbers,
strings, lists, dicts), so it loads with `torch.load(weights_only=True)`:

    format, step, spec_text, spec_path, params_text, params_path, arch_hash, arch (one line per
    layer), model (state_dict), sgd (momentum), train (loop position, plateau state, counters,
    training-set size), rng (torch CPU, CUDA per device, augmentation and any other generator),
    stats (mean, PCA), data (which dataset and its class names), settings (the run's resolved
    `RunSettings`, through `to_dict`/`from_dict`), history (metrics records), content_hash
    (sha256 of everything else: a flipped byte is refused on load)

`load_file` checks every field the runtime reads and returns a frozen `Checkpoint`; a missing or
malformed field is a RunError naming the file and the field.

It is written to `<name>.tmp-<pid>`, flushed and fsynced, then renamed over the final name (and the
directory fsynced), so a killed writer leaves either the old set of checkpoints or the new one;
`remove_temporaries` deletes what a killed writer left (the run holding the save path's lock
calls it). A failed write (a full disk) is a RunError saying so; the previous checkpoints stay.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import ValidationError

from alexspec.errors import RunError
from alexspec.net import Net
from alexspec.runtime import metrics
from alexspec.runtime.augment import DataStats
from alexspec.settings import RunSettings

FORMAT = 2  # 2: content hash, the full RunSettings, the data's class names
HASH_KEY = "content_hash"
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
class TrainState:
    """The loop position and plateau state at the checkpoint's step boundary."""

    step: int
    epoch: int
    batch: int
    skipped_batches: int
    plateau: dict[str, Any]  # PlateauPolicy.state()
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
    settings: RunSettings  # resolved: img_size and inner_size are set
    history: tuple[metrics.Record, ...]
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
        try:
            history = [metrics.from_dict(r) for r in f.get(c, "history", list)]
        except ValueError as e:
            raise f.bad(f"field 'history' holds something other than records ({e})") from None
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
                _plateau(f, plateau), f.get(t, "train_images", int, "train.", optional=True)),
            rng=rng,
            stats=DataStats(f.get(stats, "mean", torch.Tensor, "stats."),
                            f.get(stats, "eigvec", torch.Tensor, "stats."),
                            f.get(stats, "eigval", torch.Tensor, "stats.")),
            data=DataInfo(f.get(d, "name", str, "data."), f.get(d, "location", str, "data."),
                          tuple(f.get(d, "classes", list, "data."))),
            settings=_settings(f, s), history=tuple(history), rng_ranks=tuple(rng_ranks))

    @property
    def validation_finite(self) -> bool:
        """False when the last validation at this checkpoint's step was not finite."""
        tests = [r for r in self.history if isinstance(r, metrics.TestRecord) and r.step == self.step]
        return all(math.isfinite(r.loss) for r in tests)


def _settings(f: _Fields, d: dict[str, Any]) -> RunSettings:
    """The stored RunSettings, bounds checked (a crafted imgSize is refused before anything is
    allocated); img_size and inner_size must be set."""
    try:
        s = RunSettings.from_dict(d)
    except ValidationError as e:
        err = e.errors()[0]
        name = ".".join(str(x) for x in err["loc"])
        raise f.bad(f"field 'settings.{name}' is invalid ({err['msg'].lower()}, got {err.get('input')!r})") from None
    for key in ("img_size", "inner_size"):
        if getattr(s, key) is None:
            raise f.bad(f"has no 'settings.{key}'")
    return s


def _plateau(f: _Fields, p: dict[str, Any]) -> dict[str, Any]:
    """The plateau policy's position: drops, best error, epoch of the last improvement."""
    return {"drops": f.get(p, "drops", int, "train.plateau."),
            "best": f.get(p, "best", float, "train.plateau.", optional=True),
            "since": f.get(p, "since", float, "train.plateau.")}


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


def _hash_into(h: Any, v: Any) -> None:
    """Feed a canonical form of plain data `v` (dicts in key order, tensors as dtype, shape and
    bytes) into the hash `h`."""
    if isinstance(v, torch.Tensor):
        t = v.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(v, dict):
        h.update(b"D%d" % len(v))
        for k in sorted(v, key=repr):
            _hash_into(h, k)
            _hash_into(h, v[k])
    elif isinstance(v, (list, tuple)):
        h.update(b"L%d" % len(v))
        for x in v:
            _hash_into(h, x)
    else:
        h.update(f"{type(v).__name__}:{v!r};".encode())


def content_hash(obj: dict[str, Any]) -> str:
    """sha256 of a checkpoint payload, every key but the hash itself."""
    h = hashlib.sha256()
    _hash_into(h, {k: v for k, v in obj.items() if k != HASH_KEY})
    return h.hexdigest()


class _Recording:
    """A file wrapper that keeps the OSError of a failed write: torch.save hides it behind its
    own message ("unexpected pos"), and the user must read "no space left on device"."""

    def __init__(self, f: Any):
        self.f, self.error = f, None

    def write(self, b: Any) -> int:
        try:
            return self.f.write(b)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def _why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return "no space left on device"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _open_for_write(path: Path) -> Any:
    return path.open("wb")


def atomic_save(obj: dict[str, Any], path: Path) -> None:
    """`torch.save` (with the content hash) to a temporary file, fsync, rename over `path`,
    fsync the directory. A failed write leaves no temporary file and the old checkpoints."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    obj = {**obj, HASH_KEY: content_hash(obj)}
    rec = None
    try:
        with _open_for_write(tmp) as f:
            rec = _Recording(f)
            torch.save(obj, rec)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a failed write as a RuntimeError
        cause = rec.error if rec is not None and rec.error is not None else e
        raise RunError(f"cannot write checkpoint: {_why(cause)}", where=str(path),
                       hint="free some space (the previous checkpoints are intact)"
                       if isinstance(cause, OSError) and cause.errno == errno.ENOSPC else None) from None
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; a leftover of a failed write
    _fsync_dir(path.parent)


def remove_temporaries(directory: Path) -> list[Path]:
    """Delete the `ckpt-*.pt.tmp-<pid>` files interrupted writers left in `directory` (call it
    only while holding the directory's lock); the paths deleted."""
    gone = []
    for p in sorted(Path(directory).glob(PATTERN + ".tmp-*")):
        try:
            p.unlink()
            gone.append(p)
        except OSError:
            pass
    return gone


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


def read(path: Path) -> dict[str, Any]:
    """Load one checkpoint file's plain data with `weights_only=True` (no validation of its
    fields); an unreadable file is a RunError naming it."""
    path = Path(path)
    if not path.is_file():
        raise RunError("no such checkpoint", where=str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e).lower():
            # torch's message goes on to advise weights_only=False: never pass that on.
            raise RunError("refused: the file holds Python objects that an alexspec checkpoint never "
                           "holds, and loading them could run code; it was not written by alexspec",
                           where=str(path), hint="use a checkpoint written by `alexspec run`") from None
        raise _damaged(path, e) from None
    except Exception as e:  # noqa: BLE001 - any other failure to unpickle means the file is damaged
        raise _damaged(path, e) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else None
        raise RunError("not an alexspec checkpoint" if found is None else
                       f"a checkpoint of format {found!r}; this alexspec reads format {FORMAT}",
                       where=str(path), hint="start a new run" if found is not None else None)
    stored = obj.get(HASH_KEY)
    if not isinstance(stored, str):
        raise RunError("the checkpoint has no content hash; it is damaged", where=str(path),
                       hint="use an earlier checkpoint from the same directory")
    if content_hash(obj) != stored:
        raise RunError("the checkpoint's content does not match its hash: some of its bytes changed "
                       "after it was written (a damaged disk or copy)", where=str(path),
                       hint="use an earlier checkpoint from the same directory")
    return obj


def _damaged(path: Path, e: BaseException) -> RunError:
    first = str(e).splitlines()[0] if str(e) else ""
    return RunError(f"cannot load checkpoint ({type(e).__name__}: {first}); the file is truncated or "
                    "damaged", where=str(path), hint="use an earlier checkpoint from the same directory")


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
