"""Files as cuda-convnet read them: every layers file of cuda-convnet2's `layers/` and
cuda-convnet's `example-layers/` checks with its params file (tests/specs/cuda-convnet*/README.md
names their origin), and the ConfigParser habits those files rely on are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

import alexspec
from alexspec.cli import main
from alexspec.errors import SpecError
from alexspec.net import Shape
from alexspec.pipeline import loads

SPECS = Path(__file__).parent / "specs"
# (folder, name, crop size the authors' data providers fed)
CORPUS = [("cuda-convnet", n, s) for n, s in (
    ("18pct", 32), ("19pct", 32), ("80sec", 32), ("conv-local-11pct", 24), ("conv-local-13pct", 24))] + [
    ("cuda-convnet", ".gc", 32)] + [
    ("cuda-convnet2", n, s) for n, s in (
        ("cifar10-11pct", 24), ("imagenet-1gpu", 224), ("imagenet-2gpu-data", 224),
        ("imagenet-2gpu-model", 224), ("imagenet-4gpu-data", 224), ("imagenet-4gpu-data-model", 224))]


def _pair(folder: str, name: str) -> tuple[Path, Path]:
    sep = "" if name.startswith(".") else "-"
    return SPECS / folder / f"layers{sep}{name}.cfg", SPECS / folder / f"layer-params{sep}{name}.cfg"


def test_the_corpus_is_every_layers_file_of_both_folders():
    listed = {_pair(f, n)[0].name for f, n, _ in CORPUS}
    for folder in ("cuda-convnet", "cuda-convnet2"):
        found = {p.name for p in (SPECS / folder).glob("layers*.cfg")} - {"layers-example.cfg"}
        assert found <= listed, found - listed


@pytest.mark.parametrize("folder, name, size", CORPUS, ids=lambda v: str(v))
def test_every_cuda_convnet_file_checks_with_its_params_file(folder, name, size):
    layers, params = _pair(folder, name)
    net = alexspec.load(str(layers), str(params), inner_size=size)
    assert net.data_nodes and net.cost_nodes and not net.warnings
    for node in net:  # the params file reached every weight layer
        if node.type in ("conv", "local", "fc"):
            assert node.layer.eps_w and node.layer.eps_b is not None


def test_imagenet_2gpu_model_is_the_papers_net():
    net = alexspec.load(*map(str, _pair("cuda-convnet2", "imagenet-2gpu-model")), inner_size=224)
    assert net.params == 60_965_224 and net.num_gpus == 2


def test_layers_example_is_rejected_as_cuda_convnet_rejected_it():
    # sizeX on rnorm/cnorm: cuda-convnet's NormLayerParser reads `size`, so it stopped there too
    layers, params = SPECS / "cuda-convnet" / "layers-example.cfg", SPECS / "cuda-convnet" / "layer-params-example.cfg"
    with pytest.raises(SpecError) as e:
        alexspec.load(str(layers), str(params), inner_size=32)
    ds = [d for d in e.value.diagnostics if d.severity == "error"]
    assert {(d.code, d.message.split(":")[0]) for d in ds} >= {
        ("unknown-key", "layer 'rnorm1'"), ("unknown-key", "layer 'cnorm1'")}
    assert "cuda-convnet itself would have ignored this key" in ds[0].hint


# ----------------------------------------------------------------- ConfigParser's habits

HEAD = "[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"
NET = HEAD + ("[conv1]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\n\n"
              "[fc]\ntype=fc\ninputs=conv1\noutputs=10\n\n[probs]\ntype=softmax\ninputs=fc\n\n"
              "[cost]\ntype=cost.logreg\ninputs=labels,probs\n")


def test_a_second_image_input_with_channels_is_an_image():
    # cuda-convnet2: dataIdx >= 2 with channels= feeds images (was a 1-number label, "write channels=1")
    text = NET.replace("[labels]", "[img2]\ntype=data\ndataIdx=2\nchannels=3\n\n[labels]").replace(
        "inputs=conv1\noutputs=10", "inputs=conv1,c2\noutputs=10").replace(
        "[fc]", "[c2]\ntype=conv\ninputs=img2\nchannels=3\nfilters=16\nfilterSize=3\n\n[fc]")
    net = loads(text, "t.cfg", inner_size=8)
    assert net["img2"].output == Shape(3, 8, 8) and net["c2"].output == Shape(16, 6, 6)
    assert net["labels"].output == Shape(1)


def test_params_file_cannot_widen_a_layer():
    params = "[conv1]\nepsW=0.1\nfilters=32\n"
    with pytest.raises(SpecError) as e:
        loads(NET, "t.cfg", params, "p.cfg", inner_size=8)
    (d,) = e.value.diagnostics
    assert (d.code, d.span.path, d.span.line) == ("params-key", "p.cfg", 3)
    assert "would have ignored it" in d.message and "--lenient" in d.hint
    net = loads(NET, "t.cfg", params, "p.cfg", inner_size=8, lenient=True)
    assert net["conv1"].output.channels == 16 and net["conv1"].layer.eps_w[0].base == 0.1
    assert [(w.code, w.severity) for w in net.warnings] == [("params-key", "warning")]


def test_params_section_naming_no_layer_is_a_warning():
    net = loads(NET, "t.cfg", "[conv9]\nepsW=0.1\n", "p.cfg", inner_size=8)
    (w,) = net.warnings
    assert (w.code, w.severity, w.span.path, w.span.line) == ("unknown-layer", "warning", "p.cfg", 1)
    assert "did you mean [conv1]?" in w.hint


def test_lenient_turns_keys_cuda_convnet_ignored_into_warnings(tmp_path, capsys):
    text = NET.replace("filterSize=3\n", "filterSize=3\nconserveMem=1\n", 1)
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", inner_size=8)
    assert "cuda-convnet itself would have ignored this key" in e.value.diagnostics[0].hint
    net = loads(text, "t.cfg", inner_size=8, lenient=True)
    assert [(w.code, w.span.line) for w in net.warnings] == [("unknown-key", 15)]
    spec = tmp_path / "s.cfg"
    spec.write_text(text)
    assert main(["check", str(spec), "--inner-size", "8"]) == 2
    capsys.readouterr()
    assert main(["check", str(spec), "--inner-size", "8", "--lenient"]) == 0
    err = capsys.readouterr().err
    assert "warning[unknown-key]" in err and "conserveMem" in err


def test_keys_cuda_convnet_reads_are_accepted_with_its_meaning():
    text = NET.replace("[probs]\ntype=softmax\ninputs=fc\n", "[probs]\ntype=softmax\ninputs=fc\nneuron=ident\n") \
        .replace("inputs=labels,probs\n", "inputs=labels,probs\nchildren=probs\nneuron=ident\n") \
        .replace("[fc]", "[n1]\ntype=cnorm\ninputs=conv1\nchannels=16\nsize=3\nblocked=1\n\n"
                         "[d1]\ntype=dropout\ninputs=n1\nneuron=relu\n\n[fc]").replace("inputs=conv1\noutputs", "inputs=d1\noutputs")
    net = loads(text, "t.cfg", inner_size=8)
    assert net["n1"].layer.blocked and net["d1"].layer.neuron.kind == "relu"
    assert net["cost"].layer.children == ("probs",) and net["probs"].layer.neuron.kind == "ident"


def test_a_second_data_layer_read_as_images_takes_its_readers_channels():
    # archconvnets' audio models: [normals] dataIdx=2 without channels=, read by a pool with channels=3
    text = NET.replace("[labels]", "[normals]\ntype=data\ndataIdx=2\n\n[labels]").replace(
        "inputs=conv1\noutputs=10", "inputs=conv1,pn\noutputs=10").replace(
        "[fc]", "[pn]\ntype=pool\ninputs=normals\npool=avg\nsizeX=2\nstride=2\nchannels=3\n\n[fc]")
    net = loads(text, "t.cfg", inner_size=8)
    assert net["normals"].output == Shape(3, 8, 8) and net["pn"].output == Shape(3, 4, 4)


def test_check_says_run_refuses_a_second_image_input_in_runs_words(tmp_path, capsys):
    # what check accepts, run lowers, or check itself says "not supported by the compiler": here a
    # warning (cuda-convnet2 read the file), and run's error is the same located diagnostic
    text = ("[net]\ntype=net\ninnerSize=8\n\n" + NET.replace(
        "[labels]", "[img2]\ntype=data\ndataIdx=2\nchannels=3\n\n[labels]").replace(
        "inputs=conv1\noutputs=10", "inputs=conv1,c2\noutputs=10").replace(
        "[fc]", "[c2]\ntype=conv\ninputs=img2\nchannels=3\nfilters=16\nfilterSize=3\n\n[fc]"))
    spec = tmp_path / "two.cfg"
    spec.write_text(text)
    line = text.splitlines().index("dataIdx=2") + 1
    where = f"{spec}:{line}:9: "
    message = ("[unsupported]: layer 'img2': a second image input (dataIdx=2) is not supported by the "
               "compiler")
    assert main(["check", str(spec)]) == 0
    err = capsys.readouterr().err
    assert where + "warning" + message in err and "= help: alexspec check accepts the file" in err
    assert main(["run", str(spec), "--gpu", "cpu", "--max-batches", "1", "--data", str(tmp_path / "none"),
                 "--save-path", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert where + "error" + message in err and "reading data layer" not in err


@pytest.mark.parametrize("case", ["second-cost", "label-reader"])
def test_check_says_what_run_refuses_about_the_whole_net(tmp_path, capsys, case):
    # a second cost layer and a label layer read outside a cost: check accepted both and run
    # refused them in its own words; now check warns and run's error is the same located line
    if case == "second-cost":
        text = ("[net]\ntype=net\ninnerSize=8\n\n" + NET + "\n[probs2]\ntype=softmax\ninputs=fc\n\n"
                "[cost2]\ntype=cost.logreg\ninputs=labels,probs2\n")
        line = text.splitlines().index("[cost2]") + 2
        where, message = f":{line}:6: ", "layer 'cost2': a second cost layer is not supported by the compiler"
    else:
        text = ("[net]\ntype=net\ninnerSize=8\n\n" + NET.replace("inputs=conv1\noutputs=10",
                                                                 "inputs=conv1,labels\noutputs=10"))
        line = text.splitlines().index("inputs=conv1,labels") + 1
        where = f":{line}:8: "
        message = "layer 'fc': reading the label layer 'labels' (dataIdx=1) outside a cost layer"
    spec = tmp_path / "net.cfg"
    spec.write_text(text)
    assert main(["check", str(spec)]) == 0
    assert f"{spec}{where}warning[unsupported]: {message}" in capsys.readouterr().err
    assert main(["run", str(spec), "--gpu", "cpu", "--max-batches", "1", "--data", str(tmp_path / "none"),
                 "--save-path", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{spec}{where}error[unsupported]: {message}" in err and "supported yet" not in err
