"""The extensions: [*] defaults, the compact columns= split, and the layer params file."""

import pytest

from alexspec.errors import SpecError
from alexspec.expand import expand
from alexspec.parse import parse
from alexspec.pipeline import loads
from alexspec.validate import validate

HEAD = "[net]\ntype=net\ninnerSize=32\n\n[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"
END = "[probs]\ntype=softmax\ninputs=out\n\n[cost]\ntype=cost.logreg\ninputs=labels,probs\n"

COMPACT = HEAD + """[*]
epsW=0.01
momW=0.9
initW=0.01

[c1]
type=conv
inputs=data
columns=2
channels=3
filters=16
filterSize=3
padding=1
neuron=relu

[p1]
type=pool
inputs=c1
pool=max
sizeX=2
stride=2
channels=16

[c2]
type=conv
inputs=p1
connect=all
channels=16
filters=16
filterSize=3
padding=1
initW=0.01,0.02

[out]
type=fc
inputs=c2
columns=1
outputs=10

""" + END

EXPLICIT = HEAD + """[c1a]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
neuron=relu
gpu=0
epsW=0.01
momW=0.9
initW=0.01

[c1b]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
padding=1
neuron=relu
gpu=1
epsW=0.01
momW=0.9
initW=0.01

[p1a]
type=pool
inputs=c1a
pool=max
sizeX=2
stride=2
channels=16
gpu=0

[p1b]
type=pool
inputs=c1b
pool=max
sizeX=2
stride=2
channels=16
gpu=1

[c2a]
type=conv
inputs=p1a,p1b
channels=16,16
filters=16,16
filterSize=3,3
padding=1,1
stride=1,1
gpu=0
epsW=0.01,0.01
momW=0.9,0.9
initW=0.01,0.02

[c2b]
type=conv
inputs=p1a,p1b
channels=16
filters=16
filterSize=3
padding=1
gpu=1
epsW=0.01
momW=0.9
initW=0.01,0.02

[out]
type=fc
inputs=c2a,c2b
outputs=10
gpu=0
epsW=0.01
momW=0.9
initW=0.01

""" + END


def line_of(text, needle):
    return text[: text.index(needle)].count("\n") + 1


def spec_of(text, params=None):
    return validate(expand(parse(text, "t.cfg"), parse(params, "p.cfg") if params else None))


def test_compact_and_explicit_forms_give_the_same_layers():
    a, b = spec_of(COMPACT), spec_of(EXPLICIT)
    assert [x.name for x in a.layers] == [x.name for x in b.layers]
    for x, y in zip(a.layers, b.layers):
        assert x.same_as(y), x.name


def test_compact_net_places_and_crosses_as_written():
    net = loads(COMPACT, "t.cfg")
    assert [n.gpu for n in net if n.type == "conv"] == [0, 1, 0, 1]
    assert [(e.src, e.dst) for e in net.cross_gpu_edges] == [("p1b", "c2a"), ("p1a", "c2b"), ("c2b", "out")]
    assert net["c2a"].layer.init_w == (0.01, 0.02) and net["c2a"].layer.inputs == ("p1a", "p1b")


def test_defaults_fill_only_what_a_layer_accepts_and_lacks():
    spec = spec_of(COMPACT.replace("[c1]\ntype=conv\n", "[c1]\ntype=conv\ninitW=0.05\n"))
    by = {x.name: x for x in spec.layers}
    assert by["c1a"].init_w == (0.05,) and by["out"].init_w == (0.01, 0.01)
    assert by["out"].where("initW").line == line_of(COMPACT, "initW=0.01")  # from [*]
    assert not hasattr(by["p1a"], "init_w")


def test_default_key_that_no_layer_takes():
    with pytest.raises(SpecError) as e:
        spec_of(COMPACT.replace("momW=0.9\n", "momW=0.9\nmonW=1\n"))
    (d,) = e.value.diagnostics
    assert d.code == "unknown-key" and d.span.line == line_of(COMPACT, "momW") + 1 and "'momW'" in d.hint


def test_params_file_merges_and_overrides():
    params = "[c1]\nepsW=0.5\nepsB=0.25\n\n[out]\nepsW=dexp[base=0.1;tgtFactor=10;numSteps=2]\n"
    spec = spec_of(COMPACT, params)
    by = {x.name: x for x in spec.layers}
    assert by["c1a"].eps_w[0].base == 0.5 and by["c1b"].eps_b.base == 0.25  # a split name: every column
    assert by["out"].eps_w[0].kind == "dexp" and len(by["out"].eps_w) == 2
    assert by["out"].where("epsW").path == "p.cfg"
    assert by["c2a"].eps_w[0].base == 0.01  # untouched: the [*] default


def test_params_section_naming_no_layer():
    # cuda-convnet never read a params section naming no layer: a warning; type= stays an error
    with pytest.raises(SpecError) as e:
        spec_of(COMPACT, "[c3]\nepsW=0.1\n\n[out]\ntype=fc\n")
    ds = e.value.diagnostics
    assert [(d.code, d.severity, d.span.path, d.span.line) for d in ds] == [
        ("params-key", "error", "p.cfg", 5), ("unknown-layer", "warning", "p.cfg", 1)]


@pytest.mark.parametrize("change, code, at", [
    (("columns=2\n", "columns=x\n"), "columns", "columns=x"),
    (("connect=all\n", "connect=some\n"), "connect", "connect=some"),
    (("columns=1\n", "columns=1\nconnect=all\n"), "connect", "columns=1\nconnect=all"),
    (("inputs=data\ncolumns=2\n", "inputs=data\ncolumns=2\ngpu=1\n"), "gpu", "gpu=1"),
])
def test_split_errors(change, code, at):
    text = COMPACT.replace(*change)
    with pytest.raises(SpecError) as e:
        spec_of(text)
    (d,) = e.value.diagnostics
    assert (d.code, d.span.line) == (code, line_of(text, at) + at.count("\n"))


def test_split_name_clash():
    with pytest.raises(SpecError) as e:
        spec_of(COMPACT.replace("[out]\n", "[c1a]\ntype=neuron\ninputs=c2a\nneuron=relu\n\n[out]\n"))
    assert [d.code for d in e.value.diagnostics] == ["duplicate-layer"]
