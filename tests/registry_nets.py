"""One tiny net per IR layer type, for the compiler registry test: `net_text(type)`.

Every net reads 3x8x8 images; `c` and `c2` are 16-map convs for the types that need maps; the
layer under test is `t` (for data, softmax and costs the net's own layers are tested).
"""

from __future__ import annotations

HEAD = """
[*]
epsW=0.01
epsB=0.02
momW=0.9
momB=0.9
wc=0.0005

[data]
type=data
dataIdx=0
channels=3

[labels]
type=data
dataIdx=1

[net]
type=net
innerSize=8

[c]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
neuron=relu

[c2]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
"""

TAIL = """
[fc]
type=fc
inputs={top},c,c2
outputs=10

[probs]
type=softmax
inputs=fc

[cost]
type=cost.logreg
inputs=labels,probs
"""

# The section of layer `t` per type; {top} of the tail is "t" unless said otherwise.
BODIES: dict[str, str] = {
    "conv": "type=conv\ninputs=c,data\nchannels=16,3\nfilters=16\nfilterSize=3,5\npadding=1,2\nstride=2",
    "local": "type=local\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=1\nstride=2",
    "fc": "type=fc\ninputs=c,data\noutputs=8\nneuron=relu",
    "sfc": "type=sfc\ninputs=data\noutputs=8\nparts=2",
    "pool": "type=pool\ninputs=c2\nchannels=16\npool=maxabs\nsizeX=3\nstride=2",
    "cmpool": "type=cmpool\ninputs=c2\nchannels=16\npool=max\nsize=4\nstride=2\nstart=-1",
    "cmrnorm": "type=cmrnorm\ninputs=c\nchannels=16\nsize=5\nscale=0.01\npow=0.75",
    "rnorm": "type=rnorm\ninputs=c\nchannels=16\nsize=3\nscale=0.01\npow=0.75",
    "cnorm": "type=cnorm\ninputs=c\nchannels=16\nsize=3\nscale=0.01\npow=0.75",
    "neuron": "type=neuron\ninputs=c2\nneuron=tanh[1.5,0.5]",
    "eltsum": "type=eltsum\ninputs=c,c2\ncoeffs=1,-2",
    "eltmax": "type=eltmax\ninputs=c,c2",
    "concat": "type=concat\ninputs=c,c2",
    "pass": "type=pass\ninputs=c2",
    "sum": "type=sum\ninputs=c2\nstride=4",
    "dropout": "type=dropout\ninputs=c2\nkeep=0.5",
    "dropout2": "type=dropout2\ninputs=c2\nkeep=0.5",
    "nailbed": "type=nailbed\ninputs=data\nchannels=3\nstride=3",
    "blur": "type=blur\ninputs=data\nchannels=3\nfilterSize=5\nstdev=1.2",
    "resize": "type=resize\ninputs=data\nchannels=3\nscale=1.5",
    "rgb2yuv": "type=rgb2yuv\ninputs=data",
    "rgb2lab": "type=rgb2lab\ninputs=data\ncenter=true",
    "rscale": "type=rscale\ninputs=data\nchannels=3\nmaxScale=1.5\ntgtSize=6",
    "href": "type=href\ninputs=data\nchannels=3",
    "crop": "type=crop\ninputs=data\nchannels=3\nstartX=1\nstartY=2\nsizeX=5",
}

COST_TAILS: dict[str, str] = {
    "cost.crossent": "[fc]\ntype=fc\ninputs=c,c2\noutputs=10\n\n[probs]\ntype=softmax\ninputs=fc\n\n"
                     "[cost]\ntype=cost.crossent\ninputs=labels,probs\ncoeff=2",
    "cost.bce": "[fc]\ntype=fc\ninputs=c,c2\noutputs=10\nneuron=logistic\n\n"
                "[cost]\ntype=cost.bce\ninputs=labels,fc\ncoeff=1.5",
    "cost.dce": "[fc]\ntype=fc\ninputs=c,c2\noutputs=10\nneuron=logistic\n\n"
                "[cost]\ntype=cost.dce\ninputs=labels,fc",
    "cost.sum2": "[fc]\ntype=fc\ninputs=c,c2\noutputs=10\n\n[cost]\ntype=cost.sum2\ninputs=fc\ncoeff=0.5",
    "cost.logreg": TAIL.format(top="c").replace("inputs=c,c,c2", "inputs=c,c2")
                   .replace("type=cost.logreg", "type=cost.logreg\ncoeff=3\ntopk=2"),
}


def net_text(layer_type: str) -> str | None:
    """A spec that uses `layer_type`, or None when this file has no net for it."""
    if layer_type == "cost.sum2":  # one input: no labels layer
        return HEAD.replace("[labels]\ntype=data\ndataIdx=1\n", "") + "\n" + COST_TAILS[layer_type] + "\n"
    if layer_type in COST_TAILS:
        return HEAD + "\n" + COST_TAILS[layer_type] + "\n"
    if layer_type in ("data", "softmax"):
        return HEAD + TAIL.format(top="c").replace("inputs=c,c,c2", "inputs=c,c2")
    if layer_type in BODIES:
        return HEAD + "\n[t]\n" + BODIES[layer_type] + "\n" + TAIL.format(top="t")
    return None
