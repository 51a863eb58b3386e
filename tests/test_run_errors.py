"""Bad run input gets a clear, located RunError (exit 1 from the CLI), never a traceback: damaged
or incomplete checkpoints, out-of-range options, resumes that do not fit, broken data; and the
checkpoint directory stays one timeline after a resume from an older checkpoint."""

from __future__ import annotations

import math
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from alexspec.errors import RunError, SpecError
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.report import NullReporter
from alexspec.runtime import session
from alexspec.runtime.session import RunOptions, run
from tests.test_runtime_helpers import cli, write_fashion_like, write_spec


class Infos(NullReporter):
    """A silent reporter that keeps the info lines."""

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []

    def info(self, text: str) -> None:
        self.infos.append(text)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(spec, data, run dir) after 4 steps with a test and checkpoint after each."""
    d = tmp_path_factory.mktemp("trained")
    spec, data = write_spec(d), write_fashion_like(d / "data")
    out = d / "run"
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=4, test_freq=1, test_subset=16,
                   save_path=str(out)), NullReporter())
    assert [ckpt.checkpoint_step(p) for p in ckpt.list_checkpoints(out)] == [2, 3, 4]
    return spec, data, out


def _edited(src: Path, dest: Path, edit) -> Path:
    """A copy of checkpoint `src` whose plain data went through `edit(dict)`."""
    c = ckpt.read(src)
    edit(c)
    ckpt.atomic_save(c, dest)
    return dest


# ----------------------------------------------------------------- item 1: a checked Checkpoint

@pytest.mark.parametrize("drop", ["settings", "arch_hash", "train.plateau", "data.location", "stats.mean"])
def test_a_checkpoint_missing_a_field_is_a_located_run_error(trained, tmp_path, drop):
    _, _, out = trained
    head, _, key = drop.rpartition(".")

    def edit(c):
        (c[head] if head else c).pop(key)

    p = _edited(ckpt.list_checkpoints(out)[-1], tmp_path / "ckpt-00000004.pt", edit)
    with pytest.raises(RunError) as e:
        ckpt.load_file(p)
    assert str(p) in str(e.value) and f"'{drop}'" in str(e.value)
    if drop == "settings":  # and from the command line (one process is enough)
        r = cli("test", str(p), "--gpu", "cpu")
        assert r.returncode == 1 and f"'{drop}'" in r.stderr and "Traceback" not in r.stderr


def test_loaded_checkpoint_is_typed(trained):
    _, _, out = trained
    c = ckpt.load_file(ckpt.list_checkpoints(out)[-1])
    assert c.step == c.train.step == 4 and c.train.train_images == 256
    assert c.settings.mini == 16 and c.settings.inner_size == 12 and c.data.name == "fashion-mnist"


# ----------------------------------------------------------------- items 3, 9: one restore path

def test_code_keys_in_a_stored_spec_are_not_allowed(trained, tmp_path):
    _, _, out = trained

    def edit(c):
        c["spec_text"] = c["spec_text"].replace("[fc3]\n", "[fc3]\ninitWFunc=evil.make\n")

    p = _edited(ckpt.list_checkpoints(out)[-1], tmp_path / "ckpt-00000004.pt", edit)
    with pytest.raises(RunError, match="no longer loads"):
        session.test(str(p), NullReporter(), gpu="cpu", limit=8)


def test_test_and_show_agree_on_missing_training_data(trained, tmp_path):
    pytest.importorskip("matplotlib")
    from alexspec.runtime import show

    _, _, out = trained

    def edit(c):
        c["data"]["name"], c["data"]["location"] = "cifar-10", str(tmp_path / "gone")

    p = _edited(ckpt.list_checkpoints(out)[-1], tmp_path / "ckpt-00000004.pt", edit)
    with pytest.raises(RunError, match="pass --data"):
        session.test(str(p), NullReporter(), gpu="cpu", limit=8)
    with pytest.raises(RunError, match="pass --data"):
        show.show_predictions(p, tmp_path / "p.png", gpu="cpu")


def test_test_uses_the_training_directory_when_it_exists(trained):
    _, data, out = trained
    r = session.test(str(out), NullReporter(), gpu="cpu", limit=8)
    assert str(data) in r.data and r.step == 4


# ----------------------------------------------------------------- item 10: the params file

def test_an_unreadable_params_file_is_named_as_the_params_file(tmp_path):
    spec = write_spec(tmp_path)
    with pytest.raises(SpecError) as e:
        run(RunOptions(str(spec), layer_params=str(tmp_path / "missing.cfg"), gpu="cpu"), NullReporter())
    assert "cannot read the layer params file" in str(e.value) and "missing.cfg" in str(e.value)


# ----------------------------------------------------------------- items 11, 20: option bounds

@pytest.mark.parametrize("field,value,option", [
    ("mini", 0, "--mini"), ("mini", -5, "--mini"), ("epochs", -1.0, "--epochs"),
    ("epochs", math.inf, "--epochs"), ("test_freq", -1, "--test-freq"), ("max_batches", 0, "--max-batches"),
    ("train_subset", 0, "--train-subset"), ("test_subset", 0, "--test-subset"),
    ("color_noise", -1.0, "--color-noise"), ("log_every", 0, "--log-every")])
def test_out_of_range_options_are_refused_naming_the_option(tmp_path, field, value, option):
    spec = write_spec(tmp_path)
    with pytest.raises(RunError) as e:
        run(RunOptions(str(spec), gpu="cpu", save_path=str(tmp_path / "r"), **{field: value}), NullReporter())
    assert e.value.where == option and str(value) in str(e.value)
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_cli_mini_zero_and_bad_test_and_show_counts_exit_1(trained, tmp_path):
    spec, _, out = trained
    r = cli("run", str(spec), "--gpu", "cpu", "--mini", "0", "--save-path", str(tmp_path / "r"))
    assert r.returncode == 1 and "--mini" in r.stderr and "Traceback" not in r.stderr
    r = cli("test", str(out), "--gpu", "cpu", "--test-subset", "0")
    assert r.returncode == 1 and "--test-subset" in r.stderr and "Traceback" not in r.stderr
    r = cli("show", str(out), "--neighbors", "--gpu", "cpu", "--search", "-3")
    assert r.returncode == 1 and "--search" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------- item 12: one timeline

def test_resuming_an_older_checkpoint_sets_the_newer_ones_aside(trained, tmp_path):
    spec, data, src = trained
    out = tmp_path / "run"
    shutil.copytree(src, out)
    rep = NullReporter()
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=3, test_subset=16,
                   load_file=str(out / ckpt.checkpoint_name(2))), rep)
    assert sorted(ckpt.checkpoint_step(p) for p in (out / "earlier-1").glob("ckpt-*.pt")) == [3, 4]
    assert any("past step 2" in w for w in rep.warnings)
    path, c = ckpt.resolve(out)  # --load-file DIR now finds the new timeline's step 3
    assert c.step == 3 and [r.step for r in c.history if r.kind == "test"] == [1, 2, 3]


def test_resuming_into_another_directory_sets_its_checkpoints_aside(trained, tmp_path):
    spec, data, src = trained
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(src / ckpt.checkpoint_name(4), other / ckpt.checkpoint_name(9))  # another run's
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=3, test_subset=16,
                   load_file=str(src / ckpt.checkpoint_name(2)), save_path=str(other)), NullReporter())
    assert [ckpt.checkpoint_step(p) for p in (other / "earlier-1").glob("ckpt-*.pt")] == [9]
    assert ckpt.resolve(other)[1].step == 3


# ----------------------------------------------------------------- items 22, 23: what a resume keeps

def test_resume_keeps_the_specs_plateau_limits_and_the_checkpoints_position(tmp_path, monkeypatch):
    from alexspec.runtime.train import RunResult, Trainer

    spec = write_spec(tmp_path, eps="plateau[base=0.01;factor=10;maxDrops=3]")
    data = write_fashion_like(tmp_path / "data")
    out = tmp_path / "run"
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=1, test_subset=16,
                   save_path=str(out)), NullReporter())
    p = ckpt.list_checkpoints(out)[-1]
    _edited(p, p, lambda c: c["train"]["plateau"].update(drops=2, best=0.25, since=0.5))
    spec.write_text(spec.read_text().replace("maxDrops=3", "maxDrops=4"))
    seen = []
    monkeypatch.setattr(Trainer, "run", lambda self: seen.append(self) or RunResult(0, None, None))
    run(RunOptions(str(spec), data=str(data), gpu="cpu", load_file=str(out),
                   overrides={"plateau_patience": 5}), NullReporter())
    pl = seen[0].plateau
    assert (pl.max_drops, pl.patience) == (4, 5)  # the spec's maxDrops, the command line's patience
    assert (pl.drops, pl.best, pl.since) == (2, 0.25, 0.5)  # the checkpoint's position


@pytest.mark.parametrize("change,words", [({"mini": 32}, ["minibatch 16", "minibatch 32"]),
                                          ({"train_subset": 128}, ["256", "128"])])
def test_resume_with_another_minibatch_or_subset_is_refused(trained, change, words):
    spec, data, out = trained
    with pytest.raises(RunError) as e:
        run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=5, load_file=str(out),
                       save_path=str(out.parent / "elsewhere"), **change), NullReporter())
    assert all(w in str(e.value) for w in words) and "checkpoint" in str(e.value)


# ----------------------------------------------------------------- item 13: rank 0 writes

def _rank_trainer(trained, tmp_path, monkeypatch, rank: int, gather):
    """A Trainer that believes it is process `rank` of 2; `gather` stands in for all_gather_object."""
    import torch.distributed as td

    import alexspec
    from alexspec.compiler import build, distributed
    from alexspec.compiler.distributed import DistContext
    from alexspec.runtime.data import open_data
    from alexspec.runtime.train import Provenance, Trainer
    from alexspec.settings import RunSettings

    spec, data, _ = trained
    monkeypatch.setattr(distributed, "wrap", lambda model, ctx: model)  # no process group here
    monkeypatch.setattr(td, "all_gather_object", gather)
    model = build(alexspec.load(str(spec)), "cpu", seed=0)
    ds = open_data(str(data), 14)
    cfg = RunSettings(mini=16, epochs=1, img_size=14, inner_size=12)
    prov = Provenance("", str(spec), None, None, ds.name, ds.location)
    return Trainer(model, ds, ds.train, cfg, NullReporter(), prov, save_path=tmp_path / "r",
                   dist=DistContext(rank=rank, world_size=2))


def _each_rank_itself(out, obj):
    """all_gather_object with one process: each "rank" is itself."""
    out[:] = [obj] * len(out)


def test_only_rank_0_writes_metrics(trained, tmp_path, monkeypatch):
    rank1 = _rank_trainer(trained, tmp_path, monkeypatch, 1, _each_rank_itself)
    assert rank1.save() is None and not (tmp_path / "r" / "metrics.jsonl").exists()
    _rank_trainer(trained, tmp_path, monkeypatch, 0, _each_rank_itself)
    assert (tmp_path / "r" / "metrics.jsonl").exists()


def test_every_rank_reports_the_checkpoint_rank_0_saved(trained, tmp_path, monkeypatch):
    """Issue 8: on a multi-process run each process's closing line names what rank 0 saved."""
    from pathlib import Path

    saved_by_rank0 = str(tmp_path / "r" / "ckpt-00000007.pt")

    def gather(out, obj):  # rank 0 sends the path it wrote; this process is rank 1
        out[:] = [saved_by_rank0 if isinstance(obj, (str, type(None))) else obj, obj]

    rank1 = _rank_trainer(trained, tmp_path, monkeypatch, 1, gather)
    assert rank1.save() == Path(saved_by_rank0)
    assert not list((tmp_path / "r").glob("ckpt-*.pt"))  # rank 1 itself wrote nothing


# ----------------------------------------------------------------- item 14: equal shards

def test_a_batch_that_does_not_divide_over_the_processes_is_refused():
    from alexspec.compiler.distributed import DistContext, check_batch, shard

    ctx = DistContext(rank=1, world_size=2)
    assert shard(torch.arange(8), ctx).tolist() == [4, 5, 6, 7]
    with pytest.raises(RunError) as e:
        shard(torch.arange(7), ctx)
    assert e.value.where == "--mini" and "7" in str(e.value)
    with pytest.raises(RunError):
        check_batch(1, DistContext(rank=0, world_size=4))  # an empty share
    check_batch(5, DistContext())  # one process: anything goes


# ----------------------------------------------------------------- item 15: failed writes

def test_a_failing_torch_save_is_a_run_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    def full_disk(obj, f):
        f.write(b"partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(ckpt.torch, "save", full_disk)
    with pytest.raises(RunError) as e:
        ckpt.atomic_save({"format": ckpt.FORMAT}, tmp_path / "ckpt-00000001.pt")
    assert "cannot write checkpoint" in str(e.value) and "ckpt-00000001.pt" in str(e.value)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- items 16-18: broken data

def test_statistics_over_unreadable_images_name_the_data():
    from alexspec.runtime.augment import compute_stats

    class Broken:
        labels = torch.zeros(4, dtype=torch.long)

        def __len__(self):
            return 4

        def get(self, idx):
            return torch.empty(0, 3, 8, 8, dtype=torch.uint8), self.labels[:0]

    with pytest.raises(RunError) as e:
        compute_stats(Broken(), 8, "image", where="some/data")
    assert e.value.where == "some/data" and "could be read" in str(e.value)


def _tree(root: Path, n: int = 2) -> None:
    PIL = pytest.importorskip("PIL.Image")
    for split in ("train", "val"):
        for c, color in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                PIL.new("RGB", (20, 20), color).save(root / split / c / f"{i}.png")


@pytest.mark.parametrize("damage", ["index", "shard", "labels"])
def test_a_damaged_pack_says_to_repack(tmp_path, damage):
    from alexspec.runtime.data import folder

    _tree(tmp_path)
    folder.open_folder(tmp_path, 16, pack=True)
    packs = tmp_path / ".alexspec-shards-16"
    if damage == "index":
        (packs / "train.json").write_text("{not json")
    elif damage == "shard":
        (packs / "train-0000.npy").unlink()
    else:
        (packs / "train-labels.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(RunError) as e:
        folder.open_folder(tmp_path, 16)
    assert "delete the folder to repack" in str(e.value) and str(packs) in str(e.value)


def test_a_stale_pack_is_refused_or_repacked(tmp_path):
    from alexspec.runtime.data import folder

    _tree(tmp_path)
    assert len(folder.open_folder(tmp_path, 16, pack=True).train) == 4
    _tree(tmp_path, n=3)  # one more image per class
    with pytest.raises(RunError) as e:
        folder.open_folder(tmp_path, 16)
    assert "made from 4 files" in str(e.value) and "holds 6" in str(e.value)
    assert len(folder.open_folder(tmp_path, 16, pack=True).train) == 6
    assert len(folder.open_folder(tmp_path, 16).train) == 6


def _cifar(root: Path, batch) -> None:
    for i in range(1, 6):
        (root / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    (root / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))


@pytest.mark.parametrize("batch,words", [
    ([1, 2, 3], "not a dict"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 10]}, "labels 3..10"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 0]}, "labels -1..0")])
def test_a_bad_cifar_batch_is_named(tmp_path, batch, words):
    from alexspec.runtime.data import cifar

    _cifar(tmp_path, batch)
    with pytest.raises(RunError) as e:
        cifar.open_cifar10(tmp_path)
    assert words in str(e.value) and "data_batch_1" in str(e.value)


# ----------------------------------------------------------------- item 19: dataPath

def test_data_path_in_the_spec_is_relative_to_the_spec_file(tmp_path, monkeypatch):
    d = tmp_path / "exp"
    d.mkdir()
    spec = write_spec(d)
    spec.write_text(spec.read_text().replace("[net]\ntype=net\n", "[net]\ntype=net\ndataPath=mydata\n"))
    write_fashion_like(d / "mydata")
    monkeypatch.chdir(tmp_path)  # not the spec's directory
    rep = Infos()
    run(RunOptions(str(spec.relative_to(tmp_path)), gpu="cpu", max_batches=1, test_subset=8,
                   save_path="r"), rep)
    assert any(line.startswith("fashion-mnist from exp/mydata") for line in rep.infos), rep.infos


def test_data_provider_that_does_not_match_the_data_is_refused(tmp_path):
    spec = write_spec(tmp_path)
    write_fashion_like(tmp_path / "d")
    spec.write_text(spec.read_text().replace("[net]\ntype=net\n", "[net]\ntype=net\ndataPath=d\n"
                                             "dataProvider=cifar\n"))
    with pytest.raises(RunError) as e:
        run(RunOptions(str(spec), gpu="cpu", max_batches=1, save_path=str(tmp_path / "r")), NullReporter())
    assert "dataProvider=cifar" in str(e.value) and "fashion-mnist" in str(e.value)


def test_an_infinite_epoch_count_in_the_spec_is_refused(tmp_path):
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace("epochs=4", "epochs=inf"))
    with pytest.raises(SpecError) as e:  # refused by the spec's bounds, located at the key
        run(RunOptions(str(spec), gpu="cpu", save_path=str(tmp_path / "r")), NullReporter())
    assert str(spec) in str(e.value) and "finite" in str(e.value)
