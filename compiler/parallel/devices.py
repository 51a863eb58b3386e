"""Device resolution, in one place: which torch device each logical GPU of this process uses.

`resolve_devices` serves one process that drives every logical GPU (`alexspec run`, `test`,
`show`); `process_devices` serves one process of a torchrun job, which drives either one
model-parallel set (data parallelism over whole models) or one logical GPU (hybrid specs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from alexspec.errors import RunError

Devices = str | Sequence[str | int | torch.device]


def cuda_count() -> int:
    """How many CUDA devices this process sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def is_auto(devices: Devices) -> bool:
    """True for the `auto` device choice."""
    return isinstance(devices, str) and devices.strip().lower() == "auto"


def resolve_devices(devices: Devices, n: int) -> tuple[list[torch.device], str]:
    """One torch device per logical GPU, and a one-line description of the choice.

    "auto": n distinct CUDA devices if there are that many, else CUDA device 0 for every logical
    GPU if there is one, else the CPU. A list names one device per logical GPU; a single entry
    (e.g. "cpu", "0") serves every logical GPU. A comma string "0,1" / "cpu,cpu" is a list.
    Fewer or more devices than logical GPUs (other than one) is a RunError.
    """
    count = cuda_count()
    if is_auto(devices):
        if count >= n:
            out = [torch.device(f"cuda:{i}") for i in range(n)]
            why = f"{count} CUDA device(s)"
        elif count >= 1:
            out = [torch.device("cuda:0")] * n
            why = f"only {count} CUDA device: logical GPUs share it"
        else:
            out = [torch.device("cpu")] * n
            why = "no CUDA device"
        return out, summary(out, f"auto, {why}")
    out = device_list(devices, count)
    if len(out) == 1:
        out = out * n
    if len(out) != n:
        few = len(out) < n
        raise RunError(f"the spec uses {n} logical GPU{'s' if n != 1 else ''} but {len(out)} devices "
                       f"were given ({', '.join(map(str, out))})", where="--gpu",
                       hint=("give one device per logical GPU" if few else
                             f"give {n} device{'s' if n != 1 else ''} (one per logical GPU) or one for all")
                       + (", e.g. " + ",".join(["0", "1", "2", "3"][:n]) + " or " + ",".join(["cpu"] * n)
                          if n <= 4 else ""))
    return out, summary(out, "as given")


def device_list(devices: Devices, count: int | None = None) -> list[torch.device]:
    """The devices named by `devices` (not "auto"), each checked to exist."""
    count = cuda_count() if count is None else count
    items = devices.split(",") if isinstance(devices, str) else list(devices)
    return [_device(d, count) for d in items]


def process_devices(devices: Devices, n: int, local_rank: int, world: int, *,
                    per_gpu: bool) -> tuple[list[torch.device], str]:
    """This torchrun process's devices, one per logical GPU it drives.

    `per_gpu` (hybrid specs): the process drives logical GPU `RANK` only, so it gets one device
    (`auto`: cuda:LOCAL_RANK if there is one, else the CPU; a list: its LOCAL_RANK-th entry).
    Otherwise it drives a whole model of `n` logical GPUs (`auto`: cuda:n*LOCAL_RANK+i when there
    are enough, else the CPU; a list: as `resolve_devices`, the same for every process).
    """
    count = cuda_count()
    who = f"process {local_rank} of {world}"
    if per_gpu:
        if is_auto(devices):
            dev = torch.device(f"cuda:{local_rank}") if count > local_rank else torch.device("cpu")
            why = f"{who}: its own CUDA device" if dev.type == "cuda" else f"{who}: {count} CUDA device(s) are too few, CPU"
        else:
            given = device_list(devices, count)
            if len(given) not in (1, world):
                raise RunError(f"a hybrid run has one process per logical GPU: {world} processes but "
                               f"{len(given)} devices were given", where="--gpu",
                               hint=f"give one device for all, or {world} (one per process)")
            dev = given[0] if len(given) == 1 else given[local_rank]
            why = f"{who}: as given"
        return [dev], summary([dev], why, first=local_rank)
    if is_auto(devices):
        if count >= n * (local_rank + 1):
            devs = [torch.device(f"cuda:{n * local_rank + i}") for i in range(n)]
            why = f"{who}: its own {n} CUDA device(s)"
        else:
            devs = [torch.device("cpu")] * n
            why = f"{who}: {count} CUDA device(s) are too few, CPU"
        return devs, summary(devs, why)
    return resolve_devices(devices, n)


def _device(d: str | int | torch.device, count: int) -> torch.device:
    if isinstance(d, str):
        d = d.strip()
        d = int(d) if d.isdigit() else d
    try:
        dev = torch.device(f"cuda:{d}") if isinstance(d, int) else torch.device(d)
    except RuntimeError as e:
        raise RunError(f"not a device: {d!r} ({e})", where="--gpu") from None
    if dev.type == "cuda" and (dev.index or 0) >= count:
        raise RunError(f"device {dev} does not exist ({count} CUDA device(s) here)", where="--gpu",
                       hint="use --gpu cpu, or --gpu auto")
    return dev


def summary(devs: list[torch.device], why: str, first: int = 0) -> str:
    """`devices: gpu0 -> cuda:0, gpu1 -> cuda:1 (why)`."""
    return "devices: " + ", ".join(f"gpu{first + i} -> {d}" for i, d in enumerate(devs)) + f" ({why})"
