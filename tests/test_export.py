"""`alexspec export`: .onnx (run with onnxruntime), .pt2 (reloaded with torch.export.load) and
.safetensors (loaded back as a checkpoint) give the checkpoint's eval-model outputs within 1e-4
on a batch size other than the traced one; the two-column tiny net exports as one graph; the
input contract written in the metadata is the one that works (a picture prepared by it gives
`predict`'s probabilities)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alexspec.cli import main
from alexspec.errors import RunError
from tests.predict_data import train_tiny

pytest.importorskip("PIL")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytest.importorskip("safetensors")

from alexspec.runtime import export as ex  # noqa: E402
from alexspec.runtime import predict as pr  # noqa: E402
from alexspec.runtime.images import read_square  # noqa: E402

pytestmark = pytest.mark.slow  # each graph export takes a few seconds


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    return train_tiny(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def restored(trained):
    r = pr.open_model(trained[0], "cpu")
    assert len(r.model.devices) == 2 and len(r.model.plan.transfers) > 0  # a two-GPU net
    return r


def _contract_batch(r, data: Path) -> tuple[list[Path], torch.Tensor]:
    """Validation pictures prepared as the contract says: S x S RGB float 0..255."""
    files = pr.image_files([data / "val"])[0][:5]
    return files, torch.stack([torch.from_numpy(read_square(f, r.img_size)) for f in files]).float()


def test_onnx_equals_the_checkpoint_with_a_dynamic_batch(trained, restored, tmp_path):
    import onnx
    import onnxruntime as ort

    ckpt, data = trained
    out = tmp_path / "tiny.onnx"
    done = ex.export(ckpt, out)
    assert done.max_diff <= ex.TOLERANCE and done.batch == 3
    model = onnx.load(str(out))
    assert len(model.graph.input) == 1 and model.graph.input[0].name == "image"
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value  # a symbolic batch dimension
    assert [d.dim_value for d in dims[1:]] == [3, restored.img_size, restored.img_size]
    assert [o.name for o in model.graph.output] == ["logits"]
    meta = ex.onnx_metadata(out)
    assert json.loads(meta["classes"]) == ["blue", "green", "red"]
    contract = json.loads(meta["contract"])
    assert contract["input"]["scale"] == "0..255" and "inside" in contract["input"]["mean_image"]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for n in (1, 7):  # neither the traced batch (2) nor the checked one (3)
        images = ex.sample_batch(restored, n, seed=10 + n)
        (got,) = session.run(["logits"], {"image": images.float().numpy()})
        assert float((torch.from_numpy(got) - ex.reference(restored, images)).abs().max()) <= 1e-4
    # the contract: pictures prepared by it give predict's probabilities
    files, x = _contract_batch(restored, data)
    (logits,) = session.run(["logits"], {"image": x.numpy()})
    probs = torch.softmax(torch.from_numpy(logits).double(), 1)
    for f, p, q in zip(files, pr.predict(restored, files, top=3).predictions, probs):
        assert list(p.classes) == q.topk(3).indices.tolist()
        assert p.probs == pytest.approx(q.topk(3).values.tolist(), abs=1e-5)


def test_pt2_reloads_and_equals_the_checkpoint(trained, restored, tmp_path):
    out = tmp_path / "tiny.pt2"
    assert main(["export", str(trained[0].parent), "-o", str(out)]) == 0
    ep, meta = ex.load_program(out)
    assert json.loads(meta["classes"]) == ["blue", "green", "red"]
    for n in (1, 6):
        images = ex.sample_batch(restored, n, seed=20 + n)
        with torch.no_grad():
            got = ep.module()(images.float())
        assert float((got - ex.reference(restored, images)).abs().max()) <= 1e-4


def test_safetensors_loads_like_a_checkpoint_in_test_show_and_predict(trained, tmp_path, capsys):
    from safetensors import safe_open

    from alexspec.runtime import show
    from alexspec.runtime.report import NullReporter
    from alexspec.runtime.session import test

    ckpt, data = trained
    out = tmp_path / "tiny.safetensors"
    assert main(["export", str(ckpt), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        assert "stats.mean" in f.keys() and any(k.startswith("model.layers.conv1a") for k in f.keys())
    assert "[conv1]" in meta["spec_text"] and json.loads(meta["classes"]) == ["blue", "green", "red"]
    a = test(str(ckpt), NullReporter(), data=str(data), gpu="cpu").scores
    b = test(str(out), NullReporter(), data=str(data), gpu="cpu").scores
    assert (a.loss, a.top1, a.top5, a.images) == (b.loss, b.top1, b.top5, b.images)
    files = pr.image_files([data / "val"])[0]
    p1 = pr.predict(pr.open_model(ckpt, "cpu"), files).predictions
    p2 = pr.predict(pr.open_model(out, "cpu"), files).predictions
    assert p1 == [pr.Prediction(p.file, p.labels, p.classes, p.probs) for p in p2]
    shown = show.show_predictions(out, tmp_path / "p.png", data=str(data), gpu="cpu")
    assert shown.top.classes.shape[0] == 8


def test_export_errors_are_clear(trained, tmp_path, capsys):
    from safetensors.torch import save_file

    ckpt, _ = trained
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.h5")]) == 1
    assert "onnx, .pt2 or .safetensors" in capsys.readouterr().err
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(RunError, match="not a safetensors file written by"):
        pr.open_model(foreign, "cpu")
    (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    assert main(["test", str(tmp_path / "junk.safetensors"), "--gpu", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "junk.safetensors" in err and "Traceback" not in err
