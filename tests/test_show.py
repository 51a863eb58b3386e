"""`alexspec show`: structure of Figures 3 and 4 drawn from a tiny checkpoint trained in a fixture
(grid layout and tile counts, top-5 numbers, neighbours sorted and equal to a brute-force search),
not pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alexspec.cli import main
from alexspec.errors import RunError
from tests.tiny_spec import tiny_spec

pytest.importorskip("matplotlib")

from alexspec.runtime import show  # noqa: E402
from alexspec.runtime.data import fashion  # noqa: E402
from alexspec.runtime.show.filters import filter_grid, kernel_tiles  # noqa: E402
from alexspec.runtime.show.predict import nearest, top_k  # noqa: E402

needs_data = pytest.mark.skipif(not any(fashion.DEFAULT_DIR.glob("*.gz")),
                                reason="Fashion-MNIST (dataset-fashion-mnist) not installed")

# The tests' tiny two-column net, with 5x5 conv1 kernels for the filter tiles and Fashion-MNIST
# resized to 20x20 with 16x16 crops.
TINY = tiny_spec({"net": {"innerSize": "16", "imgSize": "20", "mini": "32", "epochs": "1"},
                  "conv1": {"filterSize": "5", "padding": "2"}})


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """Two training steps of a 2-GPU toy net on 256 Fashion-MNIST images, on the CPU."""
    from alexspec.runtime.report import NullReporter
    from alexspec.runtime.session import RunOptions, run

    d = tmp_path_factory.mktemp("show")
    spec = d / "tiny.cfg"
    spec.write_text(TINY)
    torch.manual_seed(0)
    result = run(RunOptions(spec=str(spec), gpu="cpu", max_batches=2, train_subset=256,
                            test_subset=32, save_path=str(d / "run")), NullReporter())
    assert result.checkpoint is not None
    return Path(result.checkpoint)


# ----------------------------------------------------------------------------- pure parts


def test_figure3_layout_48_plus_48_kernels_in_three_rows_each():
    cols = [("conv1a", 0, torch.randn(48, 3, 11, 11)), ("conv1b", 1, torch.randn(48, 3, 11, 11))]
    grid = filter_grid(cols)
    assert [(b.name, b.gpu, b.kernels, b.tiles, b.rows, b.cols) for b in grid.blocks] == [
        ("conv1a", 0, 48, 48, 3, 16), ("conv1b", 1, 48, 48, 3, 16)]
    assert grid.rgb and grid.tile == (11, 11)
    # 3 rows of 11-pixel tiles with 1-pixel gaps per block, and a 4-pixel gap between the blocks
    assert grid.image.shape == (2 * (3 * 12 + 1) + 4, 16 * 12 + 1, 3)
    assert grid.blocks[1].top == 3 * 12 + 1 + 4
    assert grid.image.min() >= 0 and grid.image.max() <= 1


def test_kernel_tiles_scale_each_kernel_to_unit_range():
    w = torch.randn(6, 3, 5, 5, dtype=torch.float64)
    w[2] = 7.0  # a constant kernel shows as mid grey
    tiles, rgb, shown = kernel_tiles(w)
    assert rgb and shown == 3 and tiles.shape == (6, 5, 5, 3)
    for i in (0, 5):
        k = w[i]
        expected = ((k - k.min()) / (k.max() - k.min())).permute(1, 2, 0).numpy()
        assert abs(tiles[i] - expected).max() < 1e-6
        assert tiles[i].min() == 0 and tiles[i].max() == pytest.approx(1)
    assert (tiles[2] == 0.5).all()


def test_kernel_tiles_of_non_rgb_inputs_are_grey_per_channel():
    tiles, rgb, shown = kernel_tiles(torch.randn(4, 5, 3, 3))
    assert not rgb and shown == 5 and tiles.shape == (20, 3, 3, 3)
    assert (tiles[..., 0] == tiles[..., 1]).all() and (tiles[..., 1] == tiles[..., 2]).all()
    grid = filter_grid([("c", 0, torch.randn(4, 5, 3, 3))])
    assert grid.blocks[0].cols % 5 == 0 and grid.blocks[0].tiles == 20


def test_nearest_equals_brute_force_across_chunks_and_ties():
    g = torch.Generator().manual_seed(1)
    bank = torch.randn(300, 7, generator=g)
    bank[150] = bank[10]  # a tie: the lower index comes first
    queries = torch.cat([torch.randn(4, 7, generator=g), bank[10:11] + 1e-3])
    found = nearest(queries, bank, k=6, chunk=64)
    for qi, q in enumerate(queries.double()):
        dist = [(float(torch.sqrt(((q - b.double()) ** 2).sum())), i) for i, b in enumerate(bank)]
        best = sorted(dist)[:6]
        assert found.indices[qi].tolist() == [i for _, i in best]
        assert found.distances[qi].tolist() == pytest.approx([d for d, _ in best], abs=1e-12)
    assert found.indices[4, :2].tolist() == [10, 150]


def test_top_k_sorted_and_equal_to_softmax():
    scores = torch.randn(8, 10, generator=torch.Generator().manual_seed(2))
    top = top_k(scores, 5)
    probs = torch.softmax(scores.double(), 1)
    assert top.classes.shape == (8, 5)
    assert (top.probs[:, :-1] >= top.probs[:, 1:]).all()
    assert torch.equal(top.classes, probs.topk(5, dim=1).indices)
    assert torch.allclose(top.probs, probs.topk(5, dim=1).values)
    labels = top.classes[:, 4].clone()
    labels[0] = [c for c in range(10) if c not in top.classes[0].tolist()][0]
    assert top.contains(labels).tolist() == [False] + [True] * 7


# ----------------------------------------------------------------------------- from a checkpoint


@needs_data
def test_filters_split_by_gpu(ckpt, tmp_path):
    out = tmp_path / "f.png"
    shown = show.show_filters(ckpt, "conv1", out, gpu="cpu")
    assert [(b.name, b.gpu, b.kernels, b.rows) for b in shown.grid.blocks] == [
        ("conv1a", 0, 16, 1), ("conv1b", 1, 16, 1)]
    assert _png_size(out) == shown.size
    # the tiles are the checkpoint's kernels, each scaled to [0, 1]
    state = torch.load(ckpt, weights_only=True)["model"]
    w = state["layers.conv1b.weights.0"][3].double()
    expected = ((w - w.min()) / (w.max() - w.min())).permute(1, 2, 0).numpy()
    b = shown.grid.blocks[1]
    y, x = b.top + 1, 1 + 3 * 6
    assert abs(shown.grid.image[y:y + 5, x:x + 5] - expected).max() < 1e-6
    one = show.show_filters(ckpt, "conv1b", tmp_path / "g.png", gpu="cpu")
    assert [(b.name, b.gpu) for b in one.grid.blocks] == [("conv1b", 1)]


@needs_data
@pytest.mark.parametrize("layer,match", [("fc3", "not one"), ("nope", "no layer")])
def test_filters_of_a_wrong_layer_is_a_clear_error(ckpt, tmp_path, layer, match):
    with pytest.raises(RunError, match=match):
        show.show_filters(ckpt, layer, tmp_path / "x.png", gpu="cpu")


@needs_data
def test_predictions_top5_of_the_model(ckpt, tmp_path):
    out = tmp_path / "p.png"
    shown = show.show_predictions(ckpt, out, gpu="cpu")
    assert shown.top.classes.shape == (8, 5) and len(shown.picked) == 8
    assert (shown.top.probs[:, :-1] >= shown.top.probs[:, 1:]).all()
    assert _png_size(out) == shown.size
    # recompute independently: the centre crop through the restored model
    r = show.restore(ckpt, "cpu")
    from alexspec.runtime.data import open_data

    images, _ = open_data(None, r.img_size).val.get(shown.picked)
    with torch.no_grad():
        probs = torch.softmax(r.model(r.augment.views(images, r.stats, False)[0]).double(), 1)
    assert torch.allclose(shown.top.probs, probs.topk(5, 1).values, atol=1e-6)


@needs_data
def test_neighbours_sorted_and_equal_to_brute_force(ckpt, tmp_path):
    out = tmp_path / "n.png"
    shown = show.show_neighbours(ckpt, out, gpu="cpu", search=300)
    assert shown.extra["features"] == ("drop3a", "drop3b") and shown.extra["searched"] == 300
    found = shown.neighbours
    assert found.indices.shape == (5, 6)
    assert (found.distances[:, :-1] <= found.distances[:, 1:]).all()
    assert _png_size(out) == shown.size
    r = show.restore(ckpt, "cpu")
    from alexspec.runtime.data import open_data

    ds = open_data(None, r.img_size)
    bank = show.features(r, ds.train.get(torch.arange(300))[0], ("drop3a", "drop3b"))
    q = shown.extra["query_features"]
    assert bank.shape[1] == q.shape[1] == 64
    for i in range(5):
        d = torch.linalg.norm(bank - q[i], dim=1)
        order = sorted(range(300), key=lambda j: (float(d[j]), j))[:6]
        assert found.indices[i].tolist() == order
        assert torch.allclose(found.distances[i], d[order])
    assert "first 300 of 60,000" in shown.message


@needs_data
def test_cli_show_default_output_and_bad_checkpoint(ckpt, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["show", str(ckpt.parent), "--filters", "conv1", "--gpu", "cpu"]) == 0
    expected = tmp_path / f"{ckpt.stem}-filters.png"
    assert expected.exists() and str(expected.name) in capsys.readouterr().out
    assert main(["show", str(tmp_path / "missing.pt"), "--preds"]) == 1
    err = capsys.readouterr().err
    assert "missing.pt" in err and "Traceback" not in err
