"""Issue 8: runs on the user's own data. Each "What was seen" case of the issue has a test here
(or in test_train.py / test_schedule.py), which failed on the code before the fix."""

from __future__ import annotations

import errno
import importlib.util
import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from alexspec.cli import build_parser, main
from alexspec.errors import RunError
from alexspec.runtime import checkpoint as ckpt
from alexspec.runtime.report import NullReporter
from alexspec.runtime.session import RunOptions, run
from tests.test_runtime_helpers import REPO, write_fashion_like, write_idx, write_spec


def _make_digits():
    spec = importlib.util.spec_from_file_location("make_digits", REPO / "scripts" / "make_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """A held-out image folder: 10 digit classes, 12 training and 4 validation PNGs each."""
    root = tmp_path_factory.mktemp("digits")
    _make_digits().write(root, 12, 4, seed=3)
    return root


class Lines(NullReporter):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    def warn(self, text: str) -> None:
        super().warn(text)
        self.lines.append("warning: " + text)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(spec, data, run dir) after 2 steps on a fashion-like IDX folder, with settings given
    on the command line that the resume must restore."""
    d = tmp_path_factory.mktemp("own")
    spec, data = write_spec(d), write_fashion_like(d / "data")
    out = d / "run"
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=2, test_freq=1, test_subset=16,
                   mini=8, train_subset=128, epochs=3, seed=5, save_path=str(out),
                   overrides={"flip": False}), NullReporter())
    return spec, data, out


# ------------------------------------------------------------------ 1: resume is cuda-convnet's -f

def test_resume_restores_the_settings_and_data_without_the_spec(trained, monkeypatch):
    from alexspec.runtime.train import RunResult, Trainer

    _, data, out = trained
    seen = []
    monkeypatch.setattr(Trainer, "run", lambda self: seen.append(self) or RunResult(0, None, None))
    rep = Lines()
    run(RunOptions(None, gpu="cpu", load_file=str(out), epochs=4), rep)
    t = seen[0]
    s = t.cfg
    assert (s.mini, s.train_subset, s.test_subset, s.seed, s.flip, s.test_freq) == (8, 128, 16, 5, False, 1)
    assert s.epochs == 4 and t.data.location == str(data) and len(t.split) == 128
    text = "\n".join(rep.lines)
    assert "--epochs 4 (was 3)" in text  # the header names the override
    assert "restored from the checkpoint" in text and "--mini 8" in text


def test_resume_on_data_that_is_gone_is_refused_naming_it(trained, tmp_path):
    spec, data, out = trained
    moved = tmp_path / "moved"
    data.rename(moved)
    try:
        with pytest.raises(RunError) as e:
            run(RunOptions(None, gpu="cpu", load_file=str(out), max_batches=3), NullReporter())
        assert str(data) in str(e.value) and "--data" in str(e.value)
    finally:
        moved.rename(data)


def test_resume_on_other_data_needs_data_and_the_header_says_so(trained, tmp_path, monkeypatch):
    """What was seen: a resume without --data went on training on Fashion-MNIST without a word."""
    from alexspec.runtime.train import RunResult, Trainer

    spec, data, out = trained
    other = write_fashion_like(tmp_path / "other", n_train=128)
    monkeypatch.setattr(Trainer, "run", lambda self: RunResult(0, None, None))
    rep = Lines()
    run(RunOptions(str(spec), data=str(other), gpu="cpu", load_file=str(out)), rep)
    assert any("--data: training on" in x and str(other) in x and str(data) in x for x in rep.lines)


def test_a_resume_refused_for_its_minibatch_names_the_option(trained):
    _, _, out = trained
    with pytest.raises(RunError) as e:
        run(RunOptions(None, gpu="cpu", load_file=str(out), mini=16), NullReporter())
    assert "minibatch 8" in str(e.value) and "--mini" in str(e.value)


# ------------------------------------------------------------------ 2: subsets that represent the data

def test_test_subset_on_an_image_folder_covers_every_class(digits, tmp_path):
    """What was seen: --test-subset 30 took the first 30 files in class order: one class."""
    from alexspec.runtime.data.base import covered, subset_indices

    labels = torch.arange(10).repeat_interleave(100)  # sorted by class, as a folder lists them
    keep = subset_indices(labels, 30, seed=0)
    assert len(keep) == 30 and covered(labels[keep]) == 10
    assert torch.bincount(labels[keep]).tolist() == [3] * 10
    assert torch.equal(keep, subset_indices(labels, 30, seed=0))  # seeded
    assert not torch.equal(keep, subset_indices(labels, 30, seed=1))
    spec = write_spec(tmp_path)
    rep = Lines()
    res = run(RunOptions(str(spec), data=str(digits), gpu="cpu", max_batches=1, test_subset=20,
                         train_subset=50, save_path=str(tmp_path / "r")), rep)
    assert res.last_test.images == 20
    head = rep.lines[0]
    assert "validating on a stratified subset of 20 (10 classes)" in head
    assert "training on a stratified subset of 50 (10 classes)" in head


# ------------------------------------------------------------------ 3: the run says what it will do

def spec_mini(spec) -> int:
    import alexspec

    return alexspec.load(str(spec)).settings.mini


def test_the_header_lists_augmentation_updates_classes_and_warns(digits, tmp_path):
    """What was seen: 33 updates and 85% error with no hint."""
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace("outputs=10", "outputs=16"))
    rep = Lines()
    run(RunOptions(str(spec), data=str(digits), gpu="cpu", max_batches=1, test_subset=10,
                   save_path=str(tmp_path / "r")), rep)
    text = "\n".join(rep.lines)
    assert "optimizer updates" in text and "random 12x12 crops" in text and "flips on (--no-flip)" in text
    assert "stored 32x32 scaled to 14x14" in text and "colour noise std 0.1" in text
    assert "classes: 10 in the data, 16 outputs in the net" in text
    few = [w for w in rep.warnings if "optimizer updates" in w]
    assert few and "--epochs" in few[0] and "gives" in few[0]
    # The fix keeps the spec's minibatch: its learning rates were set for it (at the mini spec's
    # rates, minibatch 32 on a digits folder stayed at chance for 4 epochs; 128 learns).
    assert "--mini" not in few[0] and f"at minibatch {spec_mini(spec)}" in few[0]
    assert any("16 outputs for 10 classes" in w and "outputs=10" in w for w in rep.warnings)


def test_flips_and_crops_switch_on_the_command_line():
    p = build_parser()
    a = p.parse_args(["run", "x.cfg", "--no-flip", "--no-crop", "--plateau-patience", "5"])
    assert (a.flip, a.crop, a.plateau_patience) == (False, False, 5.0)
    assert p.parse_args(["run", "x.cfg"]).flip is None  # not given: the spec's (or checkpoint's)


# ------------------------------------------------------------------ 5: a live cost plot

def test_cost_png_is_drawn_after_every_test_and_show_cost_draws_it(tmp_path, capsys):
    """What was seen: cost.png existed only after a run ended."""
    spec, data = write_spec(tmp_path), write_fashion_like(tmp_path / "data")
    out = tmp_path / "r"
    seen = []

    class Watch(NullReporter):
        def saved(self, path):
            seen.append((out / "cost.png").exists())

    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=2, test_freq=1, test_subset=8,
                   save_path=str(out)), Watch())
    assert seen == [True, True]
    png = tmp_path / "c.png"
    assert main(["show", str(out), "--cost", "-o", str(png)]) == 0
    assert png.stat().st_size > 1000 and "2 validation records" in capsys.readouterr().out


# ------------------------------------------------------------------ 6: nothing lost, nothing corrupt accepted

def test_a_checkpoint_with_flipped_bytes_is_refused(trained, tmp_path):
    _, _, out = trained
    p = tmp_path / "ckpt-00000002.pt"
    raw = bytearray(ckpt.list_checkpoints(out)[-1].read_bytes())
    ckpt.load_file(ckpt.list_checkpoints(out)[-1])
    mid = int(len(raw) * 0.6)
    raw[mid:mid + 4096] = bytes(b ^ 0x5A for b in raw[mid:mid + 4096])
    p.write_bytes(bytes(raw))
    with pytest.raises(RunError) as e:
        ckpt.load_file(p)
    assert str(p) in str(e.value) and ("hash" in str(e.value) or "damaged" in str(e.value))


def test_a_single_flipped_weight_byte_is_refused(trained, tmp_path):
    _, _, out = trained
    c = ckpt.read(ckpt.list_checkpoints(out)[-1])
    w = next(iter(c["model"].values()))
    w.view(-1)[0] = w.view(-1)[0] + 1.0  # changed after the hash was computed
    p = tmp_path / "ckpt-00000002.pt"
    torch.save(c, p)
    with pytest.raises(RunError, match="does not match its hash"):
        ckpt.load_file(p)


def test_a_second_run_on_the_same_save_path_is_refused_naming_the_first(tmp_path):
    """What was seen: two runs into one --save-path deleted each other's checkpoints."""
    from alexspec.runtime.lock import SavePathLock

    spec = write_spec(tmp_path)
    out = tmp_path / "r"
    out.mkdir()
    with SavePathLock(out):
        with pytest.raises(RunError) as e:
            run(RunOptions(str(spec), gpu="cpu", max_batches=1, save_path=str(out)), NullReporter())
    assert f"process {os.getpid()}" in str(e.value) and str(out) in str(e.value)


def test_a_stale_lock_is_taken_over_and_leftover_temporaries_are_removed(tmp_path):
    """What was seen: interrupted writes left ckpt-*.pt.tmp-<pid> files forever."""
    spec, data = write_spec(tmp_path), write_fashion_like(tmp_path / "data")
    out = tmp_path / "r"
    out.mkdir()
    (out / ".lock").write_text("999999\n")  # a killed run's: no process holds the flock
    left = out / "ckpt-00000007.pt.tmp-999999"
    left.write_bytes(b"half a checkpoint")
    rep = NullReporter()
    run(RunOptions(str(spec), data=str(data), gpu="cpu", max_batches=1, test_subset=8,
                   save_path=str(out)), rep)
    assert not left.exists() and any(str(left) in w for w in rep.warnings)


SIGHUP_CHILD = """
import os, signal, sys
from alexspec.runtime.signals import StopFlag
with StopFlag() as f:
    os.kill(os.getpid(), signal.SIGHUP)
    print("alive", f.requested, f.signal == signal.SIGHUP, flush=True)
"""


def test_sighup_sets_the_stop_flag_instead_of_killing_the_run():
    """What was seen: SIGHUP killed the run with no save."""
    r = subprocess.run([sys.executable, "-c", SIGHUP_CHILD], capture_output=True, text=True, timeout=60,
                       cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == "alive True True", (r.returncode, r.stderr)


def test_a_stop_signal_ends_a_validation_pass_at_its_next_batch(trained):
    """What was seen: a signal during a 10,000-image validation waited 12 s."""
    from alexspec.runtime.evaluate import evaluate

    calls = []

    class Split:
        labels = torch.zeros(10_000, dtype=torch.long)

        def __len__(self):
            return 10_000

        def get(self, idx):
            calls.append(len(idx))
            return torch.zeros(len(idx), 3, 14, 14, dtype=torch.uint8), self.labels[idx]

    from alexspec.runtime.augment import Augment, DataStats

    stats = DataStats(torch.zeros(3, 14, 14), torch.eye(3), torch.zeros(3))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 12 * 12, 10))
    asked = iter([False, False, True])
    assert evaluate(model, Split(), Augment(14, 12), stats, batch=100, should_stop=lambda: next(asked)) is None
    assert calls == [100, 100]


# ------------------------------------------------------------------ 7: bad input, clear errors

def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("args,where", [
    (["--seed", str(10**23)], "--seed"), (["--gpu", "mps"], "--gpu"),
    (["--inner-size", "100000"], "--inner-size"), (["--mini", "100000"], "--mini"),
    (["--plateau-patience", "0"], "--plateau-patience")])
def test_out_of_range_options_exit_1_naming_the_option(tmp_path, capsys, args, where):
    spec = write_spec(tmp_path)
    assert main(["run", str(spec), "--save-path", str(tmp_path / "r"), *args]) == 1
    err = _err(capsys)
    assert err.startswith(where + ":") and len(err.strip().splitlines()) <= 2


def test_seed_1e23_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", str(write_spec(tmp_path)), "--seed", "1e23"])
    assert e.value.code == 2 and "--seed" in _err(capsys)


@pytest.mark.parametrize("kind", ["file", "devnull", "proc", "readonly"])
def test_a_save_path_that_cannot_hold_checkpoints_is_one_line(tmp_path, capsys, kind):
    spec, data = write_spec(tmp_path), write_fashion_like(tmp_path / "data")
    if kind == "file":
        save = tmp_path / "afile"
        save.write_text("x")
    elif kind == "devnull":
        save = Path("/dev/null")
    elif kind == "proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc")
        save = Path("/proc/alexspec-run")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only directories")
        save = tmp_path / "ro"
        save.mkdir()
        save.chmod(0o555)
    code = main(["run", str(spec), "--data", str(data), "--gpu", "cpu", "--max-batches", "1",
                 "--save-path", str(save)])
    err = _err(capsys)
    assert code == 1 and str(save) in err and "save-path" in err


class _FullDisk(io.RawIOBase):
    """A file that takes `room` bytes and then fails like a full disk."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def writable(self):
        return True

    def write(self, b):
        if len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return self.f.write(b)

    def fileno(self):
        return self.f.fileno()

    def flush(self):
        if not self.f.closed:
            self.f.flush()

    def close(self):
        if not self.f.closed:
            self.f.close()
        super().close()


def test_a_full_disk_at_a_checkpoint_says_so_and_keeps_the_previous_one(tmp_path, monkeypatch):
    """What was seen: torch's 'unexpected pos', not 'no space left on device'."""
    obj = {"format": ckpt.FORMAT, "step": 1, "w": torch.ones(64, 1024)}
    ckpt.save(obj, tmp_path, 1, keep=3)
    real_open = Path.open

    def full(self, mode="r", *a, **k):
        f = real_open(self, mode, *a, **k)
        return _FullDisk(f, 4096) if "w" in mode and ".tmp-" in self.name else f

    monkeypatch.setattr(Path, "open", full)
    with pytest.raises(RunError) as e:
        ckpt.save({**obj, "step": 2}, tmp_path, 2, keep=3)
    monkeypatch.undo()
    assert "no space left on device" in str(e.value) and "unexpected pos" not in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-00000001.pt"]
    assert ckpt.read(tmp_path / "ckpt-00000001.pt")["step"] == 1


def test_a_full_disk_during_a_metrics_write_is_a_run_error(tmp_path, monkeypatch):
    from alexspec.runtime.metrics import MetricsLog, TrainRecord

    log = MetricsLog(tmp_path / "metrics.jsonl")
    real_open = Path.open

    def full(self, mode="r", *a, **k):
        if self.name == "metrics.jsonl" and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, mode, *a, **k)

    monkeypatch.setattr(Path, "open", full)
    with pytest.raises(RunError) as e:
        log.add(TrainRecord(1, 0.1, 2.3, 0.9, 0.5, 16, 0.01))
    assert "no space left on device" in str(e.value) and "metrics.jsonl" in str(e.value)


def _png(path: Path, w: int, h: int) -> None:
    """A tiny PNG file whose header claims w x h pixels (a decompression bomb)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_skipped_and_counted(tmp_path):
    from alexspec.runtime.data.folder import FolderSplit

    from PIL import Image

    bomb, good = tmp_path / "bomb.png", tmp_path / "good.png"
    _png(bomb, 20_000, 20_000)
    Image.new("RGB", (16, 16), (10, 200, 30)).save(good)
    skipped = []
    split = FolderSplit([bomb, good], torch.tensor([0, 1]), 14, on_skip=lambda f, why: skipped.append(f))
    images, labels = split.get(torch.tensor([0, 1]))
    assert labels.tolist() == [1] and split.skipped == 1 and skipped == [str(bomb)]


def test_16_bit_and_palette_pngs_are_converted_not_saturated(tmp_path):
    """What was seen: 98% of a 16-bit PNG's pixels became 255."""
    from alexspec.runtime.data.folder import decode

    from PIL import Image

    a = np.full((16, 16), 32768, dtype=np.uint16)
    a[:8] = 16384
    Image.fromarray(a).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    x = decode(tmp_path / "g16.png", 16)
    assert abs(int(x[0, 12, 0]) - 128) <= 1 and abs(int(x[0, 2, 0]) - 64) <= 1
    p = Image.new("P", (16, 16))
    p.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    p.paste(1, (0, 0, 16, 16))
    p.save(tmp_path / "pal.png")
    assert decode(tmp_path / "pal.png", 16)[:, 5, 5].tolist() == [200, 100, 50]


def test_a_crafted_img_size_in_a_checkpoint_is_refused_before_allocating(trained, tmp_path):
    _, _, out = trained
    c = ckpt.read(ckpt.list_checkpoints(out)[-1])
    c["settings"]["img_size"] = 10**7
    p = tmp_path / "ckpt-00000002.pt"
    ckpt.atomic_save(c, p)
    with pytest.raises(RunError) as e:
        ckpt.load_file(p)
    assert "settings.img_size" in str(e.value) and str(p) in str(e.value)


def test_a_gzip_idx_bomb_is_refused_on_its_header(tmp_path, monkeypatch):
    """What was seen: a 14 MB gzip IDX holding 3 GB was inflated."""
    from alexspec.runtime.data import fashion

    monkeypatch.setattr(fashion, "MAX_IDX_BYTES", 2**20, raising=False)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(p, np.zeros((3000, 28, 28), dtype=np.uint8))  # 2.3 MB inflated, 2 KB on disk
    with pytest.raises(RunError) as e:
        fashion.read_idx(p)
    assert "header promises" in str(e.value) and "3000x28x28" in str(e.value)


SPEC_CHILD = """
import os, sys
from alexspec.cli import main
fifo = sys.argv[1]
os.mkfifo(fifo)
print(main(["check", "/dev/zero"]), main(["run", fifo]), flush=True)
"""


def test_a_spec_that_is_dev_zero_or_a_fifo_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-c", SPEC_CHILD, str(tmp_path / "fifo")], capture_output=True,
                       text=True, timeout=90, cwd=REPO)
    assert r.stdout.split() == ["2", "2"], r.stderr[-500:]
    assert "a device or socket, not a regular file" in r.stderr and "is a FIFO" in r.stderr
    assert "Traceback" not in r.stderr


def test_an_all_corrupt_validation_set_is_an_error(digits, tmp_path):
    """What was seen: exit 0 and 'top-1 error nan%'."""
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(digits, root)
    for f in sorted((root / "val").rglob("*.png")):
        if f.name.endswith("-0000.png"):
            f.write_bytes(b"not a png")  # one unreadable image per class: fewer than 20 in a row
        else:
            f.unlink()
    spec = write_spec(tmp_path)
    with pytest.raises(RunError) as e:
        run(RunOptions(str(spec), data=str(root), gpu="cpu", max_batches=1, save_path=str(tmp_path / "r")),
            NullReporter())
    assert "validation images could be read" in str(e.value)


def test_a_pickle_refused_by_weights_only_gets_an_honest_message(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    p = tmp_path / "ckpt-00000001.pt"
    torch.save({"format": ckpt.FORMAT, "x": Evil()}, p)
    with pytest.raises(RunError) as e:
        ckpt.load_file(p)
    msg = str(e.value)
    assert "truncated" not in msg and "weights_only=False" not in msg and "could run code" in msg
