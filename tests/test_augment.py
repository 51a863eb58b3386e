"""The paper's pipeline against hand computations: mean, crops, flips, PCA noise, ten views."""

from __future__ import annotations

import torch

from alexspec.runtime.augment import Augment, DataStats, compute_stats, to_working
from alexspec.runtime.data.base import TensorSplit


def _split(n=6, c=3, s=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorSplit(torch.randint(0, 256, (n, c, s, s), generator=g, dtype=torch.uint8),
                       torch.arange(n) % 10)


def test_mean_image_and_pca_by_hand():
    sp = _split()
    st = compute_stats(sp, 8, "image")
    assert torch.allclose(st.mean, sp.images.double().mean(0).float())
    px = sp.images.permute(0, 2, 3, 1).reshape(-1, 3).double() / 255
    cov = torch.cov(px.T, correction=0)
    # C p = l p for every pair; eigenvalues sorted, largest first
    for i in range(3):
        assert torch.allclose(cov.float() @ st.eigvec[:, i], st.eigval[i] * st.eigvec[:, i], atol=1e-5)
    assert st.eigval[0] >= st.eigval[1] >= st.eigval[2] >= 0
    ch = compute_stats(sp, 8, "channel")
    assert torch.allclose(ch.mean[:, 0, 0], sp.images.double().mean((0, 2, 3)).float())
    assert compute_stats(sp, 8, "none").mean.abs().max() == 0


def test_mean_image_is_scaled_to_the_working_size():
    sp = _split(s=8)
    st = compute_stats(sp, 16, "image")
    assert st.mean.shape == (3, 16, 16)
    # scaling is linear, so the mean of scaled images is the scaled mean
    assert torch.allclose(st.mean, to_working(sp.images, 16).mean(0), atol=1e-3)


def test_random_crop_and_flip_by_hand():
    sp = _split(n=5, s=8)
    st = DataStats(torch.zeros(3, 8, 8), torch.eye(3), torch.zeros(3))
    aug = Augment(8, 5, flip=True, color_noise=0.0)
    out = aug.train_batch(sp.images, st, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)  # replay the draws in the documented order
    oy = torch.randint(0, 4, (5,), generator=g)
    ox = torch.randint(0, 4, (5,), generator=g)
    flip = torch.rand(5, generator=g) < 0.5
    for b in range(5):
        want = sp.images[b, :, oy[b]:oy[b] + 5, ox[b]:ox[b] + 5].float()
        if flip[b]:
            want = want.flip(-1)
        assert torch.equal(out[b], want)
    assert 0 < int(flip.sum()) < 5  # this seed exercises both cases


def test_every_offset_is_reachable():
    st = DataStats(torch.zeros(1, 6, 6), torch.eye(3), torch.zeros(3))
    img = torch.arange(36, dtype=torch.uint8).reshape(1, 1, 6, 6).expand(400, 1, 6, 6)
    out = Augment(6, 4, flip=False, color_noise=0).train_batch(img, st, torch.Generator().manual_seed(0))
    corners = {int(v) for v in out[:, 0, 0, 0]}
    assert corners == {r * 6 + c for r in range(3) for c in range(3)}  # 3x3 offsets (6-4+1)


def test_pca_colour_noise_is_alpha_times_lambda():
    sp = _split(n=4, s=6)
    st = compute_stats(sp, 6, "none")
    aug = Augment(6, 6, flip=False, color_noise=0.1)
    out = aug.train_batch(sp.images, st, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    torch.randint(0, 1, (4,), generator=g), torch.randint(0, 1, (4,), generator=g)  # crops
    alpha = torch.randn(4, 3, generator=g) * 0.1
    for b in range(4):
        shift = 255 * sum(alpha[b, i] * st.eigval[i] * st.eigvec[:, i] for i in range(3))  # (3,)
        # the same shift on every pixel of the image, per channel
        assert torch.allclose(out[b] - sp.images[b].float(), shift[:, None, None].expand(3, 6, 6), atol=1e-4)


def test_same_seed_same_batches_different_seed_different():
    sp = _split(n=16, s=8)
    st = compute_stats(sp, 8, "image")
    aug = Augment(8, 6)
    a = aug.train_batch(sp.images, st, torch.Generator().manual_seed(1))
    b = aug.train_batch(sp.images, st, torch.Generator().manual_seed(1))
    c = aug.train_batch(sp.images, st, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_centre_crop_and_ten_views():
    sp = _split(n=2, s=8)
    st = DataStats(torch.zeros(3, 8, 8), torch.eye(3), torch.zeros(3))
    aug = Augment(8, 4)
    one = aug.views(sp.images, st, multiview=False)
    assert one.shape == (1, 2, 3, 4, 4)
    assert torch.equal(one[0], sp.images[:, :, 2:6, 2:6].float())
    ten = aug.views(sp.images, st, multiview=True)
    assert ten.shape == (10, 2, 3, 4, 4)
    x = sp.images.float()
    want = [x[..., 2:6, 2:6], x[..., 0:4, 0:4], x[..., 0:4, 4:8], x[..., 4:8, 0:4], x[..., 4:8, 4:8]]
    for v in range(5):
        assert torch.equal(ten[v], want[v])
        assert torch.equal(ten[5 + v], want[v].flip(-1))
