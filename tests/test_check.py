"""check: references, cycles, unused layers, GPUs, cost inputs, and the AlexNet numbers."""

import pytest

import alexspec
from alexspec.errors import SpecError
from alexspec.pipeline import loads

HEAD = "[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"
END = "[probs]\ntype=softmax\ninputs=out\n\n[cost]\ntype=cost.logreg\ninputs=labels,probs\n"


def conv(name, inputs, channels=3, extra=""):
    return f"[{name}]\ntype=conv\ninputs={inputs}\nchannels={channels}\nfilters=16\nfilterSize=3\npadding=1\n{extra}\n"


def fc(inputs, extra=""):
    return f"[out]\ntype=fc\ninputs={inputs}\noutputs=10\n{extra}\n"


def line_of(text, needle):
    return text[: text.index(needle)].count("\n") + 1


def errors(text, **kw):
    kw.setdefault("inner_size", 8)
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", **kw)
    return e.value.diagnostics


def test_alexnet():
    net = alexspec.load("specs/alexnet.cfg")
    assert net.params == 60_965_224
    assert 720e6 < net.macs < 730e6
    assert str(net["conv1a"].output) == "55x55x48" and net["conv1a"].gpu == 0 and net["conv1b"].gpu == 1
    assert net["data"].output == alexspec.Shape(3, 224, 224) and net["labels"].output == alexspec.Shape(1)
    assert sorted((e.dst, e.src) for e in net.cross_gpu_edges) == sorted([
        ("conv3a", "pool2b"), ("conv3b", "pool2a"), ("fc6a", "pool5b"), ("fc6b", "pool5a"),
        ("fc7a", "drop6b"), ("fc7b", "drop6a"), ("fc8", "drop7b")])
    assert net.num_gpus == 2 and net.replicas == 1
    assert net.source_text.startswith("# AlexNet")


def test_ok_small_net_and_gpu_inheritance():
    text = HEAD + conv("c1", "data") + conv("c2", "c1", 16, "gpu=1") + fc("c2,data") + END
    net = loads(text, "t.cfg", inner_size=8)
    assert [n.gpus for n in net] == [(0, 1), (1,), (0,), (1,), (1,), (1,), (1,)]
    assert [(e.src, e.dst) for e in net.cross_gpu_edges] == [("c1", "c2")]  # data never crosses
    assert net["out"].params == (16 * 64 + 3 * 64) * 10 + 10 and net.num_gpus == 2


def test_undefined_input_with_did_you_mean():
    text = HEAD + conv("conv1", "data") + fc("conv") + END
    (d,) = errors(text)
    assert d.code == "undefined-input" and d.span.line == line_of(text, "inputs=conv\n")
    assert d.span.column == 8 and "did you mean 'conv1'" in d.hint


def test_input_defined_below_its_reader():
    text = HEAD + fc("c1") + conv("c1", "data") + END
    (d,) = errors(text)
    assert d.code == "input-order" and "defined below" in d.message


def test_cycle_is_one_message():
    text = HEAD + conv("c1", "data,c3", extra="channels=3,16") .replace("channels=3\n", "") + \
        conv("c2", "c1", 16) + conv("c3", "c2", 16) + fc("c3") + END
    (d,) = errors(text)
    assert d.code == "cycle" and "c1 <- c3 <- c2 <- c1" in d.message
    assert (d.span.line, d.span.column) == (line_of(text, "inputs=data,c3"), 13)


def test_self_loop():
    (d,) = errors(HEAD + conv("c1", "c1", 16) + fc("c1") + END)
    assert d.code == "cycle"


def test_unused_layer():
    text = HEAD + conv("c1", "data") + conv("c2", "data") + fc("c1") + END
    (d,) = errors(text)
    assert d.code == "unused" and d.span.line == line_of(text, "[c2]") and "'c2'" in d.message


def test_channel_mismatch_names_both_numbers():
    text = HEAD + conv("c1", "data") + conv("c2", "c1", 32) + fc("c2") + END
    (d,) = errors(text)
    assert d.code == "channels" and "channels=32" in d.message and "gives 16 channels" in d.message
    assert d.span.line == line_of(text, "channels=32")


def test_errors_of_the_stage_come_together():
    text = HEAD + conv("c1", "data", extra="neuron=tanh") + conv("c2", "c1", 32) + fc("c2", "gpu=0,0") + END
    codes = sorted(d.code for d in errors(text))
    assert codes == ["channels", "gpu", "gpu", "neuron"]  # two distinct gpu problems on one line


def test_gpu_rules():
    (d,) = errors(HEAD + conv("c1", "data", extra="gpu=2") + fc("c1") + END)
    assert d.code == "gpu" and "logical GPU 0" in d.message
    (d,) = errors(HEAD + conv("c1", "data", extra="gpu=0,1") + fc("c1", "gpu=0,1,2") + END)
    assert d.code == "gpu" and "replicas" in d.message


def test_replicas_inherit():
    net = loads(HEAD + conv("c1", "data", extra="gpu=0,1") + fc("c1") + END, "t.cfg", inner_size=8)
    assert net["out"].gpus == (0, 1) and net.replicas == 2


def test_cost_inputs():
    text = HEAD + conv("c1", "data") + fc("c1") + END.replace("inputs=labels,probs", "inputs=out,labels")
    ds = errors(text)
    assert [d.code for d in ds] == ["unused", "cost-inputs", "cost-inputs"]  # in file order
    assert "'probs'" in ds[0].message
    assert "labels data layer" in ds[1].message and "softmax" in ds[2].message


def test_input_count():
    (d,) = errors(HEAD + conv("c1", "data") + "[p]\ntype=pool\ninputs=c1,c1\npool=max\nsizeX=2\nstride=2\n"
                  "channels=16\n\n" + fc("p") + END)
    assert d.code == "inputs"


def test_input_size_needed():
    text = HEAD + conv("c1", "data") + fc("c1") + END
    (d,) = errors(text, inner_size=None)
    assert d.code == "input-size" and d.span.line == 1 and "--inner-size" in d.hint
    text = "[net]\ntype=net\ninnerSize=16\n" + text
    net = loads(text, "t.cfg")
    assert net["c1"].output == alexspec.Shape(16, 16, 16)
    net = loads(text, "t.cfg", inner_size=8)  # the option wins
    assert net["c1"].output == alexspec.Shape(16, 8, 8)


def test_cuda_convnet_files_check_as_written():
    base = "tests/specs/cuda-convnet/"
    net = alexspec.load(base + "layers-18pct.cfg", base + "layer-params-18pct.cfg", inner_size=32)
    assert str(net["conv1"].output) == "32x32x32" and str(net["pool1"].output) == "16x16x32"
    assert net["conv1"].layer.eps_w[0].base == 0.001 and net["conv1"].layer.where("epsW").path.endswith("params-18pct.cfg")


def test_weight_source_references():
    text = HEAD + conv("c1", "data") + conv("c2", "c1", 16, "weightSource=c1\n") + \
        conv("c3", "c2,c2", 16, "weightSource=,cX[0]\n").replace("channels=16", "channels=16,16") + fc("c3") + END
    (d,) = errors(text)
    assert d.code == "weight-source" and "'cX'" in d.message
    assert (d.span.line, d.span.column) == (line_of(text, "weightSource=,cX"), 15)


def test_compact_split_reports_a_problem_once():
    text = "[net]\ntype=net\ninnerSize=8\n" + HEAD + conv("c1", "data", extra="columns=2") + \
        conv("c2", "c1", 32) + fc("c2", "columns=1") + END
    (d,) = errors(text)
    assert d.code == "channels" and "layers 'c2a', 'c2b'" in d.message
    assert d.span.line == line_of(text, "channels=32")
