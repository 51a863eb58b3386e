"""Checkpoints: atomic writes, the last N kept, safe loads, and the architecture check on resume.

A checkpoint is one `torch.save` file `ckpt-<step>.pt` of plain data only (tensors, numbers,
strings, lists, dicts), so it loads with `torch.load(weights_only=True)`:

    format, step, spec_text, spec_path, params_text, params_path, arch_hash, arch (one line per
    layer), model (state_dict), sgd (momentum), train (loop position, plateau state, counters),
    rng (torch CPU, CUDA per device, augmentation and any other generator), stats (mean, PCA),
    data (which dataset), settings (the resolved run settings), history (metrics records)

It is written to `<name>.tmp-<pid>`, flushed and fsynced, then renamed over the final name (and the
directory fsynced), so a killed writer leaves either the old set of checkpoints or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from alexspec.errors import RunError
from alexspec.net import Net

FORMAT = 1
PATTERN = "ckpt-*.pt"


def arch_lines(net: Net) -> list[str]:
    """One line per layer with what `Net.architecture_hash` covers, to name what changed."""
    return [f"{n.name}: {n.type} inputs={','.join(n.layer.inputs)} gpu={','.join(map(str, n.gpus))} "
            f"out={n.output} params={n.params}" for n in net.nodes]


def arch_diff(saved: list[str], now: list[str]) -> list[str]:
    """Human-readable differences between two `arch_lines` lists."""
    a = {s.split(":", 1)[0]: s for s in saved}
    b = {s.split(":", 1)[0]: s for s in now}
    out = [f"layer {k} removed" for k in a if k not in b]
    out += [f"layer {k} added" for k in b if k not in a]
    out += [f"{a[k]}  ->  {b[k].split(': ', 1)[1]}" for k in a if k in b and a[k] != b[k]]
    return out


def check_architecture(ckpt: dict[str, Any], net: Net, where: str) -> None:
    """Refuse to resume a checkpoint into a net whose architecture differs, naming the changes."""
    if ckpt["arch_hash"] == net.architecture_hash:
        return
    diff = arch_diff(list(ckpt["arch"]), arch_lines(net)) or ["(layer order or connections)"]
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
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunError(f"cannot write checkpoint: {e}", where=str(path)) from None
    _fsync_dir(path.parent)


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}.pt"


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


def load_file(path: Path) -> dict[str, Any]:
    """Load one checkpoint with `weights_only=True`; an unreadable one is a RunError naming it."""
    path = Path(path)
    if not path.is_file():
        raise RunError("no such checkpoint", where=str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means the file is damaged
        raise RunError(f"cannot load checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                       "the file is truncated or damaged", where=str(path),
                       hint="use an earlier checkpoint from the same directory") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise RunError("not an alexspec checkpoint (or a different format version)", where=str(path))
    return obj


def resolve(path: Path, warn=None) -> tuple[Path, dict[str, Any]]:
    """A checkpoint file, or the newest loadable one in a directory (`warn` is told of each
    damaged one passed over). Returns the path and the loaded checkpoint."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise RunError("no checkpoint (ckpt-*.pt) in this directory", where=str(path))
        for p in reversed(found):
            try:
                return p, load_file(p)
            except RunError as e:
                if warn is not None:
                    warn(str(e).splitlines()[0] + "; trying an earlier one")
        raise RunError("every checkpoint in this directory is damaged", where=str(path))
    return path, load_file(path)


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
