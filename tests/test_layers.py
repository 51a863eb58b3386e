"""Each lowered layer against its cuda-convnet formula, written out naively in float64."""

from __future__ import annotations

import math

import pytest
import torch

from alexspec.compiler.layers.conv import Conv, Local
from alexspec.compiler.layers.fc import FullyConnected, SplitFullyConnected
from alexspec.compiler.layers.neurons import Activation
from alexspec.compiler.layers.norm import ContrastNorm, CrossMapNorm, ResponseNorm
from alexspec.compiler.layers.pool import CrossMapPool, Pool
from alexspec.compiler.layers.simple import Concat, Dropout, EltMax, EltSum, Softmax
from alexspec.errors import Span
from alexspec.ir import (
    ConcatLayer, ContrastNormLayer, ConvLayer, CrossMapNormLayer, CrossMapPoolLayer, DropoutLayer,
    EltMaxLayer, EltSumLayer, FcLayer, ImageOpLayer, LocalLayer, Neuron, PoolLayer,
    ResponseNormLayer, SfcLayer,
)
from alexspec.net import Shape

SPAN = Span("t.cfg", 1, 1)
D = torch.float64


def _randomise(mod, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=D))
    return mod.to(D)


def _in_image(x, n, c, y, xx):
    """x[n, c, y, xx] or 0 outside the image."""
    h, w = x.shape[2:]
    return x[n, c, y, xx] if 0 <= y < h and 0 <= xx < w else torch.zeros((), dtype=x.dtype)


def naive_conv(x, w, pad, stride, out_hw, groups=1):
    n, c, _, _ = x.shape
    f, cg, k, _ = w.shape
    fg = f // groups
    y = torch.zeros(n, f, *out_hw, dtype=x.dtype)
    for b in range(n):
        for o in range(f):
            g = o // fg
            for oy in range(out_hw[0]):
                for ox in range(out_hw[1]):
                    acc = 0.0
                    for ci in range(cg):
                        for ky in range(k):
                            for kx in range(k):
                                acc = acc + w[o, ci, ky, kx] * _in_image(
                                    x, b, g * cg + ci, oy * stride - pad + ky, ox * stride - pad + kx)
                    y[b, o, oy, ox] = acc
    return y


def pool_out(size, window, start, stride):
    """cuda-convnet's pool output size (PoolLayerParser), for the tests' expected grids."""
    return math.ceil((size - start - window) / stride) + 1


def test_conv_several_inputs_ceil_padding_and_bias():
    # 8x8 input, 3x3, stride 2, pad 1: 1 + ceil(7/2) = 5 outputs, so 2 px of padding on the right.
    layer = ConvLayer(name="c", type="conv", inputs=("a", "b"), span=SPAN, channels=(2, 3),
                      filters=(4, 4), filterSize=(3, 3), padding=(1, 1), stride=(2, 2),
                      neuron=Neuron(kind="relu"))
    shapes = (Shape(2, 8, 8), Shape(3, 8, 8))
    mod = _randomise(Conv(layer, shapes, Shape(4, 5, 5)))
    xa, xb = torch.randn(2, 2, 8, 8, dtype=D), torch.randn(2, 3, 8, 8, dtype=D)
    want = naive_conv(xa, mod.weights[0], 1, 2, (5, 5)) + naive_conv(xb, mod.weights[1], 1, 2, (5, 5))
    want = torch.relu(want + mod.bias[None, :, None, None])
    torch.testing.assert_close(mod(xa, xb), want)
    assert mod.geoms[0].pad_w == (1, 2)


def test_conv_groups_count_filters_per_group_and_unshared_biases():
    layer = ConvLayer(name="c", type="conv", inputs=("a",), span=SPAN, channels=(4,), filters=(3,),
                      filterSize=(3,), padding=(0,), groups=(2,), sharedBiases=False)
    mod = _randomise(Conv(layer, (Shape(4, 5, 5),), Shape(6, 3, 3)))
    assert mod.weights[0].shape == (6, 2, 3, 3) and mod.bias.shape == (6, 3, 3)
    x = torch.randn(1, 4, 5, 5, dtype=D)
    want = naive_conv(x, mod.weights[0], 0, 1, (3, 3), groups=2) + mod.bias
    torch.testing.assert_close(mod(x), want)


def test_alexnet_conv1_geometry_224_to_55():
    layer = ConvLayer(name="conv1", type="conv", inputs=("data",), span=SPAN, channels=(3,),
                      filters=(4,), filterSize=(11,), stride=(4,))
    mod = _randomise(Conv(layer, (Shape(3, 224, 224),), Shape(4, 55, 55)))
    assert mod.geoms[0].pad_h == (0, 3)
    x = torch.randn(1, 3, 224, 224, dtype=D)
    y = mod(x)
    # The last window (216..226) sees 8 real pixels and 3 zeros.
    want = (mod.weights[0][:, :, :8, :8] * x[0, :, 216:, 216:]).sum((1, 2, 3)) + mod.bias
    torch.testing.assert_close(y[0, :, 54, 54], want)


def test_local_has_unshared_weights():
    layer = LocalLayer(name="l", type="local", inputs=("a",), span=SPAN, channels=(2,), filters=(3,),
                       filterSize=(3,), padding=(1,), stride=(2,))
    mod = _randomise(Local(layer, (Shape(2, 6, 6),), Shape(3, 4, 4)))  # 1 + ceil(5/2)
    x = torch.randn(2, 2, 6, 6, dtype=D)
    y = mod(x)
    w = mod.weights[0]  # (positions, groups, filters, C*k*k)
    for oy in range(4):
        for ox in range(4):
            p = oy * 4 + ox
            for f in range(3):
                acc = mod.bias[f, oy, ox]
                for c in range(2):
                    for ky in range(3):
                        for kx in range(3):
                            acc = acc + w[p, 0, f, c * 9 + ky * 3 + kx] * x[:, c].new_tensor(
                                [_in_image(x, b, c, oy * 2 - 1 + ky, ox * 2 - 1 + kx) for b in range(2)])
                torch.testing.assert_close(y[:, f, oy, ox], acc)


def test_fc_several_inputs_one_bias():
    layer = FcLayer(name="f", type="fc", inputs=("a", "b"), span=SPAN, outputs=5,
                    neuron=Neuron(kind="tanh", args=(1.7, 0.5)))
    mod = _randomise(FullyConnected(layer, (Shape(2, 2, 2), Shape(3)), Shape(5)))
    xa, xb = torch.randn(4, 2, 2, 2, dtype=D), torch.randn(4, 3, dtype=D)
    lin = xa.reshape(4, 8) @ mod.weights[0].T + xb @ mod.weights[1].T + mod.bias
    torch.testing.assert_close(mod(xa, xb), 1.7 * torch.tanh(0.5 * lin))


def naive_pool(x, kind, size, stride, start, out, sum_=False):
    n, c, h, w = x.shape
    y = torch.empty(n, c, out, out, dtype=x.dtype)
    for oy in range(out):
        for ox in range(out):
            y0, x0 = start + oy * stride, start + ox * stride
            ys = [t for t in range(y0, y0 + size) if 0 <= t < h]
            xs = [t for t in range(x0, x0 + size) if 0 <= t < w]
            win = x[:, :, ys][:, :, :, xs]
            if kind == "max":
                y[:, :, oy, ox] = win.amax((2, 3))
            elif kind == "maxabs":  # MaxAbsPooler: |a| > |b| ? a : b, sign kept
                for b in range(n):
                    for ch in range(c):
                        best = None
                        for v in win[b, ch].flatten().tolist():
                            best = v if best is None or not abs(best) > abs(v) else best
                        y[b, ch, oy, ox] = best
            else:
                y[:, :, oy, ox] = win.sum((2, 3)) / (1 if sum_ else len(ys) * len(xs))
    return y


@pytest.mark.parametrize("kind,size,stride,start,outputs_x,sum_", [
    ("max", 3, 2, 0, 0, False),    # overlapping, ceil rule: 8 -> 4 with an overhang
    ("avg", 3, 2, 0, 0, False),    # avg divides by the pixels inside the image
    ("max", 3, 2, -1, 0, False),   # a negative start: windows begin left of the image
    ("avg", 2, 2, 1, 0, False),
    ("avg", 3, 3, 0, 2, True),     # outputsX fewer than the image needs; sum instead of mean
    ("max", 4, 3, 0, 3, False),
    ("maxabs", 3, 2, 0, 0, False),  # the overhanging window sees only the pixels inside
    ("maxabs", 3, 2, -1, 0, False),
])
def test_pool_against_windows(kind, size, stride, start, outputs_x, sum_):
    layer = PoolLayer(name="p", type="pool", inputs=("a",), span=SPAN, pool=kind, sizeX=size,
                      stride=stride, channels=2, start=start, outputsX=outputs_x, sum=sum_)
    out = outputs_x or pool_out(8, size, start, stride)
    mod = Pool(layer, Shape(2, 8, 8), Shape(2, out, out)).to(D)
    x = torch.randn(2, 2, 8, 8, dtype=D)
    torch.testing.assert_close(mod(x), naive_pool(x, kind, size, stride, start, out, sum_))


@pytest.mark.parametrize("size,blocked", [(5, False), (4, False), (3, True)])
def test_cmrnorm_formula(size, blocked):
    layer = CrossMapNormLayer(name="n", type="cmrnorm", inputs=("a",), span=SPAN, channels=7,
                              size=size, scale=0.3, pow=0.75, minDiv=2.0, blocked=blocked)
    x = torch.randn(2, 7, 3, 3, dtype=D)
    y = CrossMapNorm(layer)(x)
    want = torch.empty_like(x)
    for i in range(7):
        lo = (i // size) * size if blocked else i - size // 2
        js = [j for j in range(lo, lo + size) if 0 <= j < 7]
        s = (x[:, js] ** 2).sum(1)
        want[:, i] = x[:, i] / (2.0 + 0.3 / size * s) ** 0.75
    torch.testing.assert_close(y, want)


def test_paper_lrn_constants_via_scale_times_size():
    # specs/alexnet.cfg: scale=5e-4, size=5 realises the paper's alpha=1e-4 (no 1/n), k=2.
    layer = CrossMapNormLayer(name="n", type="cmrnorm", inputs=("a",), span=SPAN, channels=8,
                              size=5, scale=5e-4, pow=0.75, minDiv=2.0)
    x = torch.randn(1, 8, 2, 2, dtype=D) * 10
    y = CrossMapNorm(layer)(x)
    i = 4
    s = (x[:, 2:7] ** 2).sum(1)
    torch.testing.assert_close(y[:, i], x[:, i] / (2 + 1e-4 * s) ** 0.75)


def _spatial_window(h, p, size):
    lo = p - size // 2
    return [t for t in range(lo, lo + size) if 0 <= t < h]


@pytest.mark.parametrize("size", [3, 4])
def test_rnorm_and_cnorm_formulas(size):
    x = torch.randn(2, 3, 5, 5, dtype=D)
    kw = dict(inputs=("a",), span=SPAN, channels=3, size=size, scale=0.7, pow=0.6, minDiv=1.5)
    r = ResponseNorm(ResponseNormLayer(name="r", type="rnorm", **kw))(x)
    c = ContrastNorm(ContrastNormLayer(name="c", type="cnorm", **kw), 5, 5).to(D)(x)
    mean = torch.empty_like(x)
    for yy in range(5):
        for xx in range(5):
            ys, xs = _spatial_window(5, yy, size), _spatial_window(5, xx, size)
            mean[:, :, yy, xx] = x[:, :, ys][:, :, :, xs].mean((2, 3))
    d = x - mean
    want_r, want_c = torch.empty_like(x), torch.empty_like(x)
    for yy in range(5):
        for xx in range(5):
            ys, xs = _spatial_window(5, yy, size), _spatial_window(5, xx, size)
            sr = (x[:, :, ys][:, :, :, xs] ** 2).sum((2, 3))
            sc = (d[:, :, ys][:, :, :, xs] ** 2).sum((2, 3))
            want_r[:, :, yy, xx] = x[:, :, yy, xx] / (1.5 + 0.7 / size**2 * sr) ** 0.6
            want_c[:, :, yy, xx] = x[:, :, yy, xx] / (1.5 + 0.7 / size**2 * sc) ** 0.6
    torch.testing.assert_close(r, want_r)
    torch.testing.assert_close(c, want_c)


NEURONS = {
    "ident": ((), lambda v: v),
    "relu": ((), lambda v: max(0.0, v)),
    "logistic": ((), lambda v: 1 / (1 + math.exp(-v))),
    "tanh": ((1.7159, 0.6666), lambda v: 1.7159 * math.tanh(0.6666 * v)),
    "abs": ((), abs),
    "linear": ((2.0, -0.5), lambda v: 2.0 * v - 0.5),
    "brelu": ((1.5,), lambda v: min(1.5, max(0.0, v))),
    "softrelu": ((), lambda v: math.log(1 + math.exp(v))),
    "square": ((), lambda v: v * v),
    "sqrt": ((), lambda v: math.sqrt(v) if v >= 0 else math.nan),
    "abstanh": ((2.0, 0.5), lambda v: 2.0 * abs(math.tanh(0.5 * v))),
    "log": ((3.0,), lambda v: math.log(3.0 + v)),
    "drelu": ((2.0,), lambda v: v - 2.0 * math.tanh(v / 2.0)),
    "nrelu": ((), lambda v: max(0.0, v)),  # test time
}


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_neuron_formula(kind):
    args, f = NEURONS[kind]
    act = Activation(Neuron(kind=kind, args=args)).eval()
    x = torch.tensor([-2.5, -1.0, -0.1, 0.0, 0.3, 1.0, 2.0], dtype=D)
    want = torch.tensor([f(v) for v in x.tolist()], dtype=D)
    torch.testing.assert_close(act(x), want, equal_nan=True)


def test_nrelu_adds_noise_at_train_time_only():
    act = Activation(Neuron(kind="nrelu"))
    x = torch.zeros(10000, dtype=D)
    y = act.train()(x)
    assert (y > 0).float().mean().item() == pytest.approx(0.5, abs=0.03)
    assert torch.equal(act.eval()(x), x)


def test_every_ir_neuron_has_a_formula_here():
    from alexspec.ir import Neuron as N
    assert set(N.model_fields["kind"].annotation.__args__) == set(NEURONS)


def test_softmax_concat_eltsum_eltmax():
    x = torch.randn(3, 4, dtype=D)
    e = torch.exp(x)
    torch.testing.assert_close(Softmax()(x), e / e.sum(1, keepdim=True))
    a, b = torch.randn(2, 3, 2, 2, dtype=D), torch.randn(2, 1, 2, 2, dtype=D)
    cat = Concat(ConcatLayer(name="c", type="concat", inputs=("a", "b"), span=SPAN), Shape(4, 2, 2))
    torch.testing.assert_close(cat(a, b).flatten(1), torch.cat([a.flatten(1), b.flatten(1)], 1))
    u, v = torch.randn(5, dtype=D), torch.randn(5, dtype=D)
    s = EltSum(EltSumLayer(name="s", type="eltsum", inputs=("u", "v"), span=SPAN, coeffs=(0.5, -1.0)), 2)
    torch.testing.assert_close(s(u, v), 0.5 * u - v)
    m = EltMax(EltMaxLayer(name="m", type="eltmax", inputs=("u", "v"), span=SPAN))
    torch.testing.assert_close(m(u, v), torch.tensor([max(p, q) for p, q in zip(u.tolist(), v.tolist())], dtype=D))


@pytest.mark.parametrize("kind", ["dropout", "dropout2"])
def test_dropout_kinds(kind):
    mod = Dropout(DropoutLayer(name="d", type=kind, inputs=("a",), span=SPAN, keep=0.25))
    x = torch.rand(20000, dtype=D) + 1.0
    y = mod.train()(x)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.25, abs=0.02)
    scale = 4.0 if kind == "dropout" else 1.0
    torch.testing.assert_close(y[kept], x[kept] * scale)
    test_scale = 1.0 if kind == "dropout" else 0.25
    torch.testing.assert_close(mod.eval()(x), x * test_scale)


def test_conv_inputs_with_different_geometry_are_summed():
    # 8x8 and 9x9 inputs both give 5x5 (3x3, stride 2, pad 1), with different right padding.
    layer = ConvLayer(name="c", type="conv", inputs=("a", "b"), span=SPAN, channels=(2, 1),
                      filters=(3, 3), filterSize=(3, 3), padding=(1, 1), stride=(2, 2))
    mod = _randomise(Conv(layer, (Shape(2, 8, 8), Shape(1, 9, 9)), Shape(3, 5, 5)))
    assert not mod.concat_inputs
    xa, xb = torch.randn(1, 2, 8, 8, dtype=D), torch.randn(1, 1, 9, 9, dtype=D)
    want = naive_conv(xa, mod.weights[0], 1, 2, (5, 5)) + naive_conv(xb, mod.weights[1], 1, 2, (5, 5))
    torch.testing.assert_close(mod(xa, xb), want + mod.bias[None, :, None, None])


def test_maxabs_keeps_the_sign_of_the_largest_magnitude():
    layer = PoolLayer(name="p", type="pool", inputs=("a",), span=SPAN, pool="maxabs", sizeX=2,
                      stride=2, channels=1)
    x = torch.tensor([[[[1.0, -3.0], [2.0, 0.5]]]], dtype=D)
    assert Pool(layer, Shape(1, 2, 2), Shape(1, 1, 1))(x).item() == -3.0


@pytest.mark.parametrize("size,stride,start,channels,outputs", [
    (3, 2, 0, 8, 3),   # ceil((8 - 3) / 2) + 1 = 4 would be the default; 3 given
    (4, 2, -1, 8, 4),  # start < 0: the first window hangs before map 0
    (2, 2, 0, 6, 3),
])
def test_cmpool_against_map_windows(size, stride, start, channels, outputs):
    layer = CrossMapPoolLayer(name="m", type="cmpool", inputs=("a",), span=SPAN, size=size,
                              stride=stride, start=start, channels=channels, outputs=outputs)
    mod = CrossMapPool(layer, Shape(channels, 3, 3), Shape(outputs, 3, 3))
    x = torch.randn(2, channels, 3, 3, dtype=D)
    want = torch.empty(2, outputs, 3, 3, dtype=D)
    for o in range(outputs):
        maps = [c for c in range(start + o * stride, start + o * stride + size) if 0 <= c < channels]
        for b in range(2):
            for yy in range(3):
                for xx in range(3):
                    want[b, o, yy, xx] = max(x[b, c, yy, xx].item() for c in maps)
    torch.testing.assert_close(mod(x), want)


def test_sfc_blocks_read_only_their_part():
    layer = SfcLayer(name="s", type="sfc", inputs=("a", "b"), span=SPAN, outputs=6, parts=3)
    mod = _randomise(SplitFullyConnected(layer, (Shape(3, 2, 2), Shape(6)), Shape(6)))
    xa, xb = torch.randn(2, 3, 2, 2, dtype=D), torch.randn(2, 6, dtype=D)
    fa, fb = xa.flatten(1).tolist(), xb.tolist()
    want = torch.empty(2, 6, dtype=D)
    for n in range(2):
        for o in range(6):
            p, oo = divmod(o, 2)  # 3 parts of 2 outputs; inputs in parts of 4 and 2
            acc = mod.bias[o].item()
            acc += sum(mod.weights[0][p, oo, j].item() * fa[n][p * 4 + j] for j in range(4))
            acc += sum(mod.weights[1][p, oo, j].item() * fb[n][p * 2 + j] for j in range(2))
            want[n, o] = acc
    torch.testing.assert_close(mod(xa, xb), want)
    assert sum(p.numel() for p in mod.parameters()) == 12 * 6 // 3 + 6 * 6 // 3 + 6  # 42


def test_rand_sparse_count_and_connectivity():
    # cuda-convnet layers.gc.cfg-style: 32 channels, 4 groups of 16 filters, each reading 16
    # random channels: (9*16)*64 weights + 64 biases = 9,280 parameters.
    layer = ConvLayer(name="c", type="conv", inputs=("a",), span=SPAN, channels=(32,), filters=(16,),
                      filterSize=(3,), padding=(1,), groups=(4,), randSparse=(True,),
                      filterChannels=(16,))
    mod = Conv(layer, (Shape(32, 2, 2),), Shape(64, 2, 2))
    assert sum(p.numel() for p in mod.parameters()) == 9280
    conns = mod.conns0.tolist()
    assert len(conns) == 64 and sorted(conns[:32]) == sorted(conns[32:]) == list(range(32))
    mod = _randomise(mod)
    x = torch.randn(1, 32, 2, 2, dtype=D)
    want = torch.empty(1, 64, 2, 2, dtype=D)
    w, xl, b = mod.weights[0].tolist(), x.tolist(), mod.bias.tolist()
    for o in range(64):
        g = o // 16
        for oy in range(2):
            for ox in range(2):
                acc = b[o]
                for ci in range(16):
                    c = conns[g * 16 + ci]
                    for ky in range(3):
                        for kx in range(3):
                            yy, xx = oy - 1 + ky, ox - 1 + kx
                            if 0 <= yy < 2 and 0 <= xx < 2:
                                acc += w[o][ci][ky][kx] * xl[0][c][yy][xx]
                want[0, o, oy, ox] = acc
    torch.testing.assert_close(mod(x), want)


def test_rscale_trains_on_random_crops_of_rescaled_images():
    from alexspec.compiler.layers.image import RandomScale, bilinear
    layer = ImageOpLayer(name="r", type="rscale", inputs=("a",), span=SPAN, channels=1,
                         maxScale=1.5, tgtSize=6)
    mod = RandomScale(layer, Shape(1, 8, 8))
    x = torch.arange(64, dtype=D).reshape(1, 1, 8, 8)
    torch.testing.assert_close(mod.eval()(x), bilinear(x, 6, 1.5))
    seen = {tuple(mod.train()(x).flatten().tolist()) for _ in range(30)}
    assert len(seen) > 5 and all(len(s) == 36 for s in seen)
    # values come from the image's range (bilinear blends of its pixels)
    assert all(min(v) >= 0 and max(v) <= 63 for v in seen)
