"""Float64 references of every layer type and cost, written as explicit loops over Python floats
from cuda-convnet's formulas (docs/compiler.md cites the sources). Independent of the torch ops
the lowerings use: only indexing and arithmetic on lists.

`layer_reference(node, module, inputs)` -> the expected output (the module supplies only its
parameters and, for randSparse, its drawn connections); `cost_reference(layer, output, labels)`
-> the expected loss. The module is in eval mode (dropout at test time, rscale's test path).
"""

from __future__ import annotations

import math

import torch

from alexspec.ir import Neuron

NEURON = {
    "ident": lambda v, a: v, "relu": lambda v, a: max(0.0, v),
    "logistic": lambda v, a: 1 / (1 + math.exp(-v)), "tanh": lambda v, a: a[0] * math.tanh(a[1] * v),
    "abs": lambda v, a: abs(v), "linear": lambda v, a: a[0] * v + a[1],
    "brelu": lambda v, a: min(a[0], max(0.0, v)), "softrelu": lambda v, a: math.log1p(math.exp(v)),
    "square": lambda v, a: v * v, "sqrt": lambda v, a: math.sqrt(v),
    "abstanh": lambda v, a: a[0] * abs(math.tanh(a[1] * v)), "log": lambda v, a: math.log(a[0] + v),
    "drelu": lambda v, a: v - a[0] * math.tanh(v / a[0]), "nrelu": lambda v, a: max(0.0, v),
}
_DEFAULTS = {"tanh": (1.0, 1.0), "linear": (1.0, 0.0), "brelu": (1.0,), "abstanh": (1.0, 1.0),
             "log": (0.0,), "drelu": (1.0,)}


def _t(nested) -> torch.Tensor:
    return torch.tensor(nested, dtype=torch.float64)


def _map(f, nested):
    return [_map(f, v) for v in nested] if isinstance(nested, list) else f(nested)


def neuron(n: Neuron | None, y: torch.Tensor) -> torch.Tensor:
    if n is None:
        return y
    args = n.args or _DEFAULTS.get(n.kind, ())
    return _t(_map(lambda v: NEURON[n.kind](v, args), y.tolist()))


def _px(img, c, y, x):
    """img[c][y][x], 0 outside the image."""
    return img[c][y][x] if 0 <= y < len(img[0]) and 0 <= x < len(img[0][0]) else 0.0


def _pick(values, i, default):
    return default if not values else (values[i] if len(values) > i else values[0])


def conv_or_local(node, mod, xs):
    layer, out = node.layer, node.output
    y = [[[[0.0] * out.width for _ in range(out.height)] for _ in range(out.channels)]
         for _ in range(xs[0].shape[0])]
    for i, x in enumerate(xs):
        x = x.tolist()
        w = mod.weights[i].tolist()
        k, p, s = _pick(layer.filter_size, i, 1), _pick(layer.padding, i, 0), _pick(layer.stride, i, 1)
        groups = _pick(layer.groups, i, 1)
        filters = out.channels // groups
        conns = getattr(mod, f"conns{i}", None)
        conns = conns.tolist() if conns is not None else None
        fc = len(conns) // groups if conns else node.input_shapes[i].channels // groups
        for n in range(len(x)):
            for o in range(out.channels):
                g, f = divmod(o, filters)
                for oy in range(out.height):
                    for ox in range(out.width):
                        acc = 0.0
                        for ci in range(fc):
                            c = conns[g * fc + ci] if conns else g * fc + ci
                            for ky in range(k):
                                for kx in range(k):
                                    v = _px(x[n], c, oy * s - p + ky, ox * s - p + kx)
                                    if layer.type == "conv":
                                        acc += w[o][ci][ky][kx] * v
                                    else:
                                        acc += w[oy * out.width + ox][g][f][(ci * k + ky) * k + kx] * v
                        y[n][o][oy][ox] += acc
    b = mod.bias.tolist()
    for n in range(len(y)):
        for o in range(out.channels):
            for oy in range(out.height):
                for ox in range(out.width):
                    y[n][o][oy][ox] += b[o] if isinstance(b[o], float) else b[o][oy][ox]
    return neuron(layer.neuron, _t(y))


def fc(node, mod, xs):
    flat = [x.flatten(1).tolist() for x in xs]
    b = mod.bias.tolist()
    y = []
    for n in range(len(flat[0])):
        row = []
        for o in range(len(b)):
            acc = b[o]
            for i, f in enumerate(flat):
                w = mod.weights[i]
                if node.type == "fc":
                    acc += sum(w[o, j].item() * f[n][j] for j in range(len(f[n])))
                else:  # sfc: output block p reads input block p
                    parts, per_out, per_in = w.shape
                    part, oo = divmod(o, per_out)
                    acc += sum(w[part, oo, j].item() * f[n][part * per_in + j] for j in range(per_in))
            row.append(acc)
        y.append(row)
    return neuron(node.layer.neuron, _t(y))


def pool(node, mod, xs):
    layer, out = node.layer, node.output
    x = xs[0].tolist()
    h, w = len(x[0][0]), len(x[0][0][0])
    y = []
    for img in x:
        maps = []
        for c in range(out.channels):
            rows = []
            for oy in range(out.height):
                row = []
                for ox in range(out.width):
                    y0, x0 = layer.start + oy * layer.stride, layer.start + ox * layer.stride
                    win = [img[c][a][b] for a in range(y0, y0 + layer.size_x) if 0 <= a < h
                           for b in range(x0, x0 + layer.size_x) if 0 <= b < w]
                    if layer.pool == "max":
                        row.append(max(win))
                    elif layer.pool == "maxabs":
                        best = win[0]
                        for v in win[1:]:
                            best = best if abs(best) > abs(v) else v
                        row.append(best)
                    else:
                        row.append(sum(win) / (1 if layer.sum else len(win)))
                rows.append(row)
            maps.append(rows)
        y.append(maps)
    return neuron(layer.neuron, _t(y))


def cmpool(node, mod, xs):
    layer, out = node.layer, node.output
    x = xs[0].tolist()
    cin = len(x[0])
    y = [[[[max(img[c][a][b] for c in range(layer.start + o * layer.stride,
                                              layer.start + o * layer.stride + layer.size)
                if 0 <= c < cin)
            for b in range(out.width)] for a in range(out.height)] for o in range(out.channels)]
         for img in x]
    return neuron(layer.neuron, _t(y))


def norm(node, mod, xs):
    layer = node.layer
    x = xs[0].tolist()
    C, H, W = len(x[0]), len(x[0][0]), len(x[0][0][0])
    size, scale, pw, k = layer.size, layer.scale, layer.pow, layer.min_div

    def window(p, n):
        return [t for t in range(p - size // 2, p - size // 2 + size) if 0 <= t < n]

    y = []
    for img in x:
        if layer.type == "cnorm":
            mean = [[[sum(img[c][a][b] for a in window(yy, H) for b in window(xx, W))
                      / (len(window(yy, H)) * len(window(xx, W)))
                      for xx in range(W)] for yy in range(H)] for c in range(C)]
            src = [[[img[c][a][b] - mean[c][a][b] for b in range(W)] for a in range(H)] for c in range(C)]
        else:
            src = img
        out = []
        for c in range(C):
            rows = []
            for a in range(H):
                row = []
                for b in range(W):
                    if layer.type == "cmrnorm":
                        lo = (c // size) * size if layer.blocked else c - size // 2
                        s = sum(img[j][a][b] ** 2 for j in range(lo, lo + size) if 0 <= j < C)
                        den = k + scale / size * s
                    else:
                        s = sum(src[c][p][q] ** 2 for p in window(a, H) for q in window(b, W))
                        den = k + scale / size ** 2 * s
                    row.append(img[c][a][b] / den ** pw)
                rows.append(row)
            out.append(rows)
        y.append(out)
    return neuron(layer.neuron, _t(y))


def elementwise(node, mod, xs):
    layer = node.layer
    lists = [x.flatten(1).tolist() for x in xs]
    if node.type == "eltsum":
        coeffs = layer.coeffs or (1.0,) * len(xs)
        flat = [[sum(c * l[n][j] for c, l in zip(coeffs, lists)) for j in range(len(lists[0][n]))]
                for n in range(len(lists[0]))]
    elif node.type == "eltmax":
        flat = [[max(l[n][j] for l in lists) for j in range(len(lists[0][n]))] for n in range(len(lists[0]))]
    elif node.type in ("concat", "pass"):
        flat = [[v for l in lists for v in l[n]] for n in range(len(lists[0]))]
    elif node.type == "neuron":
        return neuron(layer.neuron, xs[0])
    elif node.type in ("dropout", "dropout2"):
        keep = layer.keep if node.type == "dropout2" and layer.enable else 1.0
        flat = [[v * keep for v in row] for row in lists[0]]
    elif node.type == "softmax":
        flat = []
        for row in lists[0]:
            m = max(row)
            e = [math.exp(v - m) for v in row]
            flat.append([v / sum(e) for v in e])
    elif node.type == "sum":  # groups of `stride` consecutive maps
        x, s = xs[0].tolist(), layer.stride
        y = [[[[sum(img[c * s + j][a][b] for j in range(s)) for b in range(len(img[0][0]))]
               for a in range(len(img[0]))] for c in range(len(img) // s)] for img in x]
        return neuron(layer.neuron, _t(y))
    else:
        raise KeyError(node.type)
    out = node.output
    y = _t(flat).reshape(len(flat), out.channels, out.height, out.width)
    return neuron(getattr(layer, "neuron", None), y if out.is_image else y.flatten(1))


def _bilinear(img, tgt, scale):
    size = len(img[0])
    center = size * 0.5 - tgt * 0.5 * scale
    out = []
    for ch in img:
        rows = []
        for py in range(tgt):
            sy = min(max(py * scale + center, 0.0), size - 1.01)
            row = []
            for px in range(tgt):
                sx = min(max(px * scale + center, 0.0), size - 1.01)
                y0, x0 = math.floor(sy), math.floor(sx)
                u, w = math.floor(sx + 1) - sx, sy - y0  # kResizeBilinear's u (left) and w (bottom)
                c0 = u * (ch[y0][x0] - ch[y0][x0 + 1]) + ch[y0][x0 + 1]
                c1 = u * (ch[y0 + 1][x0] - ch[y0 + 1][x0 + 1]) + ch[y0 + 1][x0 + 1]
                row.append(w * (c1 - c0) + c0)
            rows.append(row)
        out.append(rows)
    return out


def _labf(t):
    return t ** 0.3333 if t > 0.0088564517 else 7.787037 * t + 0.13793103


def image(node, mod, xs):
    layer, out = node.layer, node.output
    x = xs[0].tolist()
    y = []
    for img in x:
        C, H, W = len(img), len(img[0]), len(img[0][0])
        if node.type == "blur":
            r, s = layer.filter_size // 2, layer.stdev
            f = [math.exp(-((r - i) ** 2) / (2 * s * s)) for i in range(layer.filter_size)]
            f = [v / sum(f) for v in f]
            hz = [[[sum(f[i] * _px(img, c, a, b + i - r) for i in range(len(f))) for b in range(W)]
                   for a in range(H)] for c in range(C)]
            y.append([[[sum(f[i] * _px(hz, c, a + i - r, b) for i in range(len(f))) for b in range(W)]
                       for a in range(H)] for c in range(C)])
        elif node.type == "nailbed":
            s = layer.stride
            n = (H + s - 1) // s
            s0 = (H - s * (n - 1)) // 2
            y.append([[[img[c][s0 + a * s][s0 + b * s] for b in range(n)] for a in range(n)] for c in range(C)])
        elif node.type == "resize":
            y.append(_bilinear(img, out.height, layer.scale))
        elif node.type == "rscale":  # the test path
            y.append(_bilinear(img, layer.tgt_size, layer.max_scale))
        elif node.type == "crop":
            x0 = layer.start_x or 0
            y0 = layer.start_y if layer.start_y is not None else x0
            n = layer.size_x
            y.append([[[img[c][y0 + a][x0 + b] for b in range(n)] for a in range(n)] for c in range(C)])
        elif node.type == "href":
            y.append([[[img[c][a][W - 1 - b] for b in range(W)] for a in range(H)] for c in range(C)])
        elif node.type in ("rgb2yuv", "rgb2lab"):
            res = [[[0.0] * W for _ in range(H)] for _ in range(3)]
            for a in range(H):
                for b in range(W):
                    R, G, B = img[0][a][b], img[1][a][b], img[2][a][b]
                    if node.type == "rgb2yuv":
                        vals = (0.2126 * R + 0.7152 * G + 0.0722 * B,
                                -0.09991 * R - 0.33609 * G + 0.436 * B,
                                0.615 * R - 0.55861 * G - 0.05639 * B)
                    else:
                        X = _labf(0.49 * R + 0.31 * G + 0.2 * B)
                        Y = _labf(0.17697 * R + 0.8124 * G + 0.01063 * B)
                        Z = _labf(0.01 * G + 0.99 * B)
                        vals = (116 * Y - 16 - (50 if layer.center else 0), 500 * (X - Y), 200 * (Y - Z))
                    for c in range(3):
                        res[c][a][b] = vals[c]
            y.append(res)
        else:
            raise KeyError(node.type)
    return _t(y)


LAYER_REFERENCES = {
    "conv": conv_or_local, "local": conv_or_local, "fc": fc, "sfc": fc, "pool": pool,
    "cmpool": cmpool, "cmrnorm": norm, "rnorm": norm, "cnorm": norm,
    **{t: elementwise for t in ("eltsum", "eltmax", "concat", "pass", "neuron", "dropout",
                                "dropout2", "softmax", "sum")},
    **{t: image for t in ("blur", "nailbed", "resize", "rscale", "crop", "href", "rgb2yuv", "rgb2lab")},
}


def layer_reference(node, module, inputs):
    """The expected output of `node` for `inputs` (float64), from its formula."""
    return LAYER_REFERENCES[node.type](node, module, inputs)


def cost_reference(layer, output: torch.Tensor, labels: list[int]) -> float:
    """coeff * mean over the batch of the per-image cost (cuda-convnet's outputFilter)."""
    rows = output.flatten(1).tolist()
    total = 0.0
    for row, label in zip(rows, labels):
        if layer.type in ("cost.logreg", "cost.crossent"):
            m = max(row)
            logz = m + math.log(sum(math.exp(v - m) for v in row))
            total += -(row[label] - logz)
        elif layer.type in ("cost.bce", "cost.dce"):
            pos = getattr(layer, "pos_weight", 1.0) or 1.0
            total += -sum(pos * math.log(p) if k == label else math.log(1 - p) for k, p in enumerate(row))
        elif layer.type == "cost.sum2":
            total += sum(v * v for v in row)
        else:
            raise KeyError(layer.type)
    return layer.coeff * total / len(rows)
