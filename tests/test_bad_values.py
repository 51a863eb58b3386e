"""The front end never crashes and never misleads (issue 10, item 4): each crash class and each
accepted-but-wrong value a random-mutation fuzz of 7,000 specs found gives one located SpecError."""

from __future__ import annotations

import pytest

from alexspec.errors import SpecError
from alexspec.pipeline import loads, read_source

HEAD = "[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"


def _net(mid: str = "", last: str = "conv1", image: str = "") -> str:
    text = HEAD + "[conv1]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\n" + mid + "\n"
    if image:
        text += f"[r]\ntype={image}\ninputs=conv1\nchannels=16\n\n"
    return text + (f"[fc]\ntype=fc\ninputs={last}\noutputs=10\n\n[probs]\ntype=softmax\ninputs=fc\n\n"
                   "[cost]\ntype=cost.logreg\ninputs=labels,probs\n")


CASES = [
    ("non-ASCII digit in columns", _net("columns=²\n"), "columns", "columns=²"),
    ("non-ASCII digit in weightSource", _net().replace("outputs=10\n", "outputs=10\nweightSource=conv1[²]\n"),
     "weight-source", "conv1[²]"),
    ("thousands of digits", _net().replace("filters=16", "filters=" + "1" * 5000), "value", "1111"),
    ("huge gpu index", _net("gpu=99999999999\n"), "gpu", "99999999999"),
    ("huge gpu index on a later layer", _net("gpu=0\n").replace("outputs=10\n", "outputs=10\ngpu=100000000\n"),
     "gpu", "100000000"),
    ("scale=nan on resize", _net(last="r", image="resize\nscale=nan"), "value", "nan"),
    ("scale=1e-320 on resize", _net(last="r", image="resize\nscale=1e-320"), "value", "1e-320"),
    ("negative size on crop", _net(last="r", image="crop\nsizeX=-3"), "value", "-3"),
    ("negative stride on nailbed", _net(last="r", image="nailbed\nstride=-2"), "value", "-2"),
    ("initW nan", _net("initW=nan\n"), "value", "nan"),
    ("initB nan", _net("initB=nan\n"), "value", "nan"),
    ("momW nan", _net("momW=nan\n"), "value", "nan"),
    ("wc inf", _net("wc=inf\n"), "value", "inf"),
    ("neuron argument overflowing to inf", _net("neuron=tanh[" + "1" * 400 + ",1]\n"), "value", "tanh"),
]


@pytest.mark.parametrize("text, code, at", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_is_one_located_error(text, code, at):
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", inner_size=8)
    (d,) = [d for d in e.value.diagnostics if d.severity == "error"]
    assert d.code == code, d
    line = text.split("\n")[d.span.line - 1]
    assert at in line[d.span.column - 1:] or at in line, (line, d.span)


def test_a_form_feed_does_not_move_the_caret():
    text = _net("\fbogus=1\n")
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", inner_size=8)
    (d,) = e.value.diagnostics
    assert d.span.column == 2  # the key starts after the form feed
    source, caret = d.render({"t.cfg": text}).split("\n")[1:3]
    assert "\f" not in source and source.index("bogus") == caret.index("^")


def test_u2028_is_not_a_line_end_and_is_named():
    text = _net("bogus=\u2028x\n")
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", inner_size=8)
    (d,) = e.value.diagnostics
    assert text.split("\n")[d.span.line - 1].startswith("bogus=")
    assert "U+2028" in d.message


def test_invalid_utf8_after_multibyte_text_is_located_in_characters(tmp_path):
    path = tmp_path / "s.cfg"
    path.write_bytes("[a]\n# é€😀".encode() + b"\xff\n")
    with pytest.raises(SpecError) as e:
        read_source(str(path), "layer definition")
    (d,) = e.value.diagnostics
    assert (d.span.line, d.span.column) == (2, 6)  # '# é€😀' is 5 characters (10 bytes)
