"""validate: keys and values -> the pydantic IR, every error located and reported at once."""

import pytest

from alexspec.errors import SpecError
from alexspec.expand import expand
from alexspec.ir import ConvLayer, Neuron, Schedule
from alexspec.parse import parse
from alexspec.pipeline import loads
from alexspec.validate import validate

HEAD = "[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"
TAIL = "\n[fc]\ntype=fc\ninputs=conv1\noutputs=10\n\n[probs]\ntype=softmax\ninputs=fc\n\n" \
       "[cost]\ntype=cost.logreg\ninputs=labels,probs\n"


def spec_of(text, allow_code=False):
    return validate(expand(parse(text, "t.cfg")), allow_code=allow_code)


def conv(extra="", inputs="data"):
    return HEAD + f"[conv1]\ntype=conv\ninputs={inputs}\nchannels=3\nfilters=16\nfilterSize=5\n{extra}" + TAIL


def errors(text, **kw):
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", inner_size=32, **kw)
    return e.value.diagnostics


def test_case_insensitive_keys_and_values():
    layer = spec_of(conv("FILTERSIZE=7\nNeuron=ReLU\nsharedbiases=0\n").replace("filterSize=5\n", "")).layers[2]
    assert isinstance(layer, ConvLayer)
    assert layer.filter_size == (7,) and layer.neuron == Neuron(kind="relu") and layer.shared_biases is False


def test_per_input_broadcast_and_defaults():
    layer = spec_of(conv("initW=0.02\n", inputs="data,data").replace("channels=3", "channels=3,3")).layers[2]
    assert layer.init_w == (0.02, 0.02) and layer.filters == (16, 16) and layer.channels == (3, 3)
    assert layer.padding == (0, 0) and layer.stride == (1, 1) and layer.groups == (1, 1)
    assert layer.where("init_w").line == layer.where("initW").line == 15


def test_schedules_any_key_order_and_scientific_notation():
    layer = spec_of(conv("epsW=dexp[numSteps=4;tgtFactor=2.5e2;base=2E-2]\nepsB=0.002\n")).layers[2]
    assert layer.eps_w == (Schedule(kind="dexp", base=0.02, tgtFactor=250, numSteps=4),)
    assert layer.eps_b == Schedule(kind="const", base=0.002)
    assert abs(layer.eps_w[0].at(0.99) - 0.02 / 250) < 1e-12


def test_neuron_arguments():
    layer = spec_of(conv("neuron=tanh[1.7159, 0.6666]\n")).layers[2]
    assert layer.neuron == Neuron(kind="tanh", args=(1.7159, 0.6666))


def test_unknown_key_did_you_mean_and_allowed_keys():
    (d,) = errors(conv("filterSise=3\n"))
    assert d.code == "unknown-key" and (d.span.line, d.span.column) == (15, 1)
    assert "filterSise" in d.message and "did you mean 'filterSize'" in d.hint and "sharedBiases" in d.hint


def test_unknown_type_lists_known_types():
    (d,) = errors(conv().replace("type=conv", "type=cnov"))
    assert d.code == "unknown-type" and d.span.line == 10 and "'conv'" in d.hint and "cmrnorm" in d.hint


def test_list_length_against_inputs():
    (d,) = errors(conv(inputs="data,data").replace("channels=3", "channels=3,3,3"))
    assert d.code == "value" and "3 values for 2 inputs" in d.message and d.span.line == 12


def test_pydantic_error_points_at_the_list_entry():
    (d,) = errors(conv(inputs="data,data").replace("filters=16", "filters=16, 1x6"))
    assert d.code == "value" and "filters[1]" in d.message
    assert (d.span.line, d.span.column, d.span.end_column) == (13, 13, 16)


def test_bad_choice_lists_allowed_values():
    (d,) = errors(HEAD + "[p]\ntype=pool\ninputs=data\npool=mux\nsizeX=3\nstride=2\nchannels=3\n" + TAIL.replace("conv1", "p"))
    assert d.span.line == 12 and "'max', 'avg' or 'maxabs'" in d.message


def test_missing_required_key_at_section():
    (d,) = errors(conv().replace("filterSize=5\n", ""))
    assert d.code == "missing-key" and "'filterSize'" in d.message and d.span.line == 9


def test_schedule_errors_are_located():
    (d,) = errors(conv("epsW=exp[base=0.1;tgt=3]\n"))
    assert d.code == "value" and (d.span.line, d.span.column) == (15, 19) and "tgtFactor" in d.hint
    (d,) = errors(conv("epsW=cosine[base=0.1]\n"))
    assert "unknown schedule" in d.message and "dexp" in d.hint


def test_code_hooks_refused_unless_allowed():
    text = conv("initWFunc=winit.makew(0.5,3)\n")
    (d,) = errors(text)
    assert d.code == "code-hook" and d.span.line == 15 and "--allow-code" in d.hint
    assert spec_of(text, allow_code=True).layers[2].init_w_func == "winit.makew(0.5,3)"


def test_every_error_of_the_stage_at_once():
    ds = errors(conv("bogus=1\nepsW=dexp[base=1]\n").replace("filters=16", "filters=x"))
    assert sorted(d.code for d in ds) == ["unknown-key", "value", "value"]


def test_settings_section():
    spec = spec_of("[net]\ntype=net\ninnerSize=64\nMINI=32\n" + conv())
    assert spec.settings.inner_size == 64 and spec.settings.mini == 32 and spec.settings_span.line == 1
    ds = errors("[net]\ntype=net\ninnerSize=x\nminni=3\n" + conv())
    assert [(d.code, d.span.line) for d in ds] == [("value", 3), ("unknown-key", 4)]
    assert "did you mean 'mini'" in ds[1].hint


def test_known_but_unlowered_type_is_accepted():
    spec = spec_of(HEAD + "[n]\ntype=nailbed\ninputs=data\nchannels=3\nstride=2\n" + TAIL.replace("conv1", "n"))
    assert spec.layers[2].type == "nailbed"


@pytest.mark.parametrize("change, needle", [
    (("filters=16", "filters=-16"), "filters must be positive (got -16)"),
    (("filterSize=5", "filterSize=0"), "filterSize must be positive (got 0)"),
    (("channels=3", "channels=3\npadding=-1"), "padding must be 0 or more (got -1)"),
    (("channels=3", "channels=3\nstride=0"), "stride must be positive (got 0)"),
])
def test_per_input_entries_are_bounded(change, needle):
    text = conv().replace(*change)
    (d,) = errors(text)
    value = change[1].split("\n")[-1].split("=")[1]
    assert d.code == "value" and needle in d.message
    assert d.span.line == text[: text.index(change[1].split("\n")[-1])].count("\n") + 1
    assert d.span.end_column - d.span.column == len(value)


def test_per_input_bound_names_the_entry():
    (d,) = errors(conv(inputs="data,data").replace("channels=3", "channels=3,3\nstride=1,0"))
    assert "stride[1] must be positive" in d.message and d.span.column == 10
