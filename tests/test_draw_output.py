"""`alexspec draw` output: formats by extension, byte-for-byte determinism, what happens without
graphviz's `dot`, and the command line's defaults and errors."""

from __future__ import annotations

import pytest

import alexspec
from alexspec.cli import main
from alexspec.draw import draw
from tests.draw_dot import ALEXNET, needs_dot


@pytest.fixture(scope="module")
def alexnet() -> alexspec.Net:
    return alexspec.load(str(ALEXNET))


@needs_dot
@pytest.mark.parametrize("ext", ["svg", "pdf", "png", "dot"])
def test_output_by_extension_is_deterministic(ext, tmp_path, alexnet):
    a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    draw(alexnet, a)
    draw(alexnet, b)
    data = a.read_bytes()
    assert data == b.read_bytes()
    magic = {"svg": b"<?xml", "pdf": b"%PDF", "png": b"\x89PNG", "dot": b"digraph"}[ext]
    assert data.startswith(magic)
    if ext == "pdf":  # cairo's time stamp is replaced, so runs in different seconds agree too
        assert b"/CreationDate (D:19700101000000Z)" in data


def test_unknown_extension_is_a_clear_error(tmp_path, alexnet):
    with pytest.raises(alexspec.RunError, match="extension"):
        draw(alexnet, tmp_path / "a.jpeg")


def test_without_dot_the_dot_file_is_written_and_the_fix_is_named(tmp_path, monkeypatch, alexnet):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    message = draw(alexnet, tmp_path / "fig.svg")
    assert not (tmp_path / "fig.svg").exists()
    assert (tmp_path / "fig.dot").read_text().startswith("digraph figure2")
    assert "apt-get install graphviz" in message and str(tmp_path / "fig.dot") in message


def test_cli_without_dot(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["draw", str(ALEXNET), "-o", str(tmp_path / "x.png"), "--style", "graph"]) == 0
    assert (tmp_path / "x.dot").read_text().startswith("digraph layers")
    assert "apt-get install graphviz" in capsys.readouterr().out


@needs_dot
def test_cli_default_output_is_spec_stem_svg_in_cwd(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", str(ALEXNET)]) == 0
    svg = (tmp_path / "alexnet.svg").read_text()
    assert "55x55x48" in svg and "224x224x3" in svg
    assert "alexnet.svg" in capsys.readouterr().out


def test_cli_bad_spec_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[conv1]\ntype=conv\ninputs=nowhere\n")
    assert main(["draw", str(bad), "-o", str(tmp_path / "bad.svg")]) == 2
    err = capsys.readouterr().err
    assert "bad.cfg:" in err and "Traceback" not in err
    assert not (tmp_path / "bad.svg").exists()
