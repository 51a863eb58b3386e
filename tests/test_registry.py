"""The layer-type registry walks every type, as timm's tests walk every registered model: each
type has its IR model, arity, shape rule (checked on its family's examples), params-file keys
and drawing, with no fallback; removing one piece fails at import."""

from __future__ import annotations

import importlib.util
import re
import sys
import typing
from pathlib import Path

import pytest

import alexspec.layers as layers_pkg
from alexspec import ir
from alexspec.errors import SpecError
from alexspec.expand import expand
from alexspec.layers import kinds, registry
from alexspec.parse import parse
from alexspec.pipeline import loads
from alexspec.shapes import Problem, Shape, infer
from alexspec.validate import validate

FAMILIES = Path(layers_pkg.__file__).parent
ALL = sorted(kinds())


def _example_layer(section: str):
    spec = validate(expand(parse(f"[x]\n{section}\n", "example.cfg")))
    return spec.layers[0]


def test_every_ir_type_is_registered_and_every_registered_type_is_in_the_ir():
    union = typing.get_args(typing.get_args(ir.AnyLayer)[0])
    in_ir = {t for model in union for t in typing.get_args(model.model_fields["type"].annotation)}
    assert in_ir == set(kinds())
    # the types cuda-convnet and cuda-convnet2 train with are all there
    assert {"conv", "local", "fc", "sfc", "pool", "cmpool", "cmrnorm", "rnorm", "cnorm", "neuron",
            "eltsum", "eltmax", "concat", "pass", "sum", "softmax", "dropout", "dropout2", "blur",
            "resize", "rgb2yuv", "rgb2lab", "nailbed", "rscale", "crop", "href", "cost.logreg",
            "cost.sum2", "cost.crossent", "cost.bce", "cost.dce", "data"} <= set(kinds())


@pytest.mark.parametrize("type_", ALL)
def test_each_type_checks_and_draws_its_examples(type_):
    kind = kinds()[type_]
    assert kind.examples, type_
    for ex in kind.examples:
        layer = _example_layer(ex.section)
        assert isinstance(layer, kind.model) and layer.type == type_
        lo, hi = kind.arity
        assert lo <= len(layer.inputs) and (hi is None or len(layer.inputs) <= hi)
        if type_ != "data":
            problems: list[Problem] = []
            res = infer(layer, ex.inputs, problems)
            assert problems == [] and res is not None, (ex.section, problems)
            assert str(res.output) == ex.output, ex.section
            assert (res.params > 0) == kind.weights
        assert re.fullmatch(r"#[0-9A-F]{6}", kind.drawing.colour)
        assert all(isinstance(line, str) for line in kind.drawing.details(layer))
        assert kind.drawing.annotation(layer)
        assert kind.params_keys <= set(kind.model.model_fields)


def _import_family_copy(name: str, text: str, monkeypatch):
    """Import edited source of a family file as a fresh module, into an empty registry."""
    monkeypatch.setattr(registry, "_KINDS", {})
    path = FAMILIES / f"_{name}_edited.py"
    spec = importlib.util.spec_from_loader(f"alexspec.layers._{name}_edited", loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    exec(compile(text, str(path), "exec"), module.__dict__)
    return module


def test_the_family_file_imports_as_is_into_a_fresh_registry(monkeypatch):
    _import_family_copy("pool", (FAMILIES / "pool.py").read_text(), monkeypatch)
    assert set(registry.kinds()) == {"pool", "cmpool"}


@pytest.mark.parametrize("edit, error", [
    # cmpool's shape rule deleted: before the registry, check silently reported 16x16x16 for a
    # 16x16x16 input with size=4 stride=4 (the pass-through fallback) instead of 16x16x4
    (("shape=_cmpool,", ""), "missing 1 required keyword-only argument: 'shape'"),
    (("shape=_cmpool,", "shape=None,"), "layer type 'cmpool' has no shape rule"),
    (('drawing=Drawing("#FFB84D",', 'drawing=("#FFB84D",'), "layer type 'cmpool' has no drawing"),
    (('examples=[Example("type=cmpool', 'examples=[Example("type=xcmpool'), "layer type 'cmpool' has no example"),
])
def test_removing_a_piece_of_a_type_fails_at_import(edit, error, monkeypatch):
    text = (FAMILIES / "pool.py").read_text()
    old, new = edit
    assert text.count(old) == 1
    with pytest.raises(TypeError, match=re.escape(error)):
        _import_family_copy("pool", text.replace(old, new), monkeypatch)


def test_registering_a_type_twice_fails():
    with pytest.raises(TypeError, match="registered twice"):
        registry.register("pool", arity=registry.ONE, shape=lambda *a: None,
                          drawing=kinds()["pool"].drawing, examples=kinds()["pool"].examples)(ir.PoolLayer)


HEAD = "[data]\ntype=data\ndataIdx=0\nchannels={c}\n\n[labels]\ntype=data\ndataIdx=1\n\n"
TAIL = "[fc]\ntype=fc\ninputs=x\noutputs=10\n\n[probs]\ntype=softmax\ninputs=fc\n\n" \
       "[cost]\ntype=cost.logreg\ninputs=labels,probs\n"


def test_cmpool_output_and_the_next_fc_parameters():
    text = HEAD.format(c=16) + "[x]\ntype=cmpool\ninputs=data\nsize=4\nstride=4\nchannels=16\n\n" + TAIL
    net = loads(text, "t.cfg", inner_size=16)
    assert net["x"].output == Shape(4, 16, 16)
    assert net["fc"].params == 16 * 16 * 4 * 10 + 10


def test_rand_sparse_filter_channels_parameter_count_is_cuda_convnets():
    # cuda-convnet (LocalLayerParser): each of filters x groups = 64 filters reads filterChannels=16
    # channels of filterSize^2 = 9 pixels: 16*9*64 weights + 64 shared biases = 9,280 (was 4,672)
    text = HEAD.format(c=32) + ("[x]\ntype=conv\ninputs=data\nchannels=32\nfilters=16\nfilterSize=3\n"
                                "groups=4\nrandSparse=1\nfilterChannels=16\n\n") + TAIL
    net = loads(text, "t.cfg", inner_size=8)
    assert net["x"].params == 9_280
    assert net["x"].macs == 16 * 9 * 64 * 6 * 6


def test_rand_sparse_rules_of_cuda_convnet():
    text = HEAD.format(c=32) + ("[x]\ntype=conv\ninputs=data\nchannels=32\nfilters=16\nfilterSize=3\n"
                                "groups=1\nrandSparse=1\nfilterChannels=6\n\n") + TAIL
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", inner_size=8)
    msg = str(e.value)
    assert "randSparse needs groups > 1" in msg and "filterChannels=6 must be a multiple of 4" in msg
