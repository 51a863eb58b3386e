"""Data providers: IDX, CIFAR-10 batches, image folders (decode, corrupt skip, packing), messages."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch

from alexspec.errors import RunError
from alexspec.runtime.data import open_data
from alexspec.runtime.data import cifar, fashion, folder
from tests.test_runtime_helpers import synthetic_images, write_fashion_like, write_idx

PIL = pytest.importorskip("PIL.Image")


def test_idx_roundtrip_grey_to_rgb(tmp_path):
    write_fashion_like(tmp_path, n_train=20, n_val=8)
    ds = open_data(str(tmp_path), 28)
    assert ds.name == "fashion-mnist" and len(ds.train) == 20 and len(ds.val) == 8
    images, labels = ds.train.get(torch.tensor([0, 3]))
    want, want_labels = synthetic_images(20, 1)
    assert images.shape == (2, 3, 28, 28) and images.dtype == torch.uint8
    for c in range(3):  # grey repeated to three channels
        assert torch.equal(images[:, c], torch.from_numpy(want[[0, 3]]))
    assert labels.tolist() == want_labels[[0, 3]].tolist()


def test_truncated_idx_names_the_file(tmp_path):
    write_fashion_like(tmp_path, n_train=20, n_val=8)
    images, _ = synthetic_images(20, 1)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    raw = (tmp_path / "train-images-idx3-ubyte.gz").read_bytes()
    import gzip

    body = gzip.decompress(raw)[:-100]  # a file cut short
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(body))
    with pytest.raises(RunError) as e:
        open_data(str(tmp_path), 28)
    assert "train-images-idx3-ubyte.gz" in str(e.value) and "header promises" in str(e.value)


def test_missing_dataset_says_how_to_get_one(tmp_path):
    with pytest.raises(RunError) as e:
        fashion.open_fashion_mnist(tmp_path / "nowhere")
    assert "dataset-fashion-mnist" in str(e.value) and "--data" in str(e.value)
    with pytest.raises(RunError) as e:
        open_data(str(tmp_path), 28)  # an empty directory
    assert "no dataset found" in str(e.value) and str(tmp_path) in str(e.value)
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    with pytest.raises(RunError) as e:
        open_data(str(tmp_path), 28)  # class folders without images
    assert "no images found" in str(e.value)


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"x", b"labels": rng.integers(0, 10, n).tolist(),
         b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), b"filenames": [b"a"] * n}
    path.write_bytes(pickle.dumps(d, protocol=2))
    return d


def test_cifar10_batches(tmp_path):
    batches = [_cifar_batch(tmp_path / f"data_batch_{i}", 4, i) for i in range(1, 6)]
    _cifar_batch(tmp_path / "test_batch", 3, 9)
    ds = open_data(str(tmp_path), 32)
    assert ds.name == "cifar-10" and len(ds.train) == 20 and len(ds.val) == 3
    images, labels = ds.train.get(torch.tensor([5]))
    # data_batch_2, row 1: 1024 R then 1024 G then 1024 B, row-major
    want = batches[1][b"data"][1].reshape(3, 32, 32)
    assert torch.equal(images[0], torch.from_numpy(want)) and labels[0] == batches[1][b"labels"][1]


def test_cifar_pickle_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    for i in range(1, 6):
        (tmp_path / f"data_batch_{i}").write_bytes(pickle.dumps({"data": Evil()}))
    (tmp_path / "test_batch").write_bytes(b"")
    with pytest.raises(RunError) as e:
        cifar.open_cifar10(tmp_path)
    assert "refusing to load builtins.print" in str(e.value) and "data_batch_1" in str(e.value)


def _jpeg(path, w, h, color):
    PIL.new("RGB", (w, h), color).save(path, "JPEG", quality=95)


def _tree(root, bad=()):
    for split in ("train", "val"):
        for c, color in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(3):
                _jpeg(d / f"{i}.jpg", 40, 20, color)
    for name, data in bad:
        (root / "train" / "cat" / name).write_bytes(data)


def test_folder_decodes_shorter_side_and_centre_square(tmp_path):
    _tree(tmp_path)
    im = PIL.new("RGB", (40, 20), (0, 0, 0))
    for x in range(10, 30):  # a white centre square on black: survives the centre crop
        for y in range(20):
            im.putpixel((x, y), (255, 255, 255))
    im.save(tmp_path / "train" / "cat" / "wide.png")
    out = folder.decode(tmp_path / "train" / "cat" / "wide.png", 10)
    assert out.shape == (3, 10, 10) and out.dtype == np.uint8
    assert out[:, :, 1:9].min() > 240  # 40x20 -> 20x10 -> centre 10x10 is the white part


def test_corrupt_images_are_skipped_named_and_counted(tmp_path):
    good = io.BytesIO()
    PIL.new("RGB", (40, 40), (1, 2, 3)).save(good, "JPEG")
    _tree(tmp_path, bad=[("truncated.jpg", good.getvalue()[:60]), ("noise.jpg", bytes(range(256)) * 4)])
    skipped = []
    ds = open_data(str(tmp_path), 16, on_skip=lambda f, why: skipped.append((f, why)))
    assert len(ds.train) == 8
    images, labels = ds.train.get(torch.arange(8))
    assert len(images) == 6 and len(labels) == 6 and ds.train.skipped == 2
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in skipped) == ["noise.jpg", "truncated.jpg"]
    assert all(why for _, why in skipped)
    ds.train.get(torch.arange(8))  # same files, same decision, named once
    assert len(skipped) == 2 and ds.train.skipped == 2


def test_too_many_bad_images_in_a_row_stop(tmp_path):
    _tree(tmp_path, bad=[(f"bad{i}.jpg", b"not an image") for i in range(5)])
    ds = folder.open_folder(tmp_path, 16, max_bad_in_row=3)
    with pytest.raises(RunError) as e:
        ds.train.get(torch.arange(len(ds.train)))
    assert "in a row could not be decoded" in str(e.value) and "bad" in str(e.value)


def test_packing_gives_the_decoded_images(tmp_path):
    _tree(tmp_path, bad=[("noise.jpg", b"garbage")])
    plain = folder.open_folder(tmp_path, 16)
    want, want_labels = plain.train.get(torch.arange(len(plain.train)))
    packed = folder.open_folder(tmp_path, 16, pack=True)
    assert (tmp_path / ".alexspec-shards-16" / "train.json").is_file()
    got, labels = packed.train.get(torch.arange(len(packed.train)))
    assert torch.equal(got, want) and torch.equal(labels, want_labels)
    again = folder.open_folder(tmp_path, 16)  # a later run reads the shards
    assert isinstance(again.train, folder.ShardSplit)
    assert torch.equal(again.val.get(torch.tensor([1, 0]))[0], packed.val.get(torch.tensor([1, 0]))[0])
