"""The shipped specs and real cuda-convnet files: they load, check, and give the paper's numbers.

Numbers come from the AlexNet paper's architecture (section 3.5), counted by hand: weights plus
biases per layer, summed over the two columns.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import alexspec
from alexspec import Shape, SpecError
from alexspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
CCN = Path(__file__).parent / "specs" / "cuda-convnet"

# (definition file, params file, the input size its authors' data provider gave it)
CUDA_CONVNET = [
    ("layers-18pct.cfg", "layer-params-18pct.cfg", 32),
    ("layers-80sec.cfg", "layer-params-80sec.cfg", 32),
    ("layers-conv-local-13pct.cfg", "layer-params-conv-local-13pct.cfg", 24),
]


@pytest.fixture(scope="module")
def alexnet():
    return alexspec.load(str(SPECS / "alexnet.cfg"))


@pytest.fixture(scope="module")
def towers():
    return alexspec.load(str(SPECS / "alexnet-towers.cfg"))


def _column_sum(net, base: str, attr: str = "params") -> int:
    """Sum over the columns of one paper layer: `conv1` is conv1a + conv1b (or plain conv1)."""
    pat = re.compile(rf"^{re.escape(base)}[ab]?$")
    nodes = [n for n in net if pat.match(n.name)]
    assert nodes, base
    return sum(getattr(n, attr) for n in nodes)


# --------------------------------------------------------------------------- every spec checks


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.cfg")), ids=lambda p: p.name)
def test_every_shipped_spec_checks(path: Path, capsys):
    net = alexspec.load(str(path))
    assert len(net) > 0 and net.cost_nodes
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{net.params:,}" in out  # the totals line of the table


# --------------------------------------------------------------------------- AlexNet's numbers


def test_alexnet_has_the_papers_parameter_count(alexnet):
    assert alexnet.params == 60_965_224


@pytest.mark.parametrize("layer, params", [
    ("conv1", 34_944), ("conv2", 307_456), ("conv3", 885_120), ("conv4", 663_936),
    ("conv5", 442_624), ("fc6", 37_752_832), ("fc7", 16_781_312), ("fc8", 4_097_000),
])
def test_alexnet_per_layer_parameters(alexnet, towers, layer, params):
    assert _column_sum(alexnet, layer) == params
    assert _column_sum(towers, layer) == params


def test_alexnet_shapes_per_gpu(alexnet):
    for col, gpu in (("a", 0), ("b", 1)):
        assert alexnet[f"conv1{col}"].output == Shape(48, 55, 55)
        assert alexnet[f"conv1{col}"].gpu == gpu
        assert alexnet[f"pool1{col}"].output == Shape(48, 27, 27)
        assert alexnet[f"conv2{col}"].output == Shape(128, 27, 27)
        assert alexnet[f"pool2{col}"].output == Shape(128, 13, 13)
        assert alexnet[f"conv3{col}"].output == Shape(192, 13, 13)
        assert alexnet[f"conv5{col}"].output == Shape(128, 13, 13)
        assert alexnet[f"pool5{col}"].output == Shape(128, 6, 6)
        assert alexnet[f"fc6{col}"].output == Shape(2048)
    assert str(alexnet["conv1a"].output) == "55x55x48"
    assert alexnet["fc8"].output == Shape(1000)
    assert alexnet.num_gpus == 2


def test_alexnet_crosses_gpus_exactly_where_the_paper_does(alexnet):
    crossings = sorted((e.src, e.dst) for e in alexnet.cross_gpu_edges)
    assert crossings == [
        ("drop6a", "fc7b"), ("drop6b", "fc7a"), ("drop7b", "fc8"),
        ("pool2a", "conv3b"), ("pool2b", "conv3a"), ("pool5a", "fc6b"), ("pool5b", "fc6a"),
    ]
    # 13x13x128 floats per image into conv3, 6x6x128 into fc6, 2048 into fc7 and fc8.
    sizes = {e.dst: e.bytes_per_image for e in alexnet.cross_gpu_edges}
    assert sizes["conv3a"] == 4 * 13 * 13 * 128
    assert sizes["fc6b"] == 4 * 6 * 6 * 128
    assert sizes["fc8"] == 4 * 2048


def test_alexnet_check_prints_the_table(capsys):
    assert main(["check", str(SPECS / "alexnet.cfg")]) == 0
    out = capsys.readouterr().out
    assert "60,965,224" in out
    assert "55x55x48" in out


# --------------------------------------------------------------------------- two forms, one net


def test_towers_and_compact_forms_give_the_same_ir(alexnet, towers):
    a, b = alexnet.spec, towers.spec
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    for x, y in zip(a.layers, b.layers):
        assert x.same_as(y), f"{x.name}:\n{x.model_dump()}\n!=\n{y.model_dump()}"
    assert a.settings == b.settings
    assert [n.gpus for n in alexnet] == [n.gpus for n in towers]
    assert alexnet.architecture_hash == towers.architecture_hash


def test_same_as_sees_a_difference(alexnet, tmp_path):
    """The equality above is not vacuous: one changed width breaks it."""
    text = (SPECS / "alexnet-towers.cfg").read_text(encoding="utf-8")
    changed = text.replace("[conv4b]\ntype=conv\ninputs=conv3b\nchannels=192\nfilters=192",
                           "[conv4b]\ntype=conv\ninputs=conv3b\nchannels=192\nfilters=176", 1)
    assert changed != text
    path = tmp_path / "towers.cfg"
    path.write_text(changed.replace("[conv5b]\ntype=conv\ninputs=conv4b\nchannels=192",
                                    "[conv5b]\ntype=conv\ninputs=conv4b\nchannels=176", 1))
    other = alexspec.load(str(path))
    differ = [x.name for x, y in zip(alexnet.spec.layers, other.spec.layers) if not x.same_as(y)]
    assert differ == ["conv4b", "conv5b"]


# --------------------------------------------------------------------------- the one-GPU net


def test_one_gpu_net_follows_the_papers_footnote():
    net = alexspec.load(str(SPECS / "alexnet-1gpu.cfg"))
    assert net.num_gpus == 1 and not net.cross_gpu_edges
    widths = [net[name].output.channels for name in ("conv1", "conv2", "conv3", "conv4", "conv5")]
    assert widths == [48, 128, 192, 192, 256]  # half of 96-256-384-384, the last conv kept
    assert [net[n].output.channels for n in ("fc6", "fc7", "fc8")] == [4096, 4096, 1000]
    assert net["pool5"].output == Shape(256, 6, 6)
    assert net.params == 59_798_312  # "approximately the same" as the two-GPU net's 60,965,224


# ------------------------------------------------------------------------- real cuda-convnet files


@pytest.mark.parametrize("layers, params, size", CUDA_CONVNET, ids=lambda v: str(v))
def test_real_cuda_convnet_files_check(layers, params, size, capsys):
    argv = ["check", str(CCN / layers), "--layer-params", str(CCN / params),
            "--inner-size", str(size)]
    assert main(argv) == 0, capsys.readouterr().err
    net = alexspec.load(str(CCN / layers), str(CCN / params), inner_size=size)
    assert net.data_nodes and net.cost_nodes
    # The params file was merged into the layers: every weight layer has its learning rate.
    for node in net:
        if node.type in ("conv", "local", "fc"):
            assert node.layer.eps_w and node.layer.eps_w[0].base == 0.001
            assert node.layer.eps_b is not None and node.layer.eps_b.base == 0.002
    assert net.cost_nodes[0].layer.coeff == 1


def test_cifar_18pct_shapes_and_parameters():
    net = alexspec.load(str(CCN / "layers-18pct.cfg"), str(CCN / "layer-params-18pct.cfg"),
                        inner_size=32)
    assert net["conv1"].output == Shape(32, 32, 32)
    assert net["pool1"].output == Shape(32, 16, 16)  # ceil((32-3)/2)+1 = 16
    assert net["pool2"].output == Shape(32, 8, 8)
    assert net["pool3"].output == Shape(64, 4, 4)
    assert net["fc10"].output == Shape(10)
    # 5x5x3x32+32, 5x5x32x32+32, 5x5x32x64+64, 1024x10+10
    params = [net[n].params for n in ("conv1", "conv2", "conv3", "fc10")]
    assert params == [2432, 25632, 51264, 10250]
    assert net["rnorm1"].layer.scale == 0.00005 and net["rnorm1"].layer.pow == 0.75
    assert net["fc10"].layer.wc == (1.0,)


def test_cifar_13pct_runs_on_24_pixel_crops():
    net = alexspec.load(str(CCN / "layers-conv-local-13pct.cfg"),
                        str(CCN / "layer-params-conv-local-13pct.cfg"), inner_size=24)
    assert net["conv1"].output == Shape(64, 24, 24)
    assert net["pool2"].output == Shape(64, 6, 6)
    assert net["local4"].output == Shape(32, 6, 6)


def test_real_file_without_an_input_size_says_what_is_missing():
    with pytest.raises(SpecError) as e:
        alexspec.load(str(CCN / "layers-18pct.cfg"), str(CCN / "layer-params-18pct.cfg"))
    text = str(e.value)
    assert "--inner-size" in text
    assert str(CCN / "layers-18pct.cfg") in text
