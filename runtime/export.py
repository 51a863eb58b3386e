"""`alexspec export`: a checkpoint's eval model as ONNX, a torch.export program (.pt2), or its
weights as safetensors, each checked against the checkpoint before the command returns.

The input contract of the .onnx and .pt2 graphs (also in their metadata, `alexspec export --help`
and docs/deploy.md):

    input  "image": float32 (N, 3, S, S), S = the working size (imgSize), channels RGB, pixel values
           0..255 (not scaled to 0..1), the picture's shorter side scaled to S and the centre
           square kept (nets trained on Fashion-MNIST: grey, repeated to the three channels).
           N is dynamic. The mean image and the centre crop to the net's input size are INSIDE
           the graph: a caller does no normalisation.
    output "logits": float32 (N, classes), the class scores before the softmax.

The graph is the eval model (the dropout layers scale by their keep probability, as at test
time), over one device: the columns of a two-GPU net become one graph whose outputs equal the
two-device model's. The .safetensors file holds the weights, the mean image and PCA, with the
spec text, the class names, the run settings and the same contract in its metadata; `alexspec
test`, `show` and `predict` load it like a checkpoint (`load_safetensors`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from alexspec.errors import RunError
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.augment import DataStats
from alexspec.runtime.restore import Restored
from alexspec.words import count
from alexspec.settings import RunSettings

FORMATS = (".onnx", ".pt2", ".safetensors")
TOLERANCE = 1e-4  # max abs difference of the logits allowed between the export and the checkpoint
SAFETENSORS_FORMAT = "alexspec-safetensors-1"
INSTALL = "pip install 'alexspec[export]' (onnx, onnxruntime, onnxscript, safetensors)"


class Deployed(nn.Module):
    """The eval model with its input pipeline inside: (N, C, S, S) 0..255 -> logits (N, classes).
    x - mean image, then the centre (inner x inner) crop, then the net."""

    def __init__(self, model: nn.Module, mean: Tensor, inner: int):
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.detach().clone().float())  # (C, S, S), 0..255
        side = mean.shape[-1]
        self.offset, self.inner = (side - inner) // 2, inner

    def forward(self, image: Tensor) -> Tensor:
        o, i = self.offset, self.inner
        return self.model((image - self.mean)[:, :, o:o + i, o:o + i])


def contract(r: Restored) -> dict[str, Any]:
    """The input and output the exported graph expects and gives (written into its metadata)."""
    from alexspec.runtime.predict import stored_form

    c, s = r.stats.mean.shape[0], r.img_size
    side, grey = stored_form(r)
    return {
        "input": {"name": "image", "dtype": "float32", "shape": ["N", c, s, s], "channels": "RGB",
                  "scale": "0..255", "mean_image": "inside the graph",
                  "crop": f"inside the graph: the centre {r.augment.inner_size}x{r.augment.inner_size}",
                  "prepare": f"shorter side scaled to {s}, centre square kept"
                             + (f" (as trained: read as {side}x{side} grey, repeated to 3 channels, "
                                f"scaled to {s})" if grey or side != s else "")},
        "output": {"name": "logits", "dtype": "float32", "shape": ["N", r.model.num_classes],
                   "meaning": "class scores before the softmax"},
    }


def _metadata(r: Restored) -> dict[str, str]:
    from alexspec.runtime.predict import class_names

    c, s = r.checkpoint, r.checkpoint.settings
    return {"format": SAFETENSORS_FORMAT, "classes": json.dumps(list(class_names(r))),
            "contract": json.dumps(contract(r)), "step": str(r.step), "spec_text": c.spec_text,
            "spec_path": c.spec_path, "params_text": c.params_text or "",
            "params_path": c.params_path or "", "arch_hash": c.arch_hash,
            "arch": json.dumps(list(c.arch)), "data": json.dumps({
                "name": c.data.name, "location": c.data.location, "classes": list(c.data.classes)}),
            "settings": json.dumps(s.to_dict()),
            "topk": str(r.model.topk)}


@dataclass(frozen=True)
class Exported:
    """What `export` wrote, and how far its outputs are from the checkpoint's."""

    path: Path
    format: str
    max_diff: float
    batch: int
    message: str


def sample_batch(r: Restored, n: int, seed: int = 0) -> Tensor:
    """A seeded uint8 batch (n, C, S, S) at the working size, to compare outputs on."""
    c, s = r.stats.mean.shape[0], r.img_size
    return torch.randint(0, 256, (n, c, s, s), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


@torch.no_grad()
def reference(r: Restored, images: Tensor) -> Tensor:
    """The checkpoint's eval model on uint8 images through the test pipeline (centre crop)."""
    return r.model(r.augment.views(images, r.stats, False)[0]).float().cpu()


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RunError(f"exporting needs the Python package {module.split('.')[0]}", where="alexspec export",
                       hint=INSTALL) from None


def _dynamic(batch_max: int = 1 << 16) -> dict[str, dict[int, Any]]:
    return {"image": {0: torch.export.Dim("batch", min=1, max=batch_max)}}


@contextlib.contextmanager
def _quiet():
    """torch.onnx and torch.export print progress and warnings of their own: keep them off the
    user's terminal (failures still raise)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _export_program(d: Deployed, example: Tensor):
    with _quiet():
        return torch.export.export(d, (example,), dynamic_shapes=_dynamic())


def _write_onnx(d: Deployed, example: Tensor, path: Path, meta: dict[str, str]):
    onnx = _need("onnx")
    _need("onnxscript")
    with _quiet():
        prog = torch.onnx.export(d, (example,), None, input_names=["image"], output_names=["logits"],
                                 dynamic_shapes=_dynamic(), dynamo=True, verbose=False)
    proto = prog.model_proto
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))


def _run_onnx(path: Path, images: Tensor) -> Tensor:
    ort = _need("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(["logits"], {"image": images.float().numpy()})
    return torch.from_numpy(out)


def onnx_metadata(path: Path) -> dict[str, str]:
    """The metadata_props of an ONNX file (what `export` wrote there)."""
    onnx = _need("onnx")
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def load_program(path: Path) -> tuple[Any, dict[str, str]]:
    """A .pt2 file: (the reloaded ExportedProgram, its metadata)."""
    extra = {"alexspec.json": ""}
    ep = torch.export.load(str(path), extra_files=extra)
    return ep, json.loads(extra["alexspec.json"] or "{}")


def _write_safetensors(r: Restored, path: Path, meta: dict[str, str]) -> None:
    st = _need("safetensors.torch")
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in r.model.state_dict().items()}
    tensors.update({f"stats.{k}": v.detach().cpu().contiguous() for k, v in r.stats.state().items()})
    st.save_file(tensors, str(path), metadata=meta)


def load_safetensors(path: Path) -> ckpt.Checkpoint:
    """An exported .safetensors file as a `Checkpoint` (weights, stats, spec, settings, classes;
    no optimizer or loop state: it can be tested, shown and predicted with, not resumed).
    RunError naming the file and the field when it is not one `export` wrote."""
    st = _need("safetensors")
    path = Path(path)
    if not path.is_file():
        raise RunError("no such file", where=str(path))
    try:
        with st.safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for bad files
        raise RunError(f"cannot read the safetensors file ({type(e).__name__}: {e})", where=str(path)) from None
    if meta.get("format") != SAFETENSORS_FORMAT:
        raise RunError("not a safetensors file written by `alexspec export` (no alexspec metadata)",
                       where=str(path), hint="export one with: alexspec export CKPT -o FILE.safetensors")

    def field(key: str, parse=lambda v: v):
        try:
            return parse(meta[key])
        except (KeyError, ValueError, TypeError) as e:
            raise RunError(f"the metadata field '{key}' is missing or malformed ({e})", where=str(path)) from None

    settings, data = field("settings", json.loads), field("data", json.loads)
    try:
        stats = DataStats(tensors["stats.mean"], tensors["stats.eigvec"], tensors["stats.eigval"])
        s = RunSettings.from_dict(settings)
        info = ckpt.DataInfo(str(data["name"]), str(data["location"]), tuple(map(str, data["classes"])))
    except (KeyError, TypeError, ValueError) as e:  # pydantic's ValidationError is a ValueError
        raise RunError(f"the file's stats or settings are missing or malformed ({e})",
                       where=str(path)) from None
    step = field("step", int)
    return ckpt.Checkpoint(
        path=path, step=step, spec_text=field("spec_text"), spec_path=field("spec_path"),
        params_text=meta.get("params_text") or None, params_path=meta.get("params_path") or None,
        arch_hash=field("arch_hash"), arch=tuple(field("arch", json.loads)),
        model={k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
        sgd={"velocity": {}}, train=ckpt.TrainState(step, 0, 0, 0, {"drops": 0, "best": None, "since": 0.0}, None),
        rng={}, stats=stats, data=info, settings=s, history=())


def load_any(path: Path) -> ckpt.Checkpoint:
    """A checkpoint file, or an exported .safetensors file (for `restore`)."""
    if Path(path).suffix == ".safetensors":
        return load_safetensors(path)
    return ckpt.load_file(path)


def _max_diff(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def export(checkpoint: str | Path, out: str | Path, *, warn=None, check_batch: int = 3) -> Exported:
    """Write `checkpoint`'s eval model to `out` (.onnx, .pt2 or .safetensors), reload what was
    written and compare its outputs with the checkpoint's on a seeded batch of `check_batch`
    images (a size other than the one traced, so the batch dimension is shown to be dynamic).
    RunError when the difference exceeds TOLERANCE."""
    from alexspec.runtime.predict import open_model

    out = Path(out)
    fmt = out.suffix.lower()
    if fmt not in FORMATS:
        raise RunError(f"cannot tell the format from {out.name!r}", where="-o",
                       hint="name the file .onnx, .pt2 or .safetensors")
    r = open_model(checkpoint, "cpu", warn)  # every logical GPU on the CPU: one device
    meta = _metadata(r)
    images = sample_batch(r, check_batch)
    want = reference(r, images)
    out.parent.mkdir(parents=True, exist_ok=True)
    d = Deployed(r.model, r.stats.mean, r.augment.inner_size).eval()
    example = sample_batch(r, 2, seed=1).float()
    try:
        if fmt == ".onnx":
            _write_onnx(d, example, out, meta)
            got = _run_onnx(out, images)
            what = "ONNX, checked with onnxruntime"
        elif fmt == ".pt2":
            ep = _export_program(d, example)
            torch.export.save(ep, str(out), extra_files={"alexspec.json": json.dumps(meta)})
            with torch.no_grad():
                got = load_program(out)[0].module()(images.float())
            what = "torch.export program, reloaded with torch.export.load"
        else:
            _write_safetensors(r, out, meta)
            from alexspec.runtime.restore import restore

            again = restore(out, "cpu", warn)
            got = reference(again, images)
            what = "safetensors weights, reloaded as a checkpoint"
    except RunError:
        raise
    except OSError as e:
        raise RunError(f"cannot write: {e}", where=str(out)) from None
    diff = _max_diff(got, want)
    if not diff <= TOLERANCE:
        raise RunError(f"the exported model's outputs differ from the checkpoint's by {diff:.3g} "
                       f"(allowed {TOLERANCE:g})", where=str(out))
    if fmt == ".safetensors":
        io_text = "alexspec test, show and predict load it like a checkpoint"
    else:
        shape = "x".join(map(str, contract(r)["input"]["shape"]))
        io_text = (f"input image float32 {shape} RGB 0..255 (mean image and centre crop inside), "
                   f"output logits Nx{r.model.num_classes}")
    msg = (f"wrote {out}: {what}; {io_text}; max abs difference from the checkpoint's eval model "
           f"{diff:.2g} on {count(check_batch, 'image')}")
    return Exported(out, fmt, diff, check_batch, msg)
