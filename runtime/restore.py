"""Rebuild a trained model from a checkpoint, and open the data it is evaluated on: what
`alexspec test` and `alexspec show` share.

The net is rebuilt from the spec text stored in the checkpoint (never with code keys allowed),
its weights loaded, and the test-time input pipeline set up from the stored settings and data
statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alexspec.errors import RunError, SpecError
from alexspec.net import Net
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.augment import Augment, DataStats
from alexspec.runtime.data.base import DataSource, open_data

Warn = Callable[[str], None]


@dataclass
class Restored:
    """A checkpoint's net and model, in eval mode, with its input pipeline."""

    path: Path
    step: int
    net: Net
    model: torch.nn.Module
    augment: Augment
    stats: DataStats
    data_name: str
    data_location: str
    img_size: int
    checkpoint: ckpt.Checkpoint


def check_classes(model: Any, data: DataSource) -> None:
    """Refuse data with more classes than the net has outputs."""
    if len(data.classes) > model.num_classes:
        raise RunError(f"the data has {len(data.classes)} classes but the net has {model.num_classes} "
                       "outputs", where=data.location, hint="set the last fc layer's outputs")


def restore(checkpoint: str | Path, gpu: str = "auto", warn: Warn | None = None) -> Restored:
    """Load `checkpoint` (a file, or the newest loadable one in a directory) and rebuild its
    model in eval mode. Raises RunError when the file is damaged or its spec no longer loads."""
    from alexspec.compiler import build
    from alexspec.pipeline import loads

    from alexspec.runtime.export import load_any  # a checkpoint, or an exported .safetensors

    path, c = ckpt.resolve(Path(checkpoint), warn, load=load_any)
    s = c.settings
    try:
        net = loads(c.spec_text, c.spec_path, c.params_text, c.params_path,
                    inner_size=s.inner_size, allow_code=False)
    except SpecError as e:
        raise RunError(f"the spec stored in the checkpoint no longer loads:\n{e}", where=str(path)) from None
    model = build(net, gpu, seed=0, init=False)
    try:
        model.load_state_dict(c.model)
    except RuntimeError as e:
        raise RunError(f"the weights do not fit the stored spec's net: {str(e).splitlines()[0]}",
                       where=str(path)) from None
    model.eval()
    return Restored(path, c.step, net, model, Augment(s.img_size, s.inner_size, s.flip, 0.0),
                    c.stats, c.data.name, c.data.location, s.img_size, c)


def open_restored_data(r: Restored, data: str | None, warn: Warn | None = None) -> DataSource:
    """The data to evaluate `r` on: `data` when given, else where the checkpoint trained when
    that directory still exists, else the embedded Fashion-MNIST when it trained on that."""
    source = data
    if source is None:
        if Path(r.data_location).is_dir():
            source = r.data_location
        elif r.data_name != "fashion-mnist":
            raise RunError(f"the checkpoint trained on {r.data_name} in {r.data_location}, which is "
                           "gone", where=str(r.path), hint="pass --data DIR")
    skip = (lambda f, why: warn(f"skipped corrupt image {f}: {why}")) if warn else None
    ds = open_data(source, r.img_size, on_skip=skip)
    check_classes(r.model, ds)
    return ds
