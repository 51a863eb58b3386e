"""Tests written to catch the bugs issue 12 planted one at a time: each one fails with its bug
applied and passes on the right code, against an independent reference where it computes an
expected value. `tests/planted/bugs.py` lists the bugs as patches and the tests that must catch
them; `tests/test_planted_runner.py` (slow) applies each to a copy of the repository and checks.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import alexspec
import alexspec.pipeline
from alexspec.cli import main
from alexspec.errors import RunError

REPO = Path(__file__).resolve().parents[1]
CC = REPO / "tests" / "specs" / "cuda-convnet"


# ----------------------------------------------------------------------------- checkpoint loads


class _Evil:
    """Unpickling this calls `open(sentinel, "w")`, which creates the sentinel file."""

    def __init__(self, sentinel: Path):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


def test_a_checkpoint_holding_code_is_refused_without_running_it(tmp_path, monkeypatch):
    """The payload is written with the project's own writer (`checkpoint.save`), so whatever
    integrity data a later version adds to a checkpoint is valid and the load reaches
    `torch.load`; a spy proves it did (if a later check refuses the file before `torch.load`,
    this test says so rather than pass without testing the unpickler)."""
    from alexspec.runtime import checkpoint as ckpt

    sentinel = tmp_path / "owned"
    path = ckpt.save({"format": ckpt.FORMAT, "step": 1, "x": _Evil(sentinel)}, tmp_path / "run",
                     1, keep=2)
    loads: list[dict] = []
    real_load = torch.load

    def spy(*a, **k):
        loads.append(k)
        return real_load(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    with pytest.raises(RunError) as e:
        ckpt.load_file(path)
    assert loads, "the loader refused the file before torch.load: the unpickler was not tested"
    assert not sentinel.exists(), "loading a checkpoint ran the code pickled in it"
    text = str(e.value)
    assert str(path) in text
    assert "Python objects" in text and "truncated" not in text, text


# ----------------------------------------------------------------------------- did you mean


def test_the_did_you_mean_names_the_nearest_key(capsys):
    assert main(["check", str(REPO / "tests/specs/bad/misspelt-key.cfg")]) == 2
    text = capsys.readouterr().err
    assert "did you mean 'filters'?" in text, text


# ----------------------------------------------------------------------------- eltmax / eltsum

MERGE = """
[net]
type=net
innerSize=4
[*]
initW=0.5
[data]
type=data
dataIdx=0
[labels]
type=data
dataIdx=1
[fa]
type=fc
inputs=data
outputs=7
[fb]
type=fc
inputs=data
outputs=7
[mx]
type=eltmax
inputs=fa,fb
[sm]
type=eltsum
inputs=fa,fb
coeffs=2,-0.5
[cat]
type=concat
inputs=mx,sm
[fc]
type=fc
inputs=cat
outputs=3
[probs]
type=softmax
inputs=fc
[logprob]
type=cost.logreg
inputs=labels,probs
"""


def test_eltmax_is_the_elementwise_max_and_eltsum_the_weighted_sum():
    from alexspec.compiler import build

    net = alexspec.pipeline.loads(MERGE, "merge.cfg")
    model = build(net, devices="cpu", seed=3).eval()
    x = torch.randn(5, *model.input_shape)
    out = model.forward_layers(x, ["fa", "fb", "mx", "sm"])
    a, b = out["fa"].double(), out["fb"].double()
    want_max = torch.tensor([[max(p, q) for p, q in zip(ra, rb)] for ra, rb in zip(a.tolist(), b.tolist())],
                            dtype=torch.float64)
    assert (a != b).any(1).all() and ((a > b).any() and (b > a).any())  # both inputs win somewhere
    assert torch.allclose(out["mx"].double(), want_max, atol=1e-6)
    assert torch.allclose(out["sm"].double(), 2 * a - 0.5 * b, atol=1e-5)


# ----------------------------------------------------------------------------- transfers


def _to_spy(monkeypatch) -> list[tuple[int, torch.device]]:
    """Record (numel, destination device) of every `Tensor.to` call with a device."""
    calls: list[tuple[int, torch.device]] = []
    real = torch.Tensor.to

    def spy(self, *args, **kwargs):
        dest = kwargs.get("device", args[0] if args else None)
        if isinstance(dest, (str, torch.device)):
            calls.append((self.numel(), torch.device(dest)))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", spy)
    return calls


def test_the_fast_transfer_moves_the_tensor_to_the_destination(monkeypatch):
    from alexspec.compiler.transfer import transfer

    calls = _to_spy(monkeypatch)
    dst = torch.device("cpu", 0)  # a device object distinct from plain "cpu"
    x = torch.randn(2, 3)
    y = transfer(x, 0, 1, dst)
    assert (x.numel(), dst) in calls, calls
    assert torch.equal(y, x)


def test_every_crossing_goes_to_the_consumers_device(monkeypatch):
    """Two logical GPUs on two distinct CPU device objects: the fast path's moves (spied on
    `Tensor.to`) are exactly the spec's cross-GPU edges, each to its consumer's device."""
    from alexspec.compiler import build

    net = alexspec.load("tests/specs/compiler/twocol-small.cfg")
    devs = [torch.device("cpu"), torch.device("cpu", 0)]
    model = build(net, devices=devs).eval()
    x = torch.randn(2, *model.input_shape)
    calls = _to_spy(monkeypatch)
    with torch.no_grad():
        model(x)
    moved = sorted((c for c in calls if c[0] != x.numel()), key=str)  # the data is fed, not moved
    needed = {s.name for s in model.plan.needed_for({model.plan.logits})}
    want = sorted(((len(x) * e.shape.numel, devs[e.dst_gpu]) for e in net.cross_gpu_edges
                   if e.dst in needed), key=str)
    assert net.cross_gpu_edges and moved == want


def test_backward_transfers_are_logged_from_the_consumer_back_to_the_producer():
    from alexspec.compiler import TransferLog, build

    net = alexspec.load("tests/specs/compiler/twocol-small.cfg")
    model = build(net, devices="cpu")
    x = torch.randn(2, *model.input_shape)
    with TransferLog() as log:
        model.cost(model.train()(x), torch.tensor([0, 1])).loss.backward()
    gpu = {n.name: n.gpu for n in net}
    fwd = [e for e in log.events if e.direction == "fwd"]
    bwd = [e for e in log.events if e.direction == "bwd"]
    assert fwd and len(fwd) == len(bwd)
    for e in fwd:
        consumer, producer = e.tag.split("<-")
        assert (e.src, e.dst) == (gpu[producer], gpu[consumer]), e
    for e in bwd:
        consumer, producer = e.tag.split("<-")
        assert (e.src, e.dst) == (gpu[consumer], gpu[producer]), e


# ----------------------------------------------------------------------------- ten views


def _reference_ten_view_scores(model, images, labels, mean, img_size, inner):
    """Loss, top-1 and top-5 error from the paper's ten views, cut by plain slicing: the four
    corner crops and the centre crop and their mirror images, softmax averaged."""
    x = images.double()
    if x.shape[-1] != img_size:
        x = F.interpolate(x, size=(img_size, img_size), mode="bilinear", align_corners=False,
                          antialias=True)
    x = x - mean.double()
    s, i = img_size, inner
    c = (s - i) // 2
    crops = [x[..., c:c + i, c:c + i], x[..., :i, :i], x[..., :i, s - i:],
             x[..., s - i:, :i], x[..., s - i:, s - i:]]
    rev = torch.arange(i - 1, -1, -1)
    crops += [v[..., rev] for v in crops]
    with torch.no_grad():
        probs = sum(torch.softmax(model(v.float()).double(), 1) for v in crops) / len(crops)
    loss = float(-torch.log(probs[torch.arange(len(labels)), labels]).mean())
    order = probs.argsort(1, descending=True)
    top1 = float((order[:, 0] != labels).double().mean())
    top5 = float((~(order[:, :5] == labels[:, None]).any(1)).double().mean())
    return loss, top1, top5


def test_ten_view_scores_equal_the_average_over_explicit_crops_and_flips():
    from alexspec.runtime.augment import Augment, DataStats
    from alexspec.runtime.data.base import TensorSplit
    from alexspec.runtime.evaluate import evaluate

    g = torch.Generator().manual_seed(5)
    n, s, i, classes = 40, 10, 7, 12
    images = torch.randint(0, 256, (n, 3, s, s), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, classes, (n,), generator=g)
    mean = torch.rand(3, s, s, generator=g) * 100
    stats = DataStats(mean, torch.eye(3), torch.zeros(3))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * i * i, classes))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.001)
    got = evaluate(model, TensorSplit(images, labels), Augment(s, i), stats, multiview=True, batch=16)
    loss, top1, top5 = _reference_ten_view_scores(model, images, labels, mean, s, i)
    assert got.views == 10 and got.images == n
    assert got.loss == pytest.approx(loss, rel=1e-5)
    assert (got.top1, got.top5) == pytest.approx((top1, top5), abs=1e-9)
    one = evaluate(model, TensorSplit(images, labels), Augment(s, i), stats, multiview=False)
    assert one.loss != pytest.approx(loss, rel=1e-3)  # the views matter for this model


# ----------------------------------------------------------------------------- fsync order


def test_the_checkpoint_is_fsynced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    from alexspec.runtime import checkpoint as ckpt

    events: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        events.append(("fsync-dir" if stat.S_ISDIR(st.st_mode) else "fsync-file", st.st_ino))
        return real_fsync(fd)

    def replace(src, dst, *a, **k):
        events.append(("replace", os.stat(src).st_ino))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    run = tmp_path / "run"
    path = ckpt.save({"format": ckpt.FORMAT, "step": 3, "w": torch.ones(4)}, run, 3, keep=2)
    assert path.is_file()
    kinds = [k for k, _ in events]
    assert "replace" in kinds, events
    r = kinds.index("replace")
    ino = events[r][1]
    assert ("fsync-file", ino) in events[:r], events  # the file's bytes are on disk first
    dir_ino = os.stat(run).st_ino
    assert ("fsync-dir", dir_ino) in events[r + 1:], events  # then the rename itself


# ----------------------------------------------------------------------------- check's table


def _row(stdout: str, name: str) -> list[str]:
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{stdout}")


def test_check_prints_the_local_layers_rows_with_their_counts(capsys):
    rc = main(["check", str(CC / "layers-conv-local-13pct.cfg"), "--layer-params",
               str(CC / "layer-params-conv-local-13pct.cfg"), "--inner-size", "24"])
    out = capsys.readouterr().out
    assert rc == 0, out
    # local3: 3x3 unshared filters over 64 channels at each of 6x6 positions, 32 filters,
    # one bias per output (cuda-convnet's local layers have unshared biases); local4: 3x3x32.
    out3, out4 = 6 * 6 * 32, 6 * 6 * 32
    assert _row(out, "local3") == ["local3", "local", "0", "6x6x32",
                                        f"{out3 * (3 * 3 * 64 + 1):,}", f"{out3 * 3 * 3 * 64:,}"]
    assert _row(out, "local4") == ["local4", "local", "0", "6x6x32",
                                        f"{out4 * (3 * 3 * 32 + 1):,}", f"{out4 * 3 * 3 * 32:,}"]


# ----------------------------------------------------------------------------- devices


def test_auto_devices_message_whole(monkeypatch):
    from alexspec.compiler import build, resolve_devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = build(alexspec.load("tests/specs/compiler/twocol-small.cfg"))
    assert model.placement_summary == "devices: gpu0 -> cpu, gpu1 -> cpu (auto, no CUDA device)"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    _, summary = resolve_devices("auto", 2)
    assert summary == ("devices: gpu0 -> cuda:0, gpu1 -> cuda:0 "
                       "(auto, only 1 CUDA device: logical GPUs share it)")


# ----------------------------------------------------------------------------- predictions


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Two training steps of the tests' tiny two-column net on 256 Fashion-MNIST images."""
    from alexspec.runtime.report import NullReporter
    from alexspec.runtime.session import RunOptions, run
    from tests.tiny_spec import tiny_spec

    d = tmp_path_factory.mktemp("preds")
    spec = d / "tiny.cfg"
    spec.write_text(tiny_spec({"net": {"innerSize": "16", "imgSize": "20", "mini": "32"}}))
    result = run(RunOptions(spec=str(spec), gpu="cpu", max_batches=2, train_subset=256,
                            test_subset=32, save_path=str(d / "run")), NullReporter())
    return Path(result.checkpoint)


def _needs_fashion():
    from alexspec.runtime.data import fashion

    if not any(fashion.DEFAULT_DIR.glob("*.gz")):
        pytest.skip("Fashion-MNIST (dataset-fashion-mnist) not installed")


def test_predictions_top5_equal_an_independent_centre_crop(tiny_checkpoint, tmp_path):
    """The checkpoint read with plain `torch.load`, its weights put into a freshly built net,
    the centre crop cut by slicing after subtracting the stored mean: not the restore or view
    code that `show` uses."""
    _needs_fashion()
    pytest.importorskip("matplotlib")
    from alexspec.compiler import build
    from alexspec.pipeline import loads
    from alexspec.runtime import show
    from alexspec.runtime.data import open_data

    shown = show.show_predictions(tiny_checkpoint, tmp_path / "p.png", gpu="cpu")
    c = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    s, i = c["settings"]["img_size"], c["settings"]["inner_size"]
    assert (s, i) == (20, 16)
    net = loads(c["spec_text"], c["spec_path"], inner_size=i)
    model = build(net, devices="cpu", init=False)
    model.load_state_dict(c["model"])
    model.eval()
    images, _ = open_data(None, s).val.get(shown.picked)
    x = F.interpolate(images.float(), size=(s, s), mode="bilinear", align_corners=False,
                      antialias=True) - c["stats"]["mean"]
    o = (s - i) // 2
    with torch.no_grad():
        probs = torch.softmax(model(x[..., o:o + i, o:o + i]).double(), 1)
    want = probs.topk(5, 1)
    assert torch.allclose(shown.top.probs.double(), want.values, atol=1e-5)
    assert torch.equal(shown.top.classes, want.indices)
