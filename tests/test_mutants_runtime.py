"""Tests that kill the mutants cosmic-ray left alive in runtime/ (see docs/testing.md): each
checks a behaviour a caller or user sees that no other test pinned down."""

from __future__ import annotations

import dataclasses
import errno
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from alexspec.errors import RunError
from alexspec.ir import Schedule
from alexspec.runtime.sgd import PaperSGD
from alexspec.runtime.metrics import TrainRecord


@dataclass
class _Rule:
    param: torch.nn.Parameter
    layer: str
    kind: str
    eps: Schedule
    mom: float
    wc: float


def _sgd() -> tuple[PaperSGD, torch.nn.Parameter, torch.nn.Parameter]:
    w = torch.nn.Parameter(torch.ones(3, 2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    eps = Schedule(kind="plateau", base=0.1, factor=10, max_drops=3)
    return PaperSGD([_Rule(w, "fc", "weight", eps, 0.9, 0.0), _Rule(b, "fc", "bias", eps, 0.9, 0.0)]), w, b


# ----------------------------------------------------------------------------- sgd


def test_sgd_defaults_to_no_rate_drop():
    sgd, w, b = _sgd()
    assert sgd.rates(0.0) == [0.1, 0.1]
    w.grad, b.grad = torch.ones_like(w), torch.ones_like(b)
    sgd.step(0.0)
    assert torch.allclose(w.detach(), torch.full((3, 2), 0.9, dtype=torch.float64))  # 1 - 0.1 * 1


def test_sgd_zero_grad_clears_every_gradient():
    sgd, w, b = _sgd()
    w.grad, b.grad = torch.ones_like(w), torch.ones_like(b)
    sgd.zero_grad()
    assert w.grad is None and b.grad is None


@pytest.mark.parametrize("shape", [(3, 1), (3, 3), (2, 2), (4, 2), (6,)])
def test_sgd_refuses_momentum_of_another_shape(shape):
    sgd, w, b = _sgd()
    with pytest.raises(ValueError, match=r"momentum shape"):
        sgd.load_state_dict({"velocity": [torch.zeros(shape, dtype=torch.float64), torch.zeros(2)]})


def test_sgd_loads_momentum_of_the_same_shapes():
    sgd, w, b = _sgd()
    saved = [torch.full((3, 2), 0.5, dtype=torch.float64), torch.full((2,), -1.0, dtype=torch.float64)]
    sgd.load_state_dict({"velocity": saved})
    assert all(torch.equal(v, s) for v, s in zip(sgd.velocity, saved))


@pytest.mark.parametrize("n", [1, 3])
def test_sgd_refuses_another_number_of_momentum_tensors(n):
    sgd, w, b = _sgd()
    with pytest.raises(ValueError, match=rf"^checkpoint has {n} momentum tensors, the model 2$"):
        sgd.load_state_dict({"velocity": [torch.zeros(3, 2)] * n})


def test_sgd_refuses_momentum_that_is_not_a_list():
    sgd, w, b = _sgd()
    with pytest.raises(ValueError, match=r"^checkpoint has no list of momentum tensors, the model 2$"):
        sgd.load_state_dict({"velocity": (torch.zeros(3, 2), torch.zeros(2))})


@dataclass
class _PeriodRule(_Rule):
    period: int = 1


def _period_sgd(periods: tuple[int, ...]) -> tuple[PaperSGD, list[_PeriodRule]]:
    eps = Schedule(kind="plateau", base=0.1, factor=10, max_drops=3)
    rules = [_PeriodRule(torch.nn.Parameter(torch.full((2,), float(i + 1), dtype=torch.float64)),
                         f"l{i}", "weight", eps, 0.9, 0.01, p) for i, p in enumerate(periods)]
    return PaperSGD(rules), rules


def _grads(steps: int, n: int) -> list[list[torch.Tensor | None]]:
    g = torch.Generator().manual_seed(3)
    out = [[torch.randn(2, generator=g, dtype=torch.float64) for _ in range(n)] for _ in range(steps)]
    out[1][0] = None  # a minibatch where the first layer got no gradient
    return out


def _reference(periods: tuple[int, ...], grads) -> list[list[torch.Tensor]]:
    """Plain loops of cuda-convnet's updatePeriod: sum P gradients, step with their mean."""
    w = [torch.full((2,), float(i + 1), dtype=torch.float64) for i in range(len(periods))]
    v = [torch.zeros(2, dtype=torch.float64) for _ in periods]
    acc = [torch.zeros(2, dtype=torch.float64) for _ in periods]
    seen = []
    for step, gs in enumerate(grads, start=1):
        for i, (p, g) in enumerate(zip(periods, gs)):
            acc[i] = acc[i] + (0 if g is None else g)
            if step % p == 0:
                v[i] = 0.9 * v[i] - 0.01 * 0.1 * w[i] - 0.1 * acc[i] / p
                w[i] = w[i] + v[i]
                acc[i] = torch.zeros(2, dtype=torch.float64)
        seen.append([x.clone() for x in w])
    return seen


def _steps(sgd: PaperSGD, rules, grads) -> list[list[torch.Tensor]]:
    seen = []
    for gs in grads:
        for r, g in zip(rules, gs):
            r.param.grad = g
        sgd.step(0.0)
        seen.append([r.param.detach().clone() for r in rules])
    return seen


def test_update_period_against_plain_loops_every_step():
    periods = (3, 1, 2)  # a period rule first: the ones after it still update each minibatch
    sgd, rules = _period_sgd(periods)
    grads = _grads(7, 3)
    for got, want in zip(_steps(sgd, rules, grads), _reference(periods, grads), strict=True):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


def test_update_period_survives_a_checkpoint_mid_period():
    periods = (3, 1, 2)
    grads = _grads(7, 3)
    sgd, rules = _period_sgd(periods)
    _steps(sgd, rules, grads[:4])  # 4 minibatches: rule 0 holds one, rule 2 none
    state = sgd.state_dict()
    assert state["passes"] == 4 and state["accum"][1] is None
    assert torch.equal(state["accum"][0], grads[3][0])
    resumed, rules2 = _period_sgd(periods)
    for r, r2 in zip(rules, rules2):
        r2.param.data.copy_(r.param.detach())
    resumed.load_state_dict(state)
    assert resumed.passes == 4
    for got, want in zip(_steps(resumed, rules2, grads[4:]), _reference(periods, grads)[4:], strict=True):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


def test_a_net_without_update_periods_saves_no_accumulators():
    sgd, _ = _period_sgd((1, 1))
    assert set(sgd.state_dict()) == {"velocity", "names"}
    assert sgd.accum == [None, None]
    assert set(_period_sgd((1, 2))[0].state_dict()) == {"velocity", "names", "accum", "passes"}


def test_accumulators_that_do_not_fit_are_left_alone():
    sgd, _ = _period_sgd((2, 1, 3))
    vel = [v.clone() for v in sgd.velocity]
    sgd.load_state_dict({"velocity": vel, "accum": [torch.ones(2)], "passes": 5})  # another count
    assert sgd.passes == 0 and torch.equal(sgd.accum[0], torch.zeros(2, dtype=torch.float64))
    # a tensor where this net has none, None where it has one, another shape: each skipped
    sgd.load_state_dict({"velocity": vel, "accum": [None, torch.ones(2), torch.ones(3)], "passes": 1})
    assert sgd.passes == 1
    assert torch.equal(sgd.accum[0], torch.zeros(2, dtype=torch.float64)) and sgd.accum[1] is None
    assert torch.equal(sgd.accum[2], torch.zeros(2, dtype=torch.float64))
    sgd.load_state_dict({"velocity": vel, "accum": [torch.ones(2), None, torch.ones(2)]})  # no passes
    assert sgd.passes == 0 and torch.equal(sgd.accum[2], torch.ones(2, dtype=torch.float64))
    sgd, _ = _period_sgd((2, 1, 3))
    sgd.load_state_dict({"velocity": vel, "accum": [torch.ones(2), None, torch.ones(2), None], "passes": 5})
    assert sgd.passes == 0 and torch.equal(sgd.accum[0], torch.zeros(2, dtype=torch.float64))  # longer
    sgd.load_state_dict({"velocity": vel, "accum": [torch.ones(1), None, torch.ones(2)], "passes": 1})
    assert torch.equal(sgd.accum[0], torch.zeros(2, dtype=torch.float64))  # (1,) would broadcast


def test_accumulators_of_more_than_256_tensors_are_loaded():
    """Counts compared by identity (`is`) break past the small ints Python caches."""
    sgd, _ = _period_sgd((2,) * 300)
    state = {"velocity": [v.clone() for v in sgd.velocity], "accum": [torch.ones(2)] * 300, "passes": 1}
    sgd.load_state_dict(state)
    assert sgd.passes == 1 and all(torch.equal(a, torch.ones(2, dtype=torch.float64)) for a in sgd.accum)


# ----------------------------------------------------------------------------- evaluate


def _eval_setup(n=20, classes=12, s=10, i=7):
    from alexspec.runtime.augment import Augment, DataStats
    from alexspec.runtime.data.base import TensorSplit

    g = torch.Generator().manual_seed(7)
    images = torch.randint(0, 256, (n, 3, s, s), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, classes, (n,), generator=g)
    stats = DataStats(torch.rand(3, s, s, generator=g) * 100, torch.eye(3), torch.zeros(3))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5),
                                torch.nn.Linear(3 * i * i, classes))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.001)
    return model, TensorSplit(images, labels), Augment(s, i), stats


def test_evaluate_limit_progress_and_eval_mode():
    from alexspec.runtime.evaluate import evaluate
    from tests.test_planted_bugs import _reference_ten_view_scores

    model, split, aug, stats = _eval_setup()
    model.train()
    seen: list[int] = []
    got = evaluate(model, split, aug, stats, multiview=True, batch=4, limit=11, progress=seen.append)
    assert not model.training  # dropout off while evaluating, and left off
    assert seen == [4, 8, 11] and got.images == 11 and got.views == 10
    loss, top1, top5 = _reference_ten_view_scores(model, split.images[:11], split.labels[:11],
                                                  stats.mean, aug.img_size, aug.inner_size)
    assert got.loss == pytest.approx(loss, rel=1e-5)
    assert (got.top1, got.top5) == pytest.approx((top1, top5), abs=1e-9)
    assert evaluate(model, split, aug, stats, limit=50).images == 20  # a limit past the end


def test_evaluate_centre_crop_alone():
    from alexspec.runtime.evaluate import evaluate

    model, split, aug, stats = _eval_setup()
    got = evaluate(model, split, aug, stats, batch=8)
    x = (split.images.double() - stats.mean.double())[..., 1:8, 1:8]  # centre: (10 - 7) // 2 = 1
    with torch.no_grad():
        probs = torch.softmax(model.eval()(x.float()).double(), 1)
    want = float(-torch.log(probs[torch.arange(20), split.labels]).mean())
    assert got.views == 1 and got.loss == pytest.approx(want, rel=1e-5)
    assert got.top1 == pytest.approx(float((probs.argmax(1) != split.labels).double().mean()))


def test_evaluate_with_fewer_than_five_classes_and_a_certain_miss():
    from alexspec.runtime.augment import Augment, DataStats
    from alexspec.runtime.data.base import TensorSplit
    from alexspec.runtime.evaluate import evaluate

    class Sure(torch.nn.Module):  # always class 0, with probability 1 (the others underflow)
        def forward(self, x):
            return torch.tensor([[0.0, -1e4, -1e4]]).expand(len(x), 3)

    split = TensorSplit(torch.zeros(4, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 2, 0]))
    stats = DataStats(torch.zeros(1, 4, 4), torch.eye(3), torch.zeros(3))
    got = evaluate(Sure(), split, Augment(4, 4), stats)
    assert got.top1 == pytest.approx(0.5) and got.top5 == 0.0  # top-3 of 3 classes holds every label
    assert got.loss == pytest.approx(2 * -torch.log(torch.tensor(1e-30, dtype=torch.float64)).item() / 4)


class _Gappy:
    """A split whose second batch cannot be decoded at all (every image skipped)."""

    def __init__(self, split, bad):
        self.inner, self.bad, self.labels = split, bad, split.labels

    def __len__(self):
        return len(self.inner)

    def get(self, idx):
        keep = torch.tensor([int(i) not in self.bad for i in idx], dtype=torch.bool)
        return self.inner.get(idx[keep])

    @property
    def skipped(self):
        return len(self.bad)


def test_evaluate_skips_an_undecodable_batch_and_reports_nothing_for_no_images():
    import math

    from alexspec.runtime.evaluate import evaluate

    model, split, aug, stats = _eval_setup(n=12)
    got = evaluate(model, _Gappy(split, set(range(4, 8))), aug, stats, batch=4)
    ref = evaluate(model, split.subset(torch.tensor([0, 1, 2, 3, 8, 9, 10, 11])), aug, stats, batch=4)
    assert got.images == 8 and got.loss == pytest.approx(ref.loss) and got.top1 == ref.top1
    empty = evaluate(model, _Gappy(split, set(range(12))), aug, stats, batch=4, multiview=True)
    assert empty.images == 0 and all(math.isnan(v) for v in (empty.loss, empty.top1, empty.top5))


def test_evaluate_reports_progress_per_decoded_batch_of_128_by_default():
    """An undecodable batch reports no progress; a last batch of one image counts; the default
    batch is the paper's 128; a pass over no image is one (centre) view of 0 images."""
    from alexspec.runtime.evaluate import evaluate

    model, split, aug, stats = _eval_setup(n=12)
    seen: list[int] = []
    evaluate(model, _Gappy(split, set(range(4, 8))), aug, stats, batch=4, progress=seen.append)
    assert seen == [4, 8]
    model, split, aug, stats = _eval_setup(n=257, s=8, i=8)
    seen = []
    got = evaluate(model, split, aug, stats, progress=seen.append)
    assert seen == [128, 256, 257] and got.images == 257
    empty = evaluate(model, _Gappy(split, set(range(257))), aug, stats)
    assert (empty.images, empty.views) == (0, 1)


def test_evaluate_takes_its_options_by_keyword_only():
    from alexspec.runtime.evaluate import evaluate

    model, split, aug, stats = _eval_setup(n=4)
    with pytest.raises(TypeError):
        evaluate(model, split, aug, stats, True)  # multiview=True must be named


def test_evaluate_builds_no_autograd_graph():
    """Without `no_grad` a validation pass would keep every activation of a batch (memory)."""
    from alexspec.runtime.evaluate import evaluate

    model, split, aug, stats = _eval_setup(n=4)
    modes: list[bool] = []
    model.register_forward_hook(lambda m, i, o: modes.append(torch.is_grad_enabled()))
    evaluate(model, split, aug, stats, multiview=True)
    assert modes and not any(modes)


# ----------------------------------------------------------------------------- augment


def _images(n=6, c=3, s=8, seed=0):
    from alexspec.runtime.data.base import TensorSplit

    g = torch.Generator().manual_seed(seed)
    return TensorSplit(torch.randint(0, 256, (n, c, s, s), generator=g, dtype=torch.uint8),
                       torch.arange(n) % 10)


def test_stats_channel_and_zero_means_and_batched_accumulation():
    from alexspec.runtime.augment import compute_stats

    sp = _images(n=7)
    x = sp.images.double()
    chan = compute_stats(sp, 8, "channel", batch=3)
    want = x.mean(dim=(0, 2, 3))[:, None, None].expand(3, 8, 8)
    assert chan.mean.shape == (3, 8, 8) and torch.allclose(chan.mean.double(), want, atol=1e-4)
    img = compute_stats(sp, 8, "image", batch=2)
    assert torch.allclose(img.mean.double(), x.mean(0), atol=1e-4)
    p = x.permute(0, 2, 3, 1).reshape(-1, 3) / 255
    cov = torch.cov(p.T, correction=0)
    assert torch.allclose(img.eigval.double(), torch.linalg.eigvalsh(cov).flip(0), atol=1e-5)
    none = compute_stats(sp, 8, "none")
    assert torch.equal(none.mean, torch.zeros(3, 8, 8))


def test_stats_sample_is_a_seeded_subset():
    from itertools import combinations

    from alexspec.runtime.augment import compute_stats

    sp = _images(n=9)
    a = compute_stats(sp, 8, "image", max_images=4, seed=1)
    x = sp.images.double()
    means = {c: x[list(c)].mean(0) for c in combinations(range(9), 4)}
    hits = [c for c, m in means.items() if torch.allclose(a.mean.double(), m, atol=1e-4)]
    assert len(hits) == 1  # the mean of exactly one set of 4 of the 9 images
    assert torch.equal(compute_stats(sp, 8, "image", max_images=4, seed=1).mean, a.mean)
    assert not torch.equal(compute_stats(sp, 8, "image", max_images=4, seed=2).mean, a.mean)
    assert torch.allclose(compute_stats(sp, 8, "image", max_images=9).mean.double(), x.mean(0), atol=1e-4)


def test_grey_images_have_no_colour_pca_and_no_colour_noise():
    from alexspec.runtime.augment import Augment, compute_stats

    sp = _images(c=1)
    st = compute_stats(sp, 8, "image")
    assert torch.equal(st.eigval, torch.zeros(3)) and torch.equal(st.eigvec, torch.eye(3))
    a = Augment(8, 8, flip=False, color_noise=0.5).train_batch(sp.images, st, torch.Generator().manual_seed(0))
    assert torch.allclose(a, sp.images.float() - st.mean)


def test_training_batch_without_flips_or_noise_is_the_centred_crop():
    from alexspec.runtime.augment import Augment, compute_stats

    sp = _images()
    st = compute_stats(sp, 8, "image")
    plain = Augment(8, 8, flip=False, color_noise=0.0).train_batch(sp.images, st, torch.Generator().manual_seed(0))
    assert torch.allclose(plain, sp.images.float() - st.mean)
    flipped = Augment(8, 8, flip=True, color_noise=0.0).train_batch(sp.images, st, torch.Generator().manual_seed(3))
    mirrored = [torch.allclose(f, p.flip(-1)) for f, p in zip(flipped, plain)]
    same = [torch.allclose(f, p) for f, p in zip(flipped, plain)]
    assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)


def test_a_training_batch_without_random_crops_takes_the_centre():
    from alexspec.runtime.augment import Augment, DataStats

    sp = _images(n=4, s=12)
    st = DataStats(torch.zeros(3, 12, 12), torch.eye(3), torch.zeros(3))
    got = Augment(12, 5, flip=False, color_noise=0.0, crop=False).train_batch(sp.images, st, torch.Generator())
    assert torch.equal(got, sp.images[..., 3:8, 3:8].float())  # (12 - 5) // 2 = 3


def test_grey_images_stay_grey_with_colour_noise_on():
    from alexspec.runtime.augment import Augment, DataStats

    sp = _images(n=3, c=1, s=6)
    st = DataStats(torch.zeros(1, 6, 6), torch.eye(3), torch.ones(3))
    got = Augment(6, 6, flip=False, color_noise=0.5).train_batch(sp.images, st, torch.Generator())
    assert torch.equal(got, sp.images.float())  # (3, 1, 6, 6): no colour shift on one channel


def test_random_crops_cover_every_offset_of_a_larger_image():
    from alexspec.runtime.augment import Augment, DataStats

    sp = _images(n=6, s=12)
    st = DataStats(torch.zeros(3, 12, 12), torch.eye(3), torch.zeros(3))
    aug = Augment(12, 5, flip=False, color_noise=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        aug.flip = True  # a value: the pipeline's settings cannot drift during a run
    got = aug.train_batch(sp.images, st, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    oy, ox = torch.randint(0, 8, (6,), generator=g), torch.randint(0, 8, (6,), generator=g)  # 12 - 5 + 1
    want = torch.stack([sp.images[k, :, oy[k]:oy[k] + 5, ox[k]:ox[k] + 5] for k in range(6)]).float()
    assert torch.equal(got, want)


def test_stats_skip_an_unreadable_chunk_and_read_the_rest():
    from alexspec.runtime.augment import DataStats, compute_stats

    sp = _images(n=9, s=4)
    got = compute_stats(_Gappy(sp, {0, 1, 2}), 4, "image", batch=3)  # the first chunk unreadable
    assert torch.allclose(got.mean, sp.images[3:].double().mean(0).float())
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.mean = torch.zeros(3, 4, 4)
    assert isinstance(got, DataStats)


def test_the_centre_view_of_a_larger_image():
    from alexspec.runtime.augment import Augment, DataStats

    sp = _images(n=2, s=12)
    st = DataStats(torch.zeros(3, 12, 12), torch.eye(3), torch.zeros(3))
    got = Augment(12, 5).views(sp.images, st, multiview=False)
    assert torch.equal(got, sp.images[None, ..., 3:8, 3:8].float())  # (12 - 5) // 2 = 3


def test_no_colour_noise_draws_no_alphas():
    """With colorNoise 0 the generator gives crop rows, crop columns and flips, nothing more."""
    from alexspec.runtime.augment import Augment, DataStats

    sp = _images(n=5, s=8)
    st = DataStats(torch.zeros(3, 8, 8), torch.eye(3), torch.ones(3))
    gen = torch.Generator().manual_seed(4)
    Augment(8, 5, flip=True, color_noise=0.0).train_batch(sp.images, st, gen)
    ref = torch.Generator().manual_seed(4)
    torch.randint(0, 4, (5,), generator=ref), torch.randint(0, 4, (5,), generator=ref), torch.rand(5, generator=ref)
    assert torch.equal(gen.get_state(), ref.get_state())


def test_a_mean_image_larger_than_the_working_size_is_scaled_down():
    import torch.nn.functional as F

    from alexspec.runtime.augment import compute_stats

    sp = _images(n=3, s=12)
    st = compute_stats(sp, 8, "image")
    want = F.interpolate(sp.images.double().mean(0, keepdim=True).float(), size=(8, 8), mode="bilinear",
                         align_corners=False, antialias=True)[0]
    assert st.mean.shape == (3, 8, 8) and torch.allclose(st.mean, want, atol=1e-4)


def test_compute_stats_reads_the_mean_kind_by_value_and_options_by_keyword():
    from alexspec.runtime.augment import compute_stats

    sp = _images(n=3, s=8)
    kind = "".join(["ima", "ge"])  # a string built at run time, as one read from a file is
    st = compute_stats(sp, 8, kind)
    assert torch.allclose(st.mean, sp.images.double().mean(0).float())
    st = compute_stats(sp, 8, "".join(["chan", "nel"]))
    assert torch.allclose(st.mean, sp.images.double().mean((0, 2, 3))[:, None, None].float().expand(3, 8, 8))
    big = _images(n=20, s=4)
    assert torch.equal(compute_stats(big, 4, "image", max_images=5).mean,
                       compute_stats(big, 4, "image", max_images=5, seed=0).mean)  # the default seed is 0
    with pytest.raises(TypeError):
        compute_stats(sp, 8, "image", 100)  # max_images must be named


def test_unreadable_statistics_and_a_crop_larger_than_the_image_are_errors():
    from alexspec.runtime.augment import Augment, compute_stats

    class Broken:
        labels = torch.zeros(5, dtype=torch.long)

        def __len__(self):
            return 5

        def get(self, idx):
            return torch.zeros(0, 3, 8, 8, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)

    with pytest.raises(RunError, match="none of the 5 training images") as e:
        compute_stats(Broken(), 8, "image", where="data/")
    assert "data/" in str(e.value)
    with pytest.raises(ValueError, match="innerSize 9 > imgSize 8"):
        Augment(8, 9)
    Augment(8, 8)  # equal sizes are allowed


def test_stats_state_round_trip():
    from alexspec.runtime.augment import DataStats, compute_stats

    st = compute_stats(_images(), 8, "image")
    back = DataStats.from_state(st.state())
    assert all(torch.equal(getattr(back, k), getattr(st, k)) for k in ("mean", "eigvec", "eigval"))


# ----------------------------------------------------------------------------- checkpoint


def _plain_checkpoint(step: int = 5) -> dict:
    """Every field `checkpoint.load_file` reads, with plain values."""
    from alexspec.runtime import checkpoint as ckpt
    from alexspec.settings import RunSettings

    return {"format": ckpt.FORMAT, "step": step, "spec_text": "[data]\n", "spec_path": "a.cfg",
            "params_text": None, "params_path": None, "arch_hash": "h", "arch": ["data: x"],
            "model": {"w": torch.ones(2)}, "sgd": {"velocity": [torch.zeros(2)]},
            "train": {"step": step, "epoch": 1, "batch": 2, "skipped_batches": 0,
                      "plateau": {"drops": 1, "best": 3, "since": 0.0}, "train_images": 100},
            "rng": {"torch": torch.get_rng_state(), "gens": {"aug": torch.Generator().get_state()}},
            "stats": {"mean": torch.zeros(3, 2, 2), "eigvec": torch.eye(3), "eigval": torch.ones(3)},
            "data": {"name": "cifar-10", "location": "d/", "classes": ["a", "b"]},
            "settings": RunSettings(mini=8, img_size=14, inner_size=12).to_dict(),
            "history": [{"kind": "train", "step": 1, "epoch": 0.1, "loss": 2.0, "top1": 0.9,
                         "top5": 0.5, "images": 8, "lr": 0.01}]}


def _write(tmp_path, c: dict, name: str = "ckpt-00000005.pt"):
    """Written by the project's own writer, so whatever integrity data it adds is valid."""
    from alexspec.runtime import checkpoint as ckpt

    p = tmp_path / name
    ckpt.atomic_save(c, p)
    return p


def test_a_checkpoint_loads_every_field(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    c = ckpt.load_file(_write(tmp_path, _plain_checkpoint()))
    assert (c.step, c.spec_path, c.params_text, c.arch) == (5, "a.cfg", None, ("data: x",))
    assert c.train == ckpt.TrainState(5, 1, 2, 0, {"drops": 1, "best": 3.0, "since": 0.0}, 100)
    assert isinstance(c.train.plateau["best"], float)
    assert (c.settings.mini, c.settings.img_size, c.settings.inner_size, c.settings.flip) == (8, 14, 12, True)
    assert c.data == ckpt.DataInfo("cifar-10", "d/", ("a", "b"))
    assert c.history == (TrainRecord(1, 0.1, 2.0, 0.9, 0.5, 8, 0.01),)
    assert c.rng_ranks == ()


@pytest.mark.parametrize("where,key,value,message", [
    ((), "step", None, "has no 'step'"),
    ((), "step", "5", "field 'step' is str, expected int"),
    ((), "step", True, "field 'step' is bool, expected int"),
    (("train",), "epoch", 1.5, "field 'train.epoch' is float, expected int"),
    (("train", "plateau"), "drops", None, "has no 'train.plateau.drops'"),
    (("settings",), "flip", "x", "field 'settings.flip' is invalid (input should be a valid boolean"),
    ((), "model", {"w": [1.0]}, "field 'model' holds something other than tensors"),
    (("sgd",), "velocity", [torch.zeros(1), 2], "field 'sgd.velocity' holds something other than tensors"),
    ((), "history", [1], "field 'history' holds something other than records"),
    ((), "stats", [], "field 'stats' is list, expected dict"),
    ((), "rng_ranks", [{"torch": 1, "gens": {}}], "field 'rng_ranks.0.torch' is int, expected Tensor"),
    ((), "train", 3, "field 'train' is int, expected dict"),
])
def test_a_bad_field_is_named(tmp_path, where, key, value, message):
    from alexspec.runtime import checkpoint as ckpt

    c = _plain_checkpoint()
    d = c
    for w in where:
        d = d[w]
    if value is None:
        del d[key]
    else:
        d[key] = value
    p = _write(tmp_path, c)
    with pytest.raises(RunError) as e:
        ckpt.load_file(p)
    assert message in str(e.value) and str(p) in str(e.value)
    assert "damaged or was written by another version" in str(e.value)


def test_optional_fields_may_be_absent(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    c = _plain_checkpoint()
    del c["train"]["train_images"]
    c["train"]["plateau"]["best"] = None
    c["params_text"], c["params_path"] = "[x]\n", "p.cfg"
    c["rng_ranks"] = [c["rng"], c["rng"]]
    got = ckpt.load_file(_write(tmp_path, c))
    assert got.train.train_images is None and got.train.plateau["best"] is None
    assert (got.params_text, got.params_path) == ("[x]\n", "p.cfg") and len(got.rng_ranks) == 2


def test_not_a_checkpoint_and_a_missing_file(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    with pytest.raises(RunError, match="no such checkpoint"):
        ckpt.load_file(tmp_path / "none.pt")
    torch.save([1, 2], tmp_path / "x.pt")
    with pytest.raises(RunError, match="not an alexspec checkpoint"):
        ckpt.read(tmp_path / "x.pt")
    with pytest.raises(RunError, match=f"a checkpoint of format {ckpt.FORMAT + 1}; this alexspec reads format"):
        ckpt.read(_write(tmp_path, {"format": ckpt.FORMAT + 1}, "y.pt"))


def test_names_steps_and_listing(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    assert ckpt.checkpoint_name(42) == "ckpt-00000042.pt"
    assert ckpt.checkpoint_step(tmp_path / "ckpt-00000042.pt") == 42
    assert ckpt.checkpoint_step(tmp_path / "model.pt") is None
    assert ckpt.checkpoint_step(tmp_path / "ckpt-last.pt") is None
    for s in (3, 1, 2):
        ckpt.save({"format": ckpt.FORMAT, "step": s}, tmp_path, s, keep=2)
    (tmp_path / "ckpt-00000009.pt.tmp-77").write_bytes(b"partial")
    (tmp_path / "ckpt-00000010.pt").mkdir()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["ckpt-00000002.pt", "ckpt-00000003.pt"]


def test_resolve_takes_the_newest_loadable_and_warns_of_the_rest(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    with pytest.raises(RunError, match=r"no checkpoint \(ckpt-\*\.pt\) in this directory"):
        ckpt.resolve(tmp_path)
    _write(tmp_path, _plain_checkpoint(4), "ckpt-00000004.pt")
    (tmp_path / "ckpt-00000006.pt").write_bytes(b"\x00" * 10)
    warned: list[str] = []
    path, c = ckpt.resolve(tmp_path, warned.append)
    assert path.name == "ckpt-00000004.pt" and c.step == 4
    assert len(warned) == 1 and "ckpt-00000006.pt" in warned[0] and warned[0].endswith("trying an earlier one")
    assert ckpt.resolve(tmp_path / "ckpt-00000004.pt")[1].step == 4
    (tmp_path / "ckpt-00000004.pt").write_bytes(b"\x00")
    with pytest.raises(RunError, match="every checkpoint in this directory is damaged"):
        ckpt.resolve(tmp_path)


def test_arch_diff_names_removed_added_and_changed_layers():
    from alexspec.runtime.checkpoint import arch_diff

    saved = ["conv1: conv 3x3", "pool1: pool max", "fc: fc 10"]
    now = ["conv1: conv 5x5", "fc: fc 10", "drop: dropout"]
    assert arch_diff(saved, now) == ["layer pool1 removed", "layer drop added",
                                     "conv1: conv 3x3  ->  conv 5x5"]
    assert arch_diff(saved, saved) == []


def test_rng_state_round_trip():
    from alexspec.runtime.checkpoint import rng_state, set_rng_state

    g = torch.Generator().manual_seed(1)
    torch.manual_seed(2)
    state = rng_state({"aug": g, "other": torch.Generator().manual_seed(9)})
    want = (torch.rand(3), torch.rand(3, generator=g))
    torch.manual_seed(5)
    g.manual_seed(6)
    h = torch.Generator().manual_seed(0)
    set_rng_state(state, {"aug": g, "new": h})  # a generator the checkpoint lacks stays as it is
    assert torch.equal(torch.rand(3), want[0]) and torch.equal(torch.rand(3, generator=g), want[1])
    assert torch.equal(torch.rand(2, generator=h), torch.rand(2, generator=torch.Generator().manual_seed(0)))


def test_a_failed_checkpoint_write_is_a_run_error_and_leaves_no_temporary(tmp_path, monkeypatch):
    from alexspec.runtime import checkpoint as ckpt

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(RunError, match="cannot write checkpoint: no space left on device") as e:
        ckpt.save({"format": ckpt.FORMAT}, tmp_path, 1, keep=1)
    assert "ckpt-00000001.pt" in str(e.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code,why,hint", [
    (errno.ENOSPC, "no space left on device", "free some space (the previous checkpoints are intact)"),
    (errno.EROFS, "read-only file system", None),  # errno above ENOSPC
    (errno.EIO, "input/output error", None),  # errno below ENOSPC
])
def test_a_failed_write_names_its_cause_and_hints_only_for_a_full_disk(tmp_path, monkeypatch, code, why, hint):
    from alexspec.runtime import checkpoint as ckpt

    def fail(*a, **k):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(RunError) as e:
        ckpt.atomic_save({"format": ckpt.FORMAT}, tmp_path / "c.pt")
    assert (e.value.message, e.value.hint) == (f"cannot write checkpoint: {why}", hint)


def test_a_failed_write_without_an_os_error_says_what_torch_said(tmp_path, monkeypatch):
    from alexspec.runtime import checkpoint as ckpt

    def fail(*a, **k):
        raise RuntimeError("unexpected pos 64\nmore")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(RunError) as e:
        ckpt.atomic_save({"format": ckpt.FORMAT}, tmp_path / "c.pt")
    assert (e.value.message, e.value.hint) == ("cannot write checkpoint: unexpected pos 64", None)


@pytest.mark.parametrize("key", ["img_size", "inner_size"])
def test_a_checkpoint_without_the_crop_sizes_is_refused(tmp_path, key):
    from alexspec.runtime import checkpoint as ckpt

    c = _plain_checkpoint()
    c["settings"] = {**c["settings"], key: None}
    with pytest.raises(RunError, match=f"has no 'settings.{key}'"):
        ckpt.load_file(_write(tmp_path, c))


def test_the_content_hash_is_sha256_of_the_documented_canonical_form():
    """Dicts as D<n> and their items in key order, lists as L<n>, tensors as T<dtype><shape> and
    their bytes, other values as `type:repr;`: a checkpoint of this FORMAT written by another
    alexspec version has the same hash."""
    import hashlib

    from alexspec.runtime import checkpoint as ckpt

    t = torch.tensor([1, -2], dtype=torch.int8)
    payload = {"xs": [1, 2.5], "format": 3, "t": t, ckpt.HASH_KEY: "old"}
    want = hashlib.sha256(b"".join([
        b"D3",
        b"str:'format';", b"int:3;",
        b"str:'t';", b"Ttorch.int8(2,)", bytes([1, 254]),
        b"str:'xs';", b"L2", b"int:1;", b"float:2.5;",
    ])).hexdigest()
    assert ckpt.content_hash(payload) == want


def test_only_a_checkpoint_of_another_format_hints_at_a_new_run(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    torch.save([1, 2], tmp_path / "x.pt")
    with pytest.raises(RunError) as e:
        ckpt.read(tmp_path / "x.pt")
    assert e.value.hint is None
    with pytest.raises(RunError) as e:
        ckpt.read(_write(tmp_path, {"format": ckpt.FORMAT + 1}, "y.pt"))
    assert e.value.hint == "start a new run"


@pytest.mark.parametrize("text,says", [
    ("invalid load key, 'x'.\nmore", "(UnpicklingError: invalid load key, 'x'.); the file is truncated or damaged"),
    ("Weights only load failed", "refused: the file holds Python objects"),
    ("use weights_only=False", "refused: the file holds Python objects"),
])
def test_an_unpickling_error_is_damage_unless_it_is_torchs_weights_only_refusal(tmp_path, monkeypatch, text, says):
    import pickle

    from alexspec.runtime import checkpoint as ckpt

    (tmp_path / "c.pt").write_bytes(b"x")

    def fail(*a, **k):
        raise pickle.UnpicklingError(text)

    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(RunError) as e:
        ckpt.read(tmp_path / "c.pt")
    assert says in e.value.message


def test_a_name_with_more_after_the_step_is_not_a_checkpoint_step():
    from alexspec.runtime import checkpoint as ckpt

    assert ckpt.checkpoint_step(Path("d/ckpt-00000007.pt")) == 7
    assert ckpt.checkpoint_step(Path("d/ckpt-00000005-copy.pt")) is None


def test_saving_survives_an_old_checkpoint_deleted_meanwhile(tmp_path, monkeypatch):
    """Another process (a second run's clean-up) may delete an old checkpoint first."""
    from alexspec.runtime import checkpoint as ckpt

    listed = ckpt.list_checkpoints
    monkeypatch.setattr(ckpt, "list_checkpoints", lambda d: [Path(d) / "ckpt-00000001.pt", *listed(d)])
    path = ckpt.save({"format": ckpt.FORMAT}, tmp_path, 2, keep=1)
    assert path.is_file()


def test_an_older_format_and_a_dict_without_one_are_refused(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    with pytest.raises(RunError, match=f"a checkpoint of format {ckpt.FORMAT - 1}; this alexspec reads"):
        ckpt.read(_write(tmp_path, {"format": ckpt.FORMAT - 1}, "old.pt"))
    torch.save({"step": 1}, tmp_path / "none.pt")
    with pytest.raises(RunError, match="not an alexspec checkpoint"):
        ckpt.read(tmp_path / "none.pt")


@pytest.mark.parametrize("stored", ["0" * 64, "f" * 64])
def test_a_hash_above_or_below_the_contents_is_refused(tmp_path, stored):
    from alexspec.runtime import checkpoint as ckpt

    obj = {"format": ckpt.FORMAT, "step": 3}
    torch.save({**obj, ckpt.HASH_KEY: stored}, tmp_path / "c.pt")
    with pytest.raises(RunError, match="does not match its hash"):
        ckpt.read(tmp_path / "c.pt")


def test_a_checkpoint_reads_and_writes_format_2(tmp_path):
    """docs/runtime.md's format 2 (content hash, full settings, class names): a file of this
    format written by another version must load, so the number cannot drift."""
    from alexspec.runtime import checkpoint as ckpt

    c = ckpt.load_file(_write(tmp_path, {**_plain_checkpoint(), "format": 2}))
    assert c.step == 5 and ckpt.FORMAT == 2


def test_validation_finite_at_a_step_past_256(tmp_path):
    """Steps compared by identity (`is`) would match only below 257 (CPython's cached ints)."""
    from alexspec.runtime import checkpoint as ckpt

    c = _plain_checkpoint(step=1000)
    c["history"] = [{"kind": "test", "step": 1000, "epoch": 9.0, "loss": float("nan"), "top1": 0.5,
                     "top5": 0.1, "images": 8, "views": 1, "lr_drops": 0}]
    assert ckpt.load_file(_write(tmp_path, c, "ckpt-00001000.pt")).validation_finite is False


def test_of_two_bad_settings_the_first_is_named(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    c = _plain_checkpoint()
    c["settings"] = {**c["settings"], "mini": "y", "flip": "x"}
    with pytest.raises(RunError, match="field 'settings.mini' is invalid"):
        ckpt.load_file(_write(tmp_path, c))


def test_arch_diff_names_a_change_either_way_with_everything_after_the_name():
    from alexspec.runtime.checkpoint import arch_diff

    assert arch_diff(["conv1: conv 5x5"], ["conv1: conv 3x3"]) == ["conv1: conv 5x5  ->  conv 3x3"]
    assert arch_diff(["fc: fc 10"], ["fc: fc 10: relu"]) == ["fc: fc 10  ->  fc 10: relu"]
    assert arch_diff(["fc: fc 10"], ["".join(["fc: ", "fc 10"])]) == []  # equal lines built apart


def test_an_equal_architecture_hash_resumes():
    """Equal hashes computed apart (distinct string objects) are the same architecture."""
    from types import SimpleNamespace

    from alexspec.runtime import checkpoint as ckpt

    saved = SimpleNamespace(arch_hash="".join(["ab", "cd"]), arch=("x: y",))
    ckpt.check_architecture(saved, SimpleNamespace(architecture_hash="".join(["abc", "d"]), nodes=[]), "a.cfg")
    for other in ("abcc", "abce"):  # a hash sorting before or after the saved one
        with pytest.raises(RunError, match="architecture differs"):
            ckpt.check_architecture(saved, SimpleNamespace(architecture_hash=other, nodes=[]), "a.cfg")


def test_train_state_is_a_value():
    import dataclasses

    from alexspec.runtime import checkpoint as ckpt

    st = ckpt.TrainState(5, 1, 2, 0, {"drops": 1, "best": 3.0, "since": 0.0}, 100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.step = 6


def test_rng_state_holds_cuda_states_exactly_when_cuda_is_there(monkeypatch):
    from alexspec.runtime import checkpoint as ckpt

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert set(ckpt.rng_state({})) == {"torch", "gens"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.ones(2, dtype=torch.uint8)])
    assert [s.tolist() for s in ckpt.rng_state({})["cuda"]] == [[1, 1]]


def test_a_directory_that_cannot_be_opened_for_its_fsync_still_saves(tmp_path, monkeypatch):
    from alexspec.runtime import checkpoint as ckpt

    real_open = os.open

    def no_dirs(path, flags, *a, **k):
        if Path(path).is_dir():
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", no_dirs)
    ckpt.atomic_save({"format": ckpt.FORMAT}, tmp_path / "c.pt")
    assert (tmp_path / "c.pt").is_file()


def test_a_full_disk_while_torch_writes_is_named(tmp_path, monkeypatch):
    """torch.save reports a failed write as its own RuntimeError; the OSError behind it is the
    message the user must read."""
    from alexspec.runtime import checkpoint as ckpt

    class Full:
        def __init__(self, path):
            self.f, self.writes = open(path, "wb"), 0

        def write(self, b):  # the first writes fit; torch then wraps the error of a later one
            self.writes += 1
            if self.writes > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(b)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(ckpt, "_open_for_write", Full)
    with pytest.raises(RunError) as e:
        ckpt.atomic_save({"format": ckpt.FORMAT, "w": torch.ones(4)}, tmp_path / "c.pt")
    assert e.value.message == "cannot write checkpoint: no space left on device"
    assert e.value.hint == "free some space (the previous checkpoints are intact)"


def test_data_info_is_a_value_and_saving_makes_missing_directories(tmp_path):
    from alexspec.runtime import checkpoint as ckpt

    with pytest.raises(dataclasses.FrozenInstanceError):
        ckpt.DataInfo("cifar-10", "d/", ("a",)).name = "x"
    ckpt.atomic_save({"format": ckpt.FORMAT}, tmp_path / "a" / "b" / "c.pt")
    assert ckpt.read(tmp_path / "a" / "b" / "c.pt")["format"] == ckpt.FORMAT
    loaded = ckpt.load_file(_write(tmp_path, _plain_checkpoint()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.step = 6


def test_a_directory_fsync_the_filesystem_refuses_still_saves(tmp_path, monkeypatch):
    import stat

    from alexspec.runtime import checkpoint as ckpt

    real_fsync = os.fsync

    def no_dir_fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_dir_fsync)
    ckpt.atomic_save({"format": ckpt.FORMAT}, tmp_path / "c.pt")
    assert (tmp_path / "c.pt").is_file()


def test_remove_temporaries_deletes_what_it_can_and_names_it(tmp_path, monkeypatch):
    from alexspec.runtime import checkpoint as ckpt

    for name in ("ckpt-00000001.pt.tmp-11", "ckpt-00000002.pt.tmp-12", "ckpt-00000002.pt"):
        (tmp_path / name).write_bytes(b"x")
    real_unlink = Path.unlink

    def busy(self, *a, **k):
        if self.name.endswith("tmp-11"):
            raise PermissionError(13, "Permission denied")
        return real_unlink(self, *a, **k)

    monkeypatch.setattr(Path, "unlink", busy)
    assert ckpt.remove_temporaries(tmp_path) == [tmp_path / "ckpt-00000002.pt.tmp-12"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000001.pt.tmp-11", "ckpt-00000002.pt"]


def test_the_content_hash_covers_every_field():
    from alexspec.runtime import checkpoint as ckpt

    c = _plain_checkpoint()
    h = ckpt.content_hash(c)
    assert ckpt.content_hash({**c, ckpt.HASH_KEY: "anything"}) == h  # the hash itself is left out
    for key in c:
        assert ckpt.content_hash({**c, key: "changed"}) != h, key
    assert ckpt.content_hash({**c, "zzz": 1}) != h  # a key sorting after the hash's own


@pytest.mark.parametrize("loss,finite", [(1.5, True), (float("nan"), False), (float("inf"), False)])
def test_validation_finite_reads_the_validation_at_the_checkpoints_step(tmp_path, loss, finite):
    from alexspec.runtime import checkpoint as ckpt

    test = {"kind": "test", "step": 5, "epoch": 0.5, "loss": loss, "top1": 0.5, "top5": 0.1,
            "images": 8, "views": 1, "lr_drops": 0}
    old = {**test, "step": 4, "loss": float("nan")}  # an earlier step's does not count
    c = _plain_checkpoint()
    c["history"] = [*c["history"], old, test]
    assert ckpt.load_file(_write(tmp_path, c)).validation_finite is finite


def test_scores_are_values():
    import dataclasses

    from alexspec.runtime.evaluate import Scores

    s = Scores(1.0, 0.5, 0.25, 8, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.loss = 0.0
    assert hash(s) == hash(Scores(1.0, 0.5, 0.25, 8, 10))


def test_stats_default_to_a_sample_of_ten_thousand_images():
    from alexspec.runtime.augment import compute_stats
    from alexspec.runtime.data.base import TensorSplit

    def mean_of(n: int) -> float:
        images = torch.zeros(n, 1, 1, 1, dtype=torch.uint8)
        images[0] = 255  # one bright image: its share of the mean shows how many were averaged
        return float(compute_stats(TensorSplit(images, torch.zeros(n, dtype=torch.long)), 1, "image").mean)

    assert mean_of(10_000) == pytest.approx(255 / 10_000)
    assert mean_of(10_001) in (pytest.approx(0.0), pytest.approx(255 / 10_000))  # 10,000 of them


def test_sgd_loads_the_momentum_of_more_than_256_tensors():
    # Python caches small ints only: counts compared by identity would differ past 256
    eps = Schedule(kind="plateau", base=0.1, factor=10, max_drops=3)
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(300)]
    sgd = PaperSGD([_Rule(p, "fc", "weight", eps, 0.9, 0.0) for p in params])
    sgd.load_state_dict({"velocity": [torch.full((1,), float(i)) for i in range(300)]})
    assert float(sgd.velocity[299]) == 299.0


def test_the_default_colour_noise_is_the_papers():
    from alexspec.runtime.augment import Augment

    a = Augment(8, 6)
    assert (a.flip, a.color_noise) == (True, 0.1)  # section 4.1: alphas ~ N(0, 0.1)


@pytest.mark.parametrize("saved,present,restored", [(1, 2, False), (2, 1, False), (2, 2, True)])
def test_cuda_random_states_are_restored_only_onto_as_many_devices(monkeypatch, saved, present, restored):
    from alexspec.runtime.checkpoint import rng_state, set_rng_state

    state = rng_state({})
    state["cuda"] = [torch.zeros(8, dtype=torch.uint8)] * saved
    calls: list = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: present)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", calls.append)
    set_rng_state(state, {})
    assert bool(calls) == restored


class _SquaredCost:
    """What a compiled net's `cost` returns for cost.sum2: a batch mean, no classes."""

    def __init__(self, loss):
        self.loss, self.classifies = loss, False


class _RegressionNet(torch.nn.Module):
    """A net whose cost has no classes (cost.sum2): `cost(out, labels)` is 0.5 * mean sum of squares."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)

    def cost(self, out, labels):
        return _SquaredCost(0.5 * (out.double() ** 2).sum(1).mean())


def test_evaluate_of_a_cost_without_classes_averages_its_value_over_images_and_views():
    """cost.sum2: the score is the cost's value, each batch's mean weighted by its images and
    averaged over the ten views; no error rates (NaN), progress per batch, every batch read."""
    from alexspec.runtime.evaluate import evaluate

    model, split, aug, stats = _eval_setup()
    net = _RegressionNet(model)
    seen: list[int] = []
    got = evaluate(net, split, aug, stats, multiview=True, batch=4, limit=11, progress=seen.append)
    assert seen == [4, 8, 11] and got.images == 11 and got.views == 10
    assert math.isnan(got.top1) and math.isnan(got.top5) and got.classifies is False
    want, n = 0.0, 0
    with torch.no_grad():
        for start in (0, 4, 8):
            idx = torch.arange(start, min(start + 4, 11))
            views = aug.views(split.images[idx], stats, True)
            per_view = [float(0.5 * (model.eval()(v).double() ** 2).sum(1).mean()) for v in views]
            want += sum(per_view) / len(per_view) * len(idx)
            n += len(idx)
    assert got.loss == pytest.approx(want / n, rel=1e-9)
    assert evaluate(net, split, aug, stats, batch=8).images == 20  # no progress callback: fine


def test_scores_say_whether_their_error_rates_mean_anything():
    """`classifies`: error rates present, or an empty pass (nothing to say either way)."""
    from alexspec.runtime.evaluate import Scores

    nan = float("nan")
    assert Scores(nan, nan, nan, 0, 1).classifies is True
    assert Scores(0.5, nan, nan, 1, 1).classifies is False
    assert Scores(0.5, nan, nan, 7, 10).classifies is False
    assert Scores(0.5, 0.25, 0.0, 7, 10).classifies is True
    assert Scores(0.5, 0.25, 0.0, 1, 1).classifies is True
