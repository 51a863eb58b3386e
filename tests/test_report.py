"""The `check` table: totals, per-GPU rows and the cross-GPU edges, as the CLI prints them."""

import subprocess
import sys

import alexspec
from alexspec.cli import main
from alexspec.report import check_report


def render(net) -> str:
    return check_report(net).text()


def test_alexnet_report():
    text = render(alexspec.load("specs/alexnet.cfg"))
    assert "60,965,224" in text and "724,406,816" in text
    assert "55x55x48" in text and "7 cross-GPU edges" in text
    for src, dst in [("pool2b", "conv3a"), ("drop7b", "fc8")]:
        assert any(src in line and dst in line and "1 -> 0" in line for line in text.splitlines())
    assert "86,528" in text  # 13x13x128 floats per image into conv3


def test_single_gpu_report_has_no_edges():
    text = render(alexspec.load("tests/specs/cuda-convnet/layers-80sec.cfg",
                                "tests/specs/cuda-convnet/layer-params-80sec.cfg", inner_size=32))
    assert "no cross-GPU edges" in text and "1 logical GPU" in text


def test_cli_exit_codes(tmp_path, capsys):
    assert main(["check", "specs/alexnet.cfg"]) == 0
    assert "60,965,224" in capsys.readouterr().out
    bad = tmp_path / "bad.cfg"
    bad.write_text("[data]\ntype=data\ndataIdx=0\nfooBar=1\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:1: error[unknown-key]" in err and "    4 | fooBar=1" in err
    assert main(["check", str(tmp_path / "missing.cfg")]) == 2
    assert "cannot read the layer definition file" in capsys.readouterr().err


def test_cli_check_with_layer_params_subprocess():
    base = "tests/specs/cuda-convnet/"
    r = subprocess.run([sys.executable, "-m", "alexspec.cli", "check", base + "layers-conv-local-13pct.cfg",
                        "--layer-params", base + "layer-params-conv-local-13pct.cfg", "--inner-size", "24"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "local" in r.stdout
