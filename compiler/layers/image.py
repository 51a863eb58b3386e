"""cuda-convnet2's image layers (layer.cu, cudaconv3/src/conv_util.cu kernels), on (N, C, H, W).

blur    separable Gaussian, zeros outside: f_i = exp(-(filterSize//2 - i)^2 / (2 stdev^2)),
        normalised to sum 1, along x then along y (kGaussianBlur).
nailbed every stride-th pixel: y[c, i, j] = x[c, s0 + i*stride, s0 + j*stride],
        s0 = (size - stride*(outputsX - 1)) // 2 (NailbedLayerParser, kBedOfNails).
resize  bilinear (kResizeBilinear): target pixel p reads source coordinate
        clamp(p*scale + size/2 - tgt/2*scale, 0, size - 1.01), blending its 4 neighbours.
rscale  train: cuda-convnet2's random rescale then random tgtSize crop (RandomScaleLayer, one
        draw per batch, torch's random generator); test: resize to tgtSize with scale maxScale.
crop    y = x[:, :, startY:startY+sizeX, startX:startX+sizeX] (startY defaults to startX).
href    mirror left-right, always (HorizontalReflectionLayer).
rgb2yuv [Y U V] = [[0.2126 0.7152 0.0722] [-0.09991 -0.33609 0.436] [0.615 -0.55861 -0.05639]] [R G B].
rgb2lab X = .49R+.31G+.2B, Y = .17697R+.8124G+.01063B, Z = .01G+.99B; f(t) = t^0.3333 for
        t > 0.0088564517 else 7.787037t + 0.13793103; L = 116f(Y) - 16 (- 50 if center),
        a = 500(f(X) - f(Y)), b = 200(f(Y) - f(Z)) (kRGBToLAB).
The output sizes are the checked node's (alexspec/shapes.py).
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexspec.compiler.layers.registry import lowers
from alexspec.ir import ImageOpLayer
from alexspec.net import Node, Shape

YUV = ((0.2126, 0.7152, 0.0722), (-0.09991, -0.33609, 0.436), (0.615, -0.55861, -0.05639))
XYZ = ((0.49, 0.31, 0.2), (0.17697, 0.8124, 0.01063), (0.0, 0.01, 0.99))


def gaussian_taps(size: int, stdev: float) -> list[float]:
    """cuda-convnet2's blur filter (GaussianBlurLayerParser), normalised to sum 1."""
    taps = [math.exp(-((size // 2 - i) ** 2) / (2 * stdev ** 2)) for i in range(size)]
    total = sum(taps)
    return [t / total for t in taps]


class Blur(nn.Module):
    def __init__(self, layer: ImageOpLayer, channels: int):
        super().__init__()
        self.size, self.stdev, self.channels = layer.filter_size, layer.stdev, channels
        self.register_buffer("taps", torch.tensor(gaussian_taps(self.size, self.stdev), dtype=torch.float64), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        k, r, c = self.size, self.size // 2, self.channels
        taps = self.taps.to(x.dtype)
        x = F.conv2d(x, taps.view(1, 1, 1, k).expand(c, 1, 1, k), padding=(0, r), groups=c)
        return F.conv2d(x, taps.view(1, 1, k, 1).expand(c, 1, k, 1), padding=(r, 0), groups=c)

    def extra_repr(self) -> str:
        return f"gaussian {self.size} taps, stdev {self.stdev:g}"


class Nailbed(nn.Module):
    def __init__(self, layer: ImageOpLayer, in_shape: Shape, out: Shape):
        super().__init__()
        self.stride = layer.stride
        self.start = (in_shape.height - layer.stride * (out.height - 1)) // 2
        self.out = out

    def forward(self, x: Tensor) -> Tensor:
        s0, s, n = self.start, self.stride, self.out.height
        return x[:, :, s0:s0 + s * (n - 1) + 1:s, s0:s0 + s * (n - 1) + 1:s]

    def extra_repr(self) -> str:
        return f"every {self.stride}th pixel from {self.start}"


def bilinear(x: Tensor, tgt: int, scale: float) -> Tensor:
    """kResizeBilinear: a tgt x tgt image from a square x (N, C, S, S)."""
    size = x.shape[-1]
    center = size * 0.5 - tgt * 0.5 * scale
    src = (torch.arange(tgt, dtype=torch.float64) * scale + center).clamp(0.0, size - 1.01)
    lo = src.floor().long()
    frac = (src - lo).to(x.dtype).to(x.device)  # weight of the right/bottom neighbour
    lo = lo.to(x.device)
    rows = x.index_select(2, lo) * (1 - frac)[:, None] + x.index_select(2, lo + 1) * frac[:, None]
    return rows.index_select(3, lo) * (1 - frac) + rows.index_select(3, lo + 1) * frac


class Resize(nn.Module):
    def __init__(self, layer: ImageOpLayer, out: Shape):
        super().__init__()
        self.scale, self.tgt = layer.scale, out.height

    def forward(self, x: Tensor) -> Tensor:
        return bilinear(x, self.tgt, self.scale)

    def extra_repr(self) -> str:
        return f"bilinear to {self.tgt}, scale {self.scale:g}"


class RandomScale(nn.Module):
    """Train: a random scale and crop per batch, as RandomScaleLayer::fpropActs; test: resize."""

    def __init__(self, layer: ImageOpLayer, in_shape: Shape):
        super().__init__()
        self.size, self.tgt, self.max_scale = in_shape.height, layer.tgt_size, layer.max_scale
        min_size = int(self.size / self.max_scale)
        n = self.size - min_size + 1
        crops = n * (n + 1) * (2 * n + 1) / 6
        self.cumulative = [1.0 / crops]
        for s in range(1, n):
            self.cumulative.append(self.cumulative[-1] + (s + 1) ** 2 / crops)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return bilinear(x, self.tgt, self.max_scale)
        rng = random.Random(int(torch.randint(0, 2**62, (1,))))  # torch's seed drives the draws
        r, size, factor = rng.random(), self.tgt, self.max_scale
        for s, p in enumerate(self.cumulative):
            if r <= p:
                size = self.tgt + s
                end, begin = self.size / size, max(1.0, self.size / (1.0 + size))
                factor = begin + rng.random() * (end - begin)
                break
        top, left = rng.randrange(size - self.tgt + 1), rng.randrange(size - self.tgt + 1)
        if size != self.size:
            x = bilinear(x, size, factor)
        return x[:, :, top:top + self.tgt, left:left + self.tgt]

    def extra_repr(self) -> str:
        return f"random scale up to {self.max_scale:g}, crop {self.tgt}"


class Crop(nn.Module):
    def __init__(self, layer: ImageOpLayer, out: Shape):
        super().__init__()
        self.x0 = layer.start_x or 0
        self.y0 = layer.start_y if layer.start_y is not None else self.x0
        self.size = out.height

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, self.y0:self.y0 + self.size, self.x0:self.x0 + self.size]

    def extra_repr(self) -> str:
        return f"{self.size}x{self.size} at ({self.y0}, {self.x0})"


class Reflect(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.flip(3)


class ColorTransform(nn.Module):
    """rgb2yuv (linear) or rgb2lab (linear to XYZ, then the L*a*b* curve)."""

    def __init__(self, layer: ImageOpLayer):
        super().__init__()
        self.lab, self.center = layer.type == "rgb2lab", bool(layer.center)
        self.register_buffer("matrix", torch.tensor(XYZ if self.lab else YUV, dtype=torch.float64), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.einsum("oc,nchw->nohw", self.matrix.to(x.dtype), x)
        if not self.lab:
            return y
        f = torch.where(y > 0.0088564517, y.clamp_min(0.0088564517) ** 0.3333, 7.787037 * y + 0.13793103)
        fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
        light = 116.0 * fy - 16.0 - (50.0 if self.center else 0.0)
        return torch.stack((light, 500.0 * (fx - fy), 200.0 * (fy - fz)), 1)

    def extra_repr(self) -> str:
        return "rgb -> " + ("lab" + (" centred" if self.center else "") if self.lab else "yuv")


@lowers("blur")
def _blur(node: Node) -> nn.Module:
    return Blur(node.layer, node.input_shapes[0].channels)


@lowers("nailbed")
def _nailbed(node: Node) -> nn.Module:
    return Nailbed(node.layer, node.input_shapes[0], node.output)


@lowers("resize")
def _resize(node: Node) -> nn.Module:
    return Resize(node.layer, node.output)


@lowers("rscale")
def _rscale(node: Node) -> nn.Module:
    return RandomScale(node.layer, node.input_shapes[0])


@lowers("crop")
def _crop(node: Node) -> nn.Module:
    return Crop(node.layer, node.output)


@lowers("href")
def _href(node: Node) -> nn.Module:
    return Reflect()


@lowers("rgb2yuv", "rgb2lab")
def _color(node: Node) -> nn.Module:
    return ColorTransform(node.layer)
