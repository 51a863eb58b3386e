"""`alexspec show` pictures the reader chooses: --preds with --images N, with image files, with
--errors (misclassified test images first); --neighbors with query files. Structural checks on
a tiny checkpoint trained on a generated image folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alexspec.cli import main
from alexspec.errors import RunError
from tests.predict_data import train_tiny

pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

from alexspec.runtime import show  # noqa: E402
from alexspec.runtime.data.base import open_data  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    return train_tiny(tmp_path_factory.mktemp("showchoices"))


def test_preds_images_n(trained, tmp_path):
    ckpt, data = trained
    shown = show.show_predictions(ckpt, tmp_path / "p.png", data=str(data), gpu="cpu", count=3)
    assert shown.top.classes.shape == (3, 3) and len(shown.picked) == 3
    assert (tmp_path / "p.png").is_file()


def test_preds_errors_come_first(trained, tmp_path):
    ckpt, data = trained
    r = show.restore(ckpt, "cpu")
    ds = open_data(str(data), r.img_size)
    images, labels = ds.val.get(torch.arange(len(ds.val)))
    with torch.no_grad():
        wrong_all = int((r.model(r.augment.views(images, r.stats, False)[0]).argmax(1) != labels).sum())
    assert 0 < wrong_all < len(ds.val)  # the net makes some mistakes and gets some right
    n = wrong_all + 2
    shown = show.show_predictions(ckpt, tmp_path / "e.png", data=str(data), gpu="cpu", count=n, errors=True)
    wrong = (shown.top.classes[:, 0] != shown.extra["labels"]).tolist()
    assert wrong == [True] * wrong_all + [False] * 2  # every mistake, first, then correct ones
    plain = show.show_predictions(ckpt, tmp_path / "q.png", data=str(data), gpu="cpu", count=n)
    assert sum((plain.top.classes[:, 0] != plain.extra["labels"]).tolist()) < wrong_all or \
        plain.picked.tolist() != shown.picked.tolist()


def test_preds_of_files_and_neighbours_of_query_files(trained, tmp_path, capsys):
    ckpt, data = trained
    files = sorted((data / "val" / "red").glob("*.png"))[:2] + sorted((data / "val" / "blue").glob("*.png"))[:1]
    out = tmp_path / "f.png"
    assert main(["show", str(ckpt), "--preds", *map(str, files), "-o", str(out), "--gpu", "cpu"]) == 0
    assert "3 image files" in capsys.readouterr().out and out.is_file()
    shown = show.show_predictions(ckpt, out, gpu="cpu", files=files)
    assert shown.top.classes.shape[0] == 3 and (shown.extra["labels"] == -1).all()
    nb = show.show_neighbours(ckpt, tmp_path / "n.png", data=str(data), gpu="cpu", files=files[:2], search=40)
    assert nb.neighbours.indices.shape == (2, 6) and "2 query images" in nb.message
    # the query features are those of the files, read as predict reads them
    r = show.restore(ckpt, "cpu")
    images, _ = show.read_files(r, files[:2])
    assert torch.allclose(nb.extra["query_features"], show.features(r, images, nb.extra["features"]))


def test_show_choice_errors(trained, tmp_path, capsys):
    ckpt, data = trained
    with pytest.raises(RunError, match="no true label"):
        show.show_predictions(ckpt, tmp_path / "x.png", gpu="cpu", files=[str(tmp_path)], errors=True)
    assert main(["show", str(ckpt), "--filters", "conv1", "--errors", "--gpu", "cpu"]) == 1
    assert main(["show", str(ckpt), "--preds", "--images", "0", "--data", str(data), "--gpu", "cpu"]) == 1
    (tmp_path / "bad.png").write_bytes(b"no")
    assert main(["show", str(ckpt), "--preds", str(tmp_path / "bad.png"), "--gpu", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "--errors" in err and "--images" in err and "bad.png" in err and "Traceback" not in err
