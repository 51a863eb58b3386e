"""`alexspec predict`: images prepared as `alexspec test` prepares them (the same accuracy on the
same files, exactly), every image mode read without saturation, folders searched recursively,
unreadable files and decompression bombs named and skipped, --json for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from alexspec.cli import SKIPPED_EXIT, main
from alexspec.errors import RunError
from tests.predict_data import COLOURS, png_header_only, train_tiny

PIL = pytest.importorskip("PIL.Image")

from alexspec.runtime import predict as pr  # noqa: E402
from alexspec.runtime.images import ImageError, read_square  # noqa: E402



@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    return train_tiny(tmp_path_factory.mktemp("predict"))


# ----------------------------------------------------------------------------- reading images


def _save(im, path: Path) -> Path:
    im.save(path)
    return path


def test_16_bit_grey_is_scaled_not_saturated(tmp_path):
    a = np.full((8, 8), 32896, dtype=np.uint16)  # 32896 / 257 = 128
    a[:, :4] = 65535
    f = _save(PIL.fromarray(a), tmp_path / "deep.png")
    with PIL.open(f) as im:
        assert im.mode.startswith("I")  # Pillow reads it as 16/32-bit integer grey
    out = read_square(f, 8)
    assert out.shape == (3, 8, 8) and out.dtype == np.uint8
    assert (out[:, :, :4] == 255).all() and (out[:, :, 4:] == 128).all()


def test_folder_training_images_16_bit_not_saturated(tmp_path):
    """The training and test path (folder.decode) reads 16-bit files the same way."""
    from alexspec.runtime.data import folder

    f = _save(PIL.fromarray(np.full((6, 6), 2570, dtype=np.uint16)), tmp_path / "d.png")
    assert (folder.decode(f, 6) == 10).all()  # 2570 / 257 = 10, not saturated to 255


def test_rgba_over_white_palette_and_grey(tmp_path):
    rgba = np.zeros((6, 6, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, 3:, 3] = 255  # left half transparent, right half opaque red
    out = read_square(_save(PIL.fromarray(rgba, "RGBA"), tmp_path / "a.png"), 6)
    assert (out[:, :, :3] == 255).all()  # transparent: white
    assert (out[0, :, 3:] == 255).all() and (out[1:, :, 3:] == 0).all()
    rgb = PIL.new("RGB", (6, 6), (10, 120, 230))
    pal = rgb.convert("P", palette=PIL.Palette.ADAPTIVE, colors=4)
    assert (read_square(_save(pal, tmp_path / "p.png"), 6) == read_square(_save(rgb, tmp_path / "r.png"), 6)).all()
    grey = read_square(_save(PIL.new("L", (6, 6), 77), tmp_path / "g.png"), 6)
    assert (grey == 77).all()
    # a colour image read for a grey net: the luminance, repeated to three channels
    g = read_square(tmp_path / "r.png", 6, grey=True)
    assert (g[0] == g[1]).all() and (g[1] == g[2]).all()


def test_decompression_bomb_refused_before_decoding(tmp_path):
    f = tmp_path / "bomb.png"
    png_header_only(f, 20_000, 20_000)  # 400 M pixels, 1.2 GB decoded
    with pytest.raises(ImageError, match="pixels"):
        read_square(f, 8)
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(ImageError):
        read_square(tmp_path / "junk.jpg", 8)


def test_image_files_recursive_images_only(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for p in ("a/1.png", "a/b/2.JPG", "z.webp", ".hidden/3.png", "a/notes.txt"):
        (tmp_path / p).write_bytes(b"")
    files, missing = pr.image_files([tmp_path, tmp_path / "nope.png", tmp_path / "a" / "notes.txt"])
    rel = [str(f.relative_to(tmp_path)) for f in files]
    assert rel == ["a/1.png", "a/b/2.JPG", "z.webp", "a/notes.txt"]  # a file named is taken
    assert missing == [(str(tmp_path / "nope.png"), "no such file or folder")]


# ----------------------------------------------------------------------------- from a checkpoint


@pytest.mark.parametrize("multiview", [False, True])
def test_accuracy_equals_alexspec_test_on_the_same_files(trained, multiview):
    from alexspec.runtime.report import NullReporter
    from alexspec.runtime.session import test

    ckpt, data = trained
    t = test(str(ckpt), NullReporter(), data=str(data), gpu="cpu", multiview=multiview).scores
    r = pr.open_model(ckpt, "cpu")
    files, _ = pr.image_files([data / "val"])
    got = pr.predict(r, files, top=1, multiview=multiview)
    assert len(got.predictions) == t.images == 30 and not got.skipped
    hits = sum(p.labels[0] == Path(p.file).parent.name for p in got.predictions)
    assert hits == round(t.images * (1 - t.top1))
    top5 = pr.predict(r, files, multiview=multiview)  # the spec's topk=5, capped at 3 classes
    assert top5.k == 3 and all(len(p.labels) == 3 for p in top5.predictions)
    assert 0 < hits < 30 or multiview  # the net is not perfect: the comparison means something


def test_probabilities_equal_the_test_pipeline(trained):
    ckpt, data = trained
    from alexspec.runtime.data.base import open_data

    r = pr.open_model(ckpt, "cpu")
    ds = open_data(str(data), r.img_size)
    images, _ = ds.val.get(torch.arange(len(ds.val)))
    with torch.no_grad():
        want = torch.softmax(r.model(r.augment.views(images, r.stats, False)[0]).double(), 1)
    got = pr.predict(r, pr.image_files([data / "val"])[0], top=3)
    for i, p in enumerate(got.predictions):
        assert list(p.classes) == want[i].topk(3).indices.tolist()
        assert p.probs == pytest.approx(want[i].topk(3).values.tolist(), abs=1e-6)
        assert p.labels == tuple(r.checkpoint.data.classes[c] for c in p.classes)


def test_cli_json_names_corrupt_and_bomb_files_and_goes_on(trained, tmp_path, capsys):
    ckpt, data = trained
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    for i, f in enumerate(sorted((data / "val" / "red").glob("*.png"))[:3]):
        (d / "sub" / f"{i}.png").write_bytes(f.read_bytes())
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    png_header_only(d / "bomb.png", 30_000, 30_000)
    (d / "readme.txt").write_text("not an image, not looked at")
    code = main(["predict", str(ckpt.parent), str(d), "--json", "--top", "2", "--gpu", "cpu"])
    out, err = capsys.readouterr()
    assert code == SKIPPED_EXIT
    doc = json.loads(out)
    assert [Path(p["file"]).name for p in doc["predictions"]] == ["0.png", "1.png", "2.png"]
    assert all(len(p["top"]) == 2 and p["top"][0]["probability"] >= p["top"][1]["probability"]
               for p in doc["predictions"])
    assert all(p["top"][0]["label"] in COLOURS for p in doc["predictions"])
    assert sorted(Path(s["file"]).name for s in doc["skipped"]) == ["bomb.png", "broken.jpg"]
    assert "broken.jpg" in err and "bomb.png" in err and "2 of 5 files skipped" in err
    assert "Traceback" not in err


def test_cli_text_one_line_per_image_and_exit_0(trained, capsys):
    ckpt, data = trained
    files = sorted((data / "val" / "green").glob("*.png"))[:2]
    assert main(["predict", str(ckpt), *map(str, files), "--gpu", "cpu"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{files[0]}: ") and lines[0].count("%") == 3
    assert "2 files" in err


def test_cli_bad_inputs_are_clear_errors(trained, tmp_path, capsys):
    ckpt, _ = trained
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(ckpt), str(tmp_path / "empty"), "--gpu", "cpu"]) == 1
    assert "no image files found" in capsys.readouterr().err
    assert main(["predict", str(ckpt), str(tmp_path), "--top", "0", "--gpu", "cpu"]) == 1
    assert main(["predict", str(tmp_path / "none.pt"), str(tmp_path), "--gpu", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "--top" in err and "none.pt" in err and "Traceback" not in err
    with pytest.raises(RunError):
        pr.predict(pr.open_model(ckpt, "cpu"), [], top=-1)
