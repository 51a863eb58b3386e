"""The small things a user trips on: --version, a top-level --help in the user's words with
every option's default, counts that agree with their nouns, and output not broken at 80 columns
when it is not a terminal."""

from __future__ import annotations

import argparse
import re
from importlib.metadata import version

import pytest

from alexspec.cli import build_parser, main
from alexspec.console import Console
from alexspec.words import count, plural


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"alexspec {version('alexspec')}"


def test_top_level_help_in_the_users_words(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "composition root" not in out
    for command in ("check", "draw", "run", "test", "show", "predict", "export"):
        assert re.search(rf"^\s+alexspec {command} ", out, re.M), command  # an example of each
    assert "Exit status" in out


def _options():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for a in p._actions:
            if a.option_strings and a.default not in (None, False, argparse.SUPPRESS) and a.help:
                yield name, p, a


def test_every_option_with_a_default_shows_it():
    found = list(_options())
    assert {(n, a.dest) for n, _, a in found} >= {("draw", "style"), ("run", "gpu"), ("predict", "batch")}
    for name, p, a in found:
        text = p.format_help()
        text = text[text.index("options:"):]
        block = text[text.index(a.option_strings[-1]):]
        block = block[:block.find("\n  -", 1) if "\n  -" in block[1:] else len(block)]
        assert "default" in block, (name, a.option_strings)
    draw = dict((n, p) for n, p, _ in found)["draw"].format_help()
    assert "(default: figure2)" in " ".join(draw.split())


@pytest.mark.parametrize("n,noun,text", [(1, "step", "1 step"), (2, "step", "2 steps"), (0, "file", "0 files"),
                                         (1, "class", "1 class"), (3, "class", "3 classes"),
                                         (12345, "image", "12,345 images")])
def test_counts_agree_with_their_nouns(n, noun, text):
    assert count(n, noun) == text
    assert plural(1.0, "epoch") == "epoch" and count(2.5, "epoch", "g") == "2.5 epochs"


def test_run_says_at_most_1_step(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("PIL")
    from alexspec.runtime.report import NullReporter
    from alexspec.runtime.session import RunOptions, run
    from tests.predict_data import TINY, make_folder

    class Lines(NullReporter):
        def __init__(self):
            super().__init__()
            self.lines = []

        def info(self, text):
            self.lines.append(text)

    spec = tmp_path / "tiny.cfg"
    spec.write_text(TINY)
    rep = Lines()
    run(RunOptions(spec=str(spec), data=str(make_folder(tmp_path / "d", train=4, val=2)), gpu="cpu",
                   max_batches=1, epochs=1, save_path=str(tmp_path / "run")), rep)
    net_line = next(s for s in rep.lines if s.startswith("net "))
    assert "1 optimizer update (1 epoch of 1 step, at most 1 step)" in net_line


def test_output_is_not_wrapped_when_not_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    c = Console()
    line = "word " * 60  # 300 characters
    c.print(line.strip())
    c.note(line.strip())
    out, err = capsys.readouterr()
    assert out.strip() == line.strip() and err.strip() == line.strip()
