"""Tests that kill the mutants cosmic-ray left alive in compiler/layers/ (see docs/testing.md).

Each expected value comes from the layer's formula written out in float64 (cuda-convnet's
definition, as quoted in the layer module's docstring), never from the code under test.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from registry_nets import BODIES, net_text

from alexspec.compiler import build
from alexspec.compiler.layers import COSTS, FED, all_ir_types
from alexspec.compiler.layers.conv import Conv
from alexspec.compiler.layers.cost import binomial, crossent, logreg
from alexspec.compiler.layers.image import Blur, ColorTransform, Crop, Nailbed
from alexspec.compiler.layers.neurons import Activation
from alexspec.compiler.layers.norm import ContrastNorm, CrossMapNorm, ResponseNorm
from alexspec.compiler.layers.pool import CrossMapPool, Pool
from alexspec.compiler.layers.simple import Concat, Dropout, EltSum
from alexspec.errors import Span
from alexspec.ir import (
    ConcatLayer, ContrastNormLayer, ConvLayer, CostLayer, CrossMapNormLayer, CrossMapPoolLayer,
    DropoutLayer, EltSumLayer, ImageOpLayer, Neuron, PoolLayer, ResponseNormLayer,
)
from alexspec.net import Shape
from alexspec.pipeline import loads
from tests.test_mutants_compiler import _model
from tests.test_mutants_compiler_more import _bilinear_loop

SPAN = Span("t.cfg", 1, 1)
D = torch.float64


def _randomise(mod: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=D))
    return mod.to(D)


def _grouped_conv_loop(x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """Unpadded stride-1 conv, cuda-convnet groups: output map o reads group o // (F/groups)."""
    n, c, h, wd = x.shape
    f, cg, k, _ = w.shape
    oh, ow = h - k + 1, wd - k + 1
    y = torch.zeros(n, f, oh, ow, dtype=D)
    for o in range(f):
        g = o // (f // groups)
        for i in range(oh):
            for j in range(ow):
                patch = x[:, g * cg:(g + 1) * cg, i:i + k, j:j + k]  # (N, Cg, k, k)
                y[:, o, i, j] = (patch * w[o]).sum((1, 2, 3))
    return y


def test_a_conv_over_two_grouped_inputs_groups_each_input_on_its_own():
    # Two inputs of 4 maps, groups=2 each: group 0 reads maps 0-1 of each input, not all of the
    # first input (what one conv over the concatenation with groups=2 would read).
    layer = ConvLayer(name="c", type="conv", inputs=("a", "b"), span=SPAN, channels=(4, 4),
                      filters=(2, 2), filterSize=(2, 2), padding=(0, 0), groups=(2, 2))
    mod = _randomise(Conv(layer, (Shape(4, 4, 4), Shape(4, 4, 4)), Shape(4, 3, 3)))
    g = torch.Generator().manual_seed(1)
    xa, xb = (torch.randn(2, 4, 4, 4, generator=g, dtype=D) for _ in range(2))
    want = (_grouped_conv_loop(xa, mod.weights[0].detach(), 2)
            + _grouped_conv_loop(xb, mod.weights[1].detach(), 2)
            + mod.bias.detach()[None, :, None, None])
    torch.testing.assert_close(mod(xa, xb), want)


def _spatial_norm_loop(x: torch.Tensor, size: int, scale: float, pow_: float, k: float,
                       contrast: bool) -> torch.Tensor:
    """rnorm / cnorm per alexspec's norm.py docstring (cuda-convnet): window
    [p - size//2, p - size//2 + size) clipped to the image; cnorm subtracts the window's mean
    over the pixels inside, then both divide by (k + scale/size^2 * sum of squares)^pow."""
    n, c, h, w = x.shape

    def window(t: torch.Tensor, yy: int, xx: int) -> torch.Tensor:
        ys = [i for i in range(yy - size // 2, yy - size // 2 + size) if 0 <= i < h]
        xs = [j for j in range(xx - size // 2, xx - size // 2 + size) if 0 <= j < w]
        return t[:, :, ys][:, :, :, xs]

    d = x.clone()
    if contrast:
        for yy in range(h):
            for xx in range(w):
                d[:, :, yy, xx] = x[:, :, yy, xx] - window(x, yy, xx).mean((2, 3))
    y = torch.empty_like(x)
    for yy in range(h):
        for xx in range(w):
            s = (window(d, yy, xx) ** 2).sum((2, 3))
            y[:, :, yy, xx] = x[:, :, yy, xx] / (k + scale / size**2 * s) ** pow_
    return y


def test_rnorm_and_cnorm_with_windows_of_5_and_2_pixels_on_a_batch_of_3():
    # Sizes 3 and 4 (tests/test_layers.py) pad the window's far side by 1 either way; 5 pads 2
    # after, 2 pads none after. A batch of 3: cnorm's per-pixel counts are for any batch size.
    x = torch.randn(3, 2, 6, 6, generator=torch.Generator().manual_seed(2), dtype=D)
    for size in (5, 2):
        kw = dict(inputs=("a",), span=SPAN, channels=2, size=size, scale=0.9, pow=0.7, minDiv=1.2)
        r = ResponseNorm(ResponseNormLayer(name="r", type="rnorm", **kw))(x)
        c = ContrastNorm(ContrastNormLayer(name="c", type="cnorm", **kw), 6, 6).to(D)(x)
        torch.testing.assert_close(r, _spatial_norm_loop(x, size, 0.9, 0.7, 1.2, contrast=False))
        torch.testing.assert_close(c, _spatial_norm_loop(x, size, 0.9, 0.7, 1.2, contrast=True))


def _lab_pixel(r: float, g: float, b: float, center: bool) -> tuple[float, float, float]:
    """kRGBToLAB for one pixel, per cuda-convnet2 (the formula in compiler/layers/image.py)."""
    def f(t: float) -> float:
        return t ** 0.3333 if t > 0.0088564517 else 7.787037 * t + 0.13793103
    fx = f(0.49 * r + 0.31 * g + 0.2 * b)
    fy = f(0.17697 * r + 0.8124 * g + 0.01063 * b)
    fz = f(0.01 * g + 0.99 * b)
    return 116.0 * fy - 16.0 - (50.0 if center else 0.0), 500.0 * (fx - fy), 200.0 * (fy - fz)


def test_rgb2lab_of_dark_pixels_takes_the_linear_part_of_the_curve():
    # X, Y, Z below 0.0088564517 take f(t) = 7.787037 t + 0.13793103: black and two near-black
    # pixels (all three below), a dark blue one (Z = 0.0198 above, X and Y below), a bright one,
    # and a red one whose X = 0.49 R is the threshold itself (kRGBToLAB's `>`: the linear part).
    pixels = [(0.0, 0.0, 0.0), (0.002, 0.004, 0.001), (0.008, 0.0085, 0.003), (0.0, 0.0, 0.02),
              (0.5, 0.004, 0.9), (0.0088564517 / 0.49, 0.0, 0.0)]
    assert 0.49 * pixels[-1][0] == 0.0088564517
    x = torch.tensor(pixels, dtype=D).T.reshape(1, 3, 1, len(pixels))
    for center in (False, True):
        layer = ImageOpLayer(name="l", type="rgb2lab", inputs=("data",), span=SPAN, center=center)
        got = ColorTransform(layer)(x)
        want = torch.tensor([_lab_pixel(*p, center) for p in pixels], dtype=D).T.reshape(1, 3, 1, -1)
        torch.testing.assert_close(got, want)


def test_the_program_names_the_colour_transforms():
    def shown(type_: str, center: bool) -> str:
        layer = ImageOpLayer(name="l", type=type_, inputs=("data",), span=SPAN, center=center)
        return repr(ColorTransform(layer))

    assert shown("rgb2lab", True) == "ColorTransform(rgb -> lab centred)"
    assert shown("rgb2lab", False) == "ColorTransform(rgb -> lab)"
    assert shown("rgb2yuv", False) == "ColorTransform(rgb -> yuv)"


def _a_minus_its_rectified(rectifier: str) -> str:
    """data -> fc a (6 outputs) -> r, a `rectifier` layer (type=neuron, or a one-input eltsum)
    with neuron=relu -> s = a - r (eltsum, coeffs 1,-1) -> fc -> softmax -> logreg."""
    return f"""
[net]
type=net
innerSize=4
[data]
type=data
dataIdx=0
channels=1
[labels]
type=data
dataIdx=1
[a]
type=fc
inputs=data
outputs=6
[r]
type={rectifier}
inputs=a
neuron=relu
[s]
type=eltsum
inputs=a,r
coeffs=1,-1
[fc]
type=fc
inputs=s
outputs=3
[probs]
type=softmax
inputs=fc
[logprob]
type=cost.logreg
inputs=labels,probs
"""


def _assert_the_rectifier_leaves_a_alone(rectifier: str, seed: int) -> None:
    # a feeds both the rectifier r and s = a - r: s = min(a, 0) only if r did not overwrite a.
    model = build(loads(_a_minus_its_rectified(rectifier), f"{rectifier}.cfg"), devices="cpu",
                  dtype=D, seed=3).eval()
    x = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=D)
    w, b = model.layers["a"].weights[0].detach(), model.layers["a"].bias.detach()
    a = x.flatten(1) @ w.T + b
    assert (a < 0).any() and (a > 0).any()
    out = model.forward_layers(x, ["s"])["s"]
    torch.testing.assert_close(out, torch.clamp(a, max=0.0))


def test_a_relu_layer_leaves_the_output_it_reads_to_its_other_readers():
    _assert_the_rectifier_leaves_a_alone("neuron", seed=4)


SUM2 = """
[net]
type=net
innerSize=4
[data]
type=data
dataIdx=0
channels=1
[fc]
type=fc
inputs=data
outputs=3
[cost]
type=cost.sum2
inputs=fc
coeff=0.5
"""


def test_sum2s_cost_counts_no_hits_over_no_classes():
    model = build(loads(SUM2, "sum2.cfg"), devices="cpu", dtype=D, seed=0)
    x = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(5), dtype=D)
    out = model(x)
    cost = model.cost(out, torch.zeros(4, dtype=torch.long))
    want = 0.5 * sum(float(v) ** 2 for row in out.detach() for v in row) / 4
    assert abs(float(cost.loss.detach()) - want) < 1e-12
    assert (int(cost.correct_top1), int(cost.correct_topk), cost.k, cost.classifies) == (0, 0, 0, False)


def test_concat_of_maps_of_different_sizes_and_of_a_vector_is_their_features_in_a_row():
    # cuda-convnet's concat: each input's flattened (C, H, W) features one after the other.
    g = torch.Generator().manual_seed(6)
    big, small, vec = (torch.randn(2, *s, generator=g, dtype=D) for s in ((2, 3, 3), (1, 2, 2), (5,)))
    for xs in ((big, small), (vec, small), (small, vec)):
        n = sum(x[0].numel() for x in xs)
        layer = ConcatLayer(name="c", type="concat", inputs=tuple("ab"), span=SPAN)
        got = Concat(layer, Shape(n))(*xs)
        want = [[v for x in xs for v in x[b].reshape(-1).tolist()] for b in range(2)]
        assert got.tolist() == want


WEIGHTS = """
[cv]
type=conv
inputs=data
channels=3
filters=96
filterSize=3
[lc]
type=local
inputs=data
channels=3
filters=16
filterSize=3
stride=2
[sf]
type=sfc
inputs=data
outputs=64
parts=2
[fc]
type=fc
inputs=cv,lc,sf
outputs=10
"""


def test_weights_without_initw_are_drawn_with_cuda_convnets_std_of_0_01():
    # cuda-convnet's default initW is 0.01 for conv, local, fc and sfc; initB 0.
    m = _model(WEIGHTS)
    for name in ("cv", "lc", "sf", "fc"):
        layer = m.layers[name]
        w = torch.cat([w.detach().flatten() for w in layer.weights])
        assert w.numel() > 2000 and abs(float(w.std()) - 0.01) < 0.001, name
        assert float(layer.bias.detach().abs().max()) == 0.0, name


def test_crossent_bce_and_dce_count_top1_hits_at_the_default_topk_of_1():
    # Rows 0 and 2: the label scores highest; row 1: second highest; row 3: lowest.
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], dtype=D)
    labels = torch.tensor([0, 1, 2, 2])
    top1 = sum(int(max(range(3), key=lambda j: float(probs[i, j])) == int(labels[i])) for i in range(4))
    assert top1 == 2
    for kind, make in (("cost.crossent", crossent), ("cost.bce", binomial), ("cost.dce", binomial)):
        layer = CostLayer(name="c", type=kind, inputs=("labels", "p"), span=SPAN)
        got = make(layer)(probs, labels)
        assert (int(got.correct_top1), int(got.correct_topk), got.k) == (top1, top1, 1), kind


# `print(model)` (docs/compiler.md): each layer's line, from the spec values of
# tests/registry_nets.py, worked out by hand (8x8 images; c and c2 are 16 maps).
PROGRAM_LINES = {
    # 1 + ceil((2*1 + 8 - 3)/2) = 5 windows from -1: the last, at 7, needs pixel 9 (pad 2 after);
    # the 5x5 input starts at -2 and its last window at 6 needs pixel 10 (pad 3 after).
    "conv": "Conv(16->16 3x3/2 pad (1,2)x(1,2); 3->16 5x5/2 pad (2,3)x(2,3))",
    "local": "Local(3->16 3x3/2 pad (1,2)x(1,2) unshared)",
    "fc": "FullyConnected(1024 + 192 -> 8) relu",  # c: 16*8*8 inputs, data: 3*8*8
    "sfc": "SplitFullyConnected(192 -> 8 in 2 parts)",
    # ceil((8 - 3)/2) + 1 = 4 windows at 0, 2, 4, 6: the last needs pixel 8 (pad 1 right, bottom)
    "pool": "Pool(maxabs 3x3/2 start 0 pad (0, 1, 0, 1))",
    "cmpool": "CrossMapPool(max over maps 4/2 start -1 -> 8)",  # ceil((16 + 1 - 4)/2) + 1
    "cmrnorm": "CrossMapNorm(size 5, k 1, alpha/size 0.01/5, beta 0.75)",
    "rnorm": "ResponseNorm(same-map 3x3, k 1, scale 0.01, pow 0.75)",
    "cnorm": "ContrastNorm(contrast 3x3, k 1, scale 0.01, pow 0.75)",
    "eltsum": "EltSum(coeffs 1,-2)",
    "sum": "ChannelSum(maps in groups of 4)",
    "dropout": "Dropout(keep 0.5, inverted)",
    "dropout2": "Dropout(keep 0.5, test-time scaling)",
    "nailbed": "Nailbed(every 3th pixel from 1)",  # ceil(8/3) = 3 outputs, (8 - 3*2)//2 = 1
    "blur": "Blur(gaussian 5 taps, stdev 1.2)",
    "resize": "Resize(bilinear to 5, scale 1.5)",  # floor(8 / 1.5)
    "rscale": "RandomScale(random scale up to 1.5, crop 6)",
    "crop": "Crop(5x5 at (2, 1))",  # (startY, startX)
    "rgb2yuv": "ColorTransform(rgb -> yuv)",
}
# Variants of the same nets: the parts of a line that only some settings show.
PROGRAM_VARIANTS = [
    ("dropout", "keep=0.5", "keep=0.8\nenable=false", "Dropout(keep 0.8, inverted, disabled)"),
    ("pool", "pool=maxabs\nsizeX=3\nstride=2", "pool=avg\nsizeX=2\nstride=2",
             "Pool(avg 2x2/2 start 0)"),  # windows at 0, 2, 4, 6 fit: no padding
    ("cmrnorm", "pow=0.75", "pow=0.75\nblocked=true\nminDiv=2",
                "CrossMapNorm(size 5, k 2, alpha/size 0.01/5, beta 0.75, blocked)"),
    ("conv", "inputs=c,data\nchannels=16,3\nfilters=16\nfilterSize=3,5\npadding=1,2\nstride=2",
             "inputs=c\nchannels=16\nfilters=16\nfilterSize=3\npadding=1\ngroups=2\nsharedBiases=false",
             "Conv(16->32 3x3/1 pad 1 groups=2; unshared biases)"),
    ("conv", "inputs=c,data\nchannels=16,3\nfilters=16\nfilterSize=3,5\npadding=1,2\nstride=2",
     "inputs=data\nchannels=3\nfilters=16\nfilterSize=3",
     "Conv(3->16 3x3/1 pad 0)"),  # 6 windows of 3 fit 8 pixels: no padding on any side
]


def _program_line(text: str, name: str) -> str:
    model = build(loads(text, "p.cfg"), devices="cpu")
    for line in model.program().splitlines():
        head, _, rest = line.strip().partition(" = ")
        if head == f"gpu0 {name}":
            return rest.split("  <- ")[0]
    raise AssertionError(f"no line for {name} in\n{model.program()}")


def test_the_program_describes_each_layer_with_its_settings():
    for layer_type, want in PROGRAM_LINES.items():
        assert _program_line(net_text(layer_type), "t") == want, layer_type
    for layer_type, old, new, want in PROGRAM_VARIANTS:
        text = net_text(layer_type)
        assert BODIES[layer_type] in text and text.count(old) == 1, layer_type
        assert _program_line(text.replace(old, new), "t") == want, layer_type


@pytest.mark.parametrize("max_scale,tgt", [(1.5, 6), (1.6, 5)])
def test_rscale_draws_its_sizes_from_the_smallest_scaled_size(max_scale, tgt):
    """RandomScaleLayer (cuda-convnet2 layer.cu) on 8x8 images: the smallest scaled size is
    imgSize / maxScale, 5 for both 1.5 and 1.6 (8 / 1.6f is 5 in float; floor division of the
    doubles would give 4), so 8 - 5 + 1 = 4 sizes tgtSize+i with probabilities (i+1)^2/30.
    With tgtSize 6 they are 6..9, and 9 is an upscale by a factor in [max(1, 8/10), 8/9]."""
    m = _model(f"[rs]\ntype=rscale\ninputs=data\nchannels=3\nmaxScale={max_scale}\ntgtSize={tgt}\n"
               "[fc]\ntype=fc\ninputs=rs\noutputs=3\n")
    mod = m.layers["rs"].train()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(7), dtype=D)
    cumulative = [sum((j + 1) ** 2 / 30 for j in range(i + 1)) for i in range(4)]
    drawn = set()
    for seed in range(8):
        torch.manual_seed(seed)
        rng = random.Random(int(torch.randint(0, 2**62, (1,))))
        r = rng.random()
        size = tgt + next(i for i, p in enumerate(cumulative) if r <= p)
        lo, hi = max(1.0, 8 / (1.0 + size)), 8 / size
        factor = lo + rng.random() * (hi - lo)
        top, left = rng.randrange(size - tgt + 1), rng.randrange(size - tgt + 1)
        img = _bilinear_loop(x[0], size, factor) if size != 8 else x[0]
        torch.manual_seed(seed)
        got = mod(x)
        torch.testing.assert_close(got[0], img[:, top:top + tgt, left:left + tgt], rtol=1e-12, atol=1e-12)
        drawn.add(size)
    assert len(drawn) >= 2 and (tgt != 6 or 9 in drawn)


def test_nailbed_takes_every_stride_th_pixel_from_the_centred_start():
    # kBedOfNails: y[c, i, j] = x[c, s0 + i*stride, s0 + j*stride], outputs ceil(size/stride),
    # s0 = (size - stride*(outputs - 1)) // 2: stride 1 is the identity; 7 pixels by 2 keep
    # 0, 2, 4, 6; 8 by 3 keep 1, 4, 7.
    for size, stride, kept in ((5, 1, [0, 1, 2, 3, 4]), (7, 2, [0, 2, 4, 6]), (8, 3, [1, 4, 7])):
        layer = ImageOpLayer(name="n", type="nailbed", inputs=("data",), span=SPAN, channels=2,
                             stride=stride)
        x = torch.randn(2, 2, size, size, generator=torch.Generator().manual_seed(size), dtype=D)
        got = Nailbed(layer, Shape(2, size, size), Shape(2, len(kept), len(kept)))(x)
        want = [[[[x[b, c, i, j].item() for j in kept] for i in kept] for c in range(2)] for b in range(2)]
        assert got.tolist() == want, (size, stride)


def test_the_fed_and_cost_types_are_the_data_layer_and_the_five_costs():
    # The module docstring of compiler/layers/: data layers are fed, cost layers evaluated, the
    # rest are modules. The cost types are those the IR names cost.* (alexspec/layers/cost.py).
    assert FED == ("data",)
    assert sorted(COSTS) == sorted(t for t in all_ir_types() if t.startswith("cost.")) == [
        "cost.bce", "cost.crossent", "cost.dce", "cost.logreg", "cost.sum2"]


def test_maxabs_pool_over_zeros_at_a_padded_edge_passes_every_gradient_to_the_image():
    # Windows from start -1 hang over the top and left edges. Over an image of zeros (a relu's
    # output, say) each window's largest |x| is a 0 inside the image, never a padded pixel
    # outside it, so each output's gradient reaches some input: they sum to the output count.
    layer = PoolLayer(name="p", type="pool", inputs=("a",), span=SPAN, pool="maxabs", sizeX=3,
                      stride=2, channels=2, start=-1)
    mod = Pool(layer, Shape(2, 6, 6), Shape(2, 3, 3))  # ceil((6 + 1 - 3)/2) + 1 = 3 windows: -1, 1, 3
    x = torch.zeros(1, 2, 6, 6, dtype=D, requires_grad=True)
    y = mod(x)
    y.sum().backward()
    assert y.shape == (1, 2, 3, 3) and not y.detach().any()
    assert float(x.grad.sum()) == y.numel()


def test_crop_from_the_corner_when_startx_is_0_or_left_out():
    # y = x[:, :, startY:startY+sizeX, startX:startX+sizeX], startX 0 by default, startY = startX.
    x = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(8), dtype=D)
    for keys in (dict(start_x=0), dict()):
        layer = ImageOpLayer(name="c", type="crop", inputs=("data",), span=SPAN, channels=2, size_x=4, **keys)
        got = Crop(layer, Shape(2, 4, 4))(x)
        assert got.tolist() == [[[[x[0, c, i, j].item() for j in range(4)] for i in range(4)] for c in range(2)]]


def test_eltsum_with_a_coefficient_of_0_leaves_that_input_out():
    g = torch.Generator().manual_seed(9)
    u, v = (torch.randn(2, 3, generator=g, dtype=D) for _ in range(2))
    layer = EltSumLayer(name="s", type="eltsum", inputs=("u", "v"), span=SPAN, coeffs=(1.0, 0.0))
    assert EltSum(layer, 2)(u, v).tolist() == u.tolist()


def test_bce_and_dce_of_saturated_probabilities_take_the_safelog_of_1e_30():
    """Kills cost.py NumberReplacer 1 (`_TINY = -1.0`: the clamp no longer keeps the logs away
    from 0). A logistic output saturates to exactly 0 or 1 in float; the module's safelog,
    log(max(x, 1e-30)), then gives log(1e-30) = -30 ln 10, never -inf or (0 * -inf) nan."""
    probs = torch.tensor([[1.0, 0.0, 0.25], [0.0, 1.0, 0.5]], dtype=D)
    labels = torch.tensor([1, 1])
    tiny = -30 * math.log(10)
    # row 0: label 1 has y = 0 (safelog), class 0 has 1 - y = 0 (safelog), class 2 log(0.75);
    # row 1: label 1 has y = 1 (log 1), class 0 has 1 - y = 1, class 2 log(0.5).
    want = -((tiny + tiny + math.log(0.75)) + (0.0 + 0.0 + math.log(0.5))) / 2
    for kind in ("cost.bce", "cost.dce"):
        layer = CostLayer(name="c", type=kind, inputs=("labels", "p"), span=SPAN)
        got = float(binomial(layer)(probs, labels).loss)
        assert abs(got - want) < 1e-9, (kind, got, want)


def test_eltsum_without_coeffs_adds_its_inputs():
    """Kills simple.py NumberReplacer 22 and 23 (the default coefficient 2 or 0 for 1).
    cuda-convnet's EltwiseSumLayer: coeffs default to 1 for every input, so y = u + v + w."""
    g = torch.Generator().manual_seed(10)
    u, v, w = (torch.randn(2, 3, generator=g, dtype=D) for _ in range(3))
    layer = EltSumLayer(name="s", type="eltsum", inputs=("u", "v", "w"), span=SPAN)
    got = EltSum(layer, 3)(u, v, w)
    want = [[u[i, j].item() + v[i, j].item() + w[i, j].item() for j in range(3)] for i in range(2)]
    torch.testing.assert_close(got, torch.tensor(want, dtype=D), rtol=0, atol=1e-15)


def test_a_checkpoints_model_state_holds_the_parameters_and_no_buffer_computed_from_the_spec():
    """Kills norm.py ReplaceFalseWithTrue 2 (cnorm's window counts made a persistent buffer).
    A checkpoint's model entry is the state_dict (runtime/checkpoint.py): what training learned
    (and randSparse's random connectivity, which these nets lack). A buffer computed from the
    spec (pool's and cnorm's window counts, blur's taps, the colour matrices) is rebuilt by every
    build; kept in the state_dict it would make checkpoints and exports carry it, and those
    written without it fail the strict load."""
    for layer_type in ("cnorm", "pool", "blur", "rgb2yuv", "rgb2lab"):
        model = build(loads(net_text(layer_type), "b.cfg"), devices="cpu")
        params = sorted(k for k, _ in model.named_parameters())
        assert sorted(model.state_dict()) == params, layer_type


def test_concat_of_a_small_map_then_a_bigger_one_is_their_features_in_a_row():
    """Kills simple.py ReplaceComparisonOperator_Eq_GtE 2 (`x.shape[2:] >= xs[0].shape[2:]`:
    a 3x3 map after a 2x2 one passes the test, and concatenating them along channels fails).
    cuda-convnet's concat: each input's flattened (C, H, W) features one after the other."""
    g = torch.Generator().manual_seed(11)
    small, big = (torch.randn(2, *s, generator=g, dtype=D) for s in ((1, 2, 2), (2, 3, 3)))
    layer = ConcatLayer(name="c", type="concat", inputs=("a", "b"), span=SPAN)
    got = Concat(layer, Shape(4 + 18))(small, big)
    want = [small[b].reshape(-1).tolist() + big[b].reshape(-1).tolist() for b in range(2)]
    assert got.tolist() == want


def test_eltsum_over_300_inputs_weighs_each_by_its_own_coefficient():
    """Kills simple.py ReplaceComparisonOperator_Eq_Is 2 (`len(c) is n_inputs`: CPython shares
    the int objects of -5..256 only, so for 300 inputs the test fails and every input would get
    the first coefficient). eltsum takes any number of inputs; y = sum_i coeffs[i] * x_i."""
    n = 300
    xs = [torch.full((1, 2), float(i), dtype=D) for i in range(n)]
    coeffs = tuple(float(i % 3) for i in range(n))  # 0, 1, 2, 0, 1, 2, ...
    names = tuple(f"in{i}" for i in range(n))
    layer = EltSumLayer(name="s", type="eltsum", inputs=names, span=SPAN, coeffs=coeffs)
    want = sum(c * i for i, c in enumerate(coeffs))
    assert EltSum(layer, len(layer.inputs))(*xs).tolist() == [[want, want]]


def test_avg_pool_with_sum_over_windows_that_fit_sums_them():
    """Kills pool.py ReplaceUnaryOperator_Delete_Not 2 (`exact and sum` for `exact and not sum`:
    windows that fit the image would be averaged although sum=true). cuda-convnet2's avg pool
    with sum=1 adds the sizeX x sizeX pixels of each window: 2x2 windows by 2 on a 4x4 image."""
    layer = PoolLayer(name="p", type="pool", inputs=("a",), span=SPAN, pool="avg", sizeX=2,
                      stride=2, channels=2, sum=True)
    x = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(12), dtype=D)
    got = Pool(layer, Shape(2, 4, 4), Shape(2, 2, 2))(x)
    want = torch.zeros(3, 2, 2, 2, dtype=D)
    for i in range(2):
        for j in range(2):
            for dy in range(2):
                for dx in range(2):
                    want[:, :, i, j] += x[:, :, 2 * i + dy, 2 * j + dx]
    torch.testing.assert_close(got, want)


def test_top1_and_topk_hits_are_the_label_among_the_best_scores_not_an_index_above_it():
    """Kills cost.py ReplaceComparisonOperator_Eq_GtE 0 (`indices >= labels`: a guess at any
    class index above the label would count as a hit). A hit is the label among the k best
    scores (cuda-convnet's logreg topk): here the best guesses sit above the labels."""
    rows = [[0.1, 0.7, 0.2], [0.2, 0.1, 0.7], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1]]
    probs = torch.tensor(rows, dtype=D)
    labels = torch.tensor([0, 1, 0, 0])
    ranked = [sorted(range(3), key=lambda j: -float(probs[i, j])) for i in range(4)]
    top1 = sum(r[0] == int(labels[i]) for i, r in enumerate(ranked))
    top2 = sum(int(labels[i]) in r[:2] for i, r in enumerate(ranked))
    assert (top1, top2) == (1, 2)
    layer = CostLayer(name="c", type="cost.logreg", inputs=("labels", "p"), span=SPAN, topk=2)
    got = logreg(layer)(probs.log(), labels)
    assert (int(got.correct_top1), int(got.correct_topk), got.k) == (top1, top2, 2)
    for kind, make in (("cost.crossent", crossent), ("cost.bce", binomial)):
        got = make(CostLayer(name="c", type=kind, inputs=("labels", "p"), span=SPAN))(probs, labels)
        assert (int(got.correct_top1), int(got.correct_topk)) == (top1, top1), kind


def test_a_one_input_eltsum_with_relu_leaves_its_input_to_its_other_readers():
    """Kills simple.py ReplaceFalseWithTrue 1 (eltsum's relu in place). Over one input with
    coefficient 1 the sum is the input tensor itself, so an in-place relu would rectify a for s
    too: s = a - relu(a) = min(a, 0) only if a is left alone."""
    _assert_the_rectifier_leaves_a_alone("eltsum", seed=13)


def test_a_disabled_dropout_passes_its_input_through_at_train_time():
    """Kills simple.py ReplaceOrWithAnd 0 (`not enable and keep >= 1`: a disabled layer with
    keep < 1 would still drop at train time). cuda-convnet2's DropoutLayer::fpropActs masks only
    when `_enable && passType == PASS_TRAIN`, and otherwise copies its input."""
    layer = DropoutLayer(name="d", type="dropout", inputs=("a",), span=SPAN, keep=0.5, enable=False)
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(14), dtype=D)
    torch.manual_seed(0)
    assert Dropout(layer).train()(x).tolist() == x.tolist()


def test_rgb2lab_gradient_at_dark_pixels_is_the_linear_parts_slope():
    """Kills image.py NumberReplacer 151 (the cube root's clamp at -0.99 for 0.0088564517: for
    X, Y or Z at or below the threshold the unused cube-root branch then has a nan or infinite
    derivative, which torch.where's backward turns into a nan gradient). Below the threshold
    f(t) = 7.787037 t + 0.13793103 (kRGBToLAB), so d(L + a + b)/dt is 7.787037 times the
    output weights: L = 116 f(Y), a = 500 (f(X) - f(Y)), b = 200 (f(Y) - f(Z))."""
    dsum_df = (500.0, 116.0 - 500.0 + 200.0, -200.0)  # d(L + a + b) / d(f(X), f(Y), f(Z))
    xyz = ((0.49, 0.31, 0.2), (0.17697, 0.8124, 0.01063), (0.0, 0.01, 0.99))
    want = [7.787037 * sum(dsum_df[o] * xyz[o][c] for o in range(3)) for c in range(3)]
    pixels = [(0.0, 0.0, 0.0), (0.002, 0.004, 0.001), (-0.01, 0.003, -0.02)]  # black, dark, below 0
    x = torch.tensor(pixels, dtype=D).T.reshape(1, 3, 1, 3).requires_grad_()
    layer = ImageOpLayer(name="l", type="rgb2lab", inputs=("data",), span=SPAN)
    ColorTransform(layer)(x).sum().backward()
    for p in range(3):
        assert [float(g) for g in x.grad[0, :, 0, p]] == pytest.approx(want, rel=1e-12), pixels[p]


def test_the_program_shows_a_grouped_local_layers_filters_times_groups():
    """Kills conv.py ReplaceBinaryOperator_Mul_FloorDiv 6 (Local's line shows filters // groups).
    cuda-convnet counts `filters` per group, so 16 filters in 2 groups make 32 output maps."""
    text = net_text("local")
    old = "channels=3\nfilters=16\nfilterSize=3\npadding=1\nstride=2"
    assert text.count(old) == 1
    new = "channels=16\nfilters=16\nfilterSize=3\npadding=1\nstride=2\ngroups=2"
    line = _program_line(text.replace("inputs=data\n" + old, "inputs=c\n" + new), "t")
    assert line == "Local(16->32 3x3/2 pad (1,2)x(1,2) unshared)"


def test_nrelu_at_train_time_adds_unit_gaussian_noise_before_the_relu():
    """Kills neurons.py ReplaceBinaryOperator_Add_Pow 3 (x ** e for x + e). nrelu: max(0, x + e),
    e ~ N(0, 1), at train time (the module's formula); e is torch's draw for x's shape."""
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(15), dtype=D)
    act = Activation(Neuron(kind="nrelu")).train()
    torch.manual_seed(16)
    got = act(x)
    torch.manual_seed(16)
    e = torch.randn(3, 5, dtype=D)
    want = [[max(0.0, float(x[i, j]) + float(e[i, j])) for j in range(5)] for i in range(3)]
    assert got.tolist() == want


def test_cmrnorm_over_windows_of_2_3_and_6_maps():
    """Kills norm.py ReplaceBinaryOperator_Sub_BitAnd 2 (`size & 1 - size // 2` zero maps after
    for size-1-size//2: none for size 3, whose window then runs past the padded maps; the
    tested sizes 4 and 5 get more, never fewer). cuda-convnet's cmrnorm: map i divided by
    (k + scale/size * sum of x^2 over maps [i - size//2, i - size//2 + size) clipped)^pow."""
    x = torch.randn(2, 7, 2, 2, generator=torch.Generator().manual_seed(17), dtype=D)
    for size in (2, 3, 6):
        layer = CrossMapNormLayer(name="n", type="cmrnorm", inputs=("a",), span=SPAN, channels=7,
                                  size=size, scale=0.4, pow=0.6, minDiv=1.5)
        want = torch.empty_like(x)
        for i in range(7):
            maps = [j for j in range(i - size // 2, i - size // 2 + size) if 0 <= j < 7]
            want[:, i] = x[:, i] / (1.5 + 0.4 / size * (x[:, maps] ** 2).sum(1)) ** 0.6
        torch.testing.assert_close(CrossMapNorm(layer)(x), want)


def test_crop_from_row_1():
    """Kills image.py ReplaceBinaryOperator_Add_BitOr 21 (the rows end at startY | sizeX for
    startY + sizeX: the same for the tested starts 0 and 2 with size 5, not for 1 with 3).
    y = x[:, :, startY:startY+sizeX, startX:startX+sizeX]."""
    x = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(18), dtype=D)
    layer = ImageOpLayer(name="c", type="crop", inputs=("data",), span=SPAN, channels=2, size_x=3,
                         start_x=3, start_y=1)
    got = Crop(layer, Shape(2, 3, 3))(x)
    assert got.tolist() == [[[[x[0, c, 1 + i, 3 + j].item() for j in range(3)] for i in range(3)]
                             for c in range(2)]]


def test_a_blur_with_a_tiny_stdev_leaves_the_image_as_it_is():
    """Kills image.py ReplaceUnaryOperator_USub_Invert 4 (exp(~(d^2) / 2s^2) for exp(-(d^2) / 2s^2):
    every tap times exp(-1 / 2s^2), which normalising cancels, except that for stdev 0.01 it
    underflows to 0 and the taps divide 0 by 0). kGaussianBlur's f_d = exp(-d^2 / (2 stdev^2)):
    1 at the centre and exp(-5000) = 0 elsewhere, so the blur is the identity."""
    layer = ImageOpLayer(name="b", type="blur", inputs=("data",), span=SPAN, channels=2,
                         filterSize=5, stdev=0.01)
    x = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(19), dtype=D)
    assert Blur(layer, 2)(x).tolist() == x.tolist()


def test_cmpool_with_relu_passes_each_positive_outputs_gradient_to_its_largest_map():
    """Kills pool.py ReplaceFalseWithTrue 2 (cmpool's relu in place: amax's backward reads the
    output it returned, which the relu would have overwritten, and autograd refuses). Output
    map o is the max over maps [start + o*stride, start + o*stride + size) clipped to the maps
    (kPoolCrossMap); d sum(relu(y)) / dx is 1 at each window's largest map where y > 0."""
    layer = CrossMapPoolLayer(name="p", type="cmpool", inputs=("a",), span=SPAN, channels=6,
                              size=3, stride=2, start=-1, neuron=Neuron(kind="relu"))
    mod = CrossMapPool(layer, Shape(6, 2, 2), Shape(3, 2, 2))  # windows from -1, 1, 3
    x = torch.randn(2, 6, 2, 2, generator=torch.Generator().manual_seed(20), dtype=D)
    x.requires_grad_()
    y = mod(x)
    y.sum().backward()
    xd = x.detach()
    want_y = torch.zeros(2, 3, 2, 2, dtype=D)
    want_g = torch.zeros(2, 6, 2, 2, dtype=D)
    for n in range(2):
        for o in range(3):
            for i in range(2):
                for j in range(2):
                    maps = [c for c in range(-1 + 2 * o, 2 + 2 * o) if 0 <= c < 6]
                    best = max(maps, key=lambda c: float(xd[n, c, i, j]))
                    want_y[n, o, i, j] = max(float(xd[n, best, i, j]), 0.0)
                    if float(xd[n, best, i, j]) > 0:
                        want_g[n, best, i, j] += 1.0
    assert y.tolist() == want_y.tolist() and x.grad.tolist() == want_g.tolist()
