"""The INI grammar: ConfigParser's dialect, positions, and located syntax errors."""

import pytest

from alexspec.errors import SpecError
from alexspec.parse import parse


def test_sections_items_and_spans():
    f = parse("# head\n[conv1]\ntype = conv\nfilterSize: 5\n\n[fc-2 x]\nouTPuts=10\n", "a.cfg")
    assert [s.name for s in f.sections] == ["conv1", "fc-2 x"]
    conv = f.sections[0]
    assert (conv.span.line, conv.span.column, conv.span.end_column) == (2, 1, 8)
    t, k = conv.items
    assert (t.key, t.value) == ("type", "conv")
    assert (t.value_span.line, t.value_span.column, t.value_span.end_column) == (3, 8, 12)
    assert (k.key, k.value, k.value_span.column) == ("filterSize", "5", 13)
    assert f.sections[1].get("OUTPUTS").value == "10"  # keys are case-insensitive


def test_comments_inline_and_full_line():
    text = "; semicolon comment\n[a]\n# hash comment\nneuron=tanh[1,2]   # inline\nepsW=dexp[base=0.1;numSteps=2] ; inline\nx=a#b\n"
    items = parse(text).sections[0].items
    assert [(i.key, i.value) for i in items] == [
        ("neuron", "tanh[1,2]"), ("epsW", "dexp[base=0.1;numSteps=2]"), ("x", "a#b")]


@pytest.mark.parametrize("text", [
    "[a]\r\ntype=data\r\ndataIdx=0\r\n",  # CRLF
    "[a]\ntype=data\ndataIdx=0",  # no final newline
    "\ufeff[a]\ntype=data\ndataIdx=0\n",  # byte-order mark
    "\n\n  [a]\n\n   type=data\ndataIdx =  0  \n\n",  # blank lines, indentation, spaces
])
def test_layout_variants(text):
    (sec,) = parse(text).sections
    assert sec.name == "a"
    assert [(i.key, i.value) for i in sec.items] == [("type", "data"), ("dataIdx", "0")]


def test_empty_value_is_kept_with_a_span():
    (item,) = parse("[a]\nkey=\n").sections[0].items
    assert item.value == "" and item.value_span.line == 2


def _error(text):
    with pytest.raises(SpecError) as e:
        parse(text, "bad.cfg")
    return e.value.diagnostics


def test_unclosed_header_is_located():
    (d,) = _error("[a]\ntype=data\n[conv1\ntype=conv\n")
    assert (d.code, d.span.line) == ("syntax", 3)
    assert "']'" in d.message


def test_junk_line_is_located_at_its_start():
    (d,) = _error("[a]\n  hello world\n")
    assert (d.code, d.span.line, d.span.column) == ("syntax", 2, 3)
    assert "hello world" in d.message


def test_item_before_first_section():
    (d,) = _error("type=conv\n[a]\n")
    assert (d.code, d.span.line, d.span.column) == ("no-section", 1, 1)


def test_duplicates_all_reported():
    ds = _error("[a]\ntype=conv\nTYPE=fc\n[b]\n[a]\n")
    assert [(d.code, d.severity, d.span.line) for d in ds] == [
        ("duplicate-section", "error", 5), ("duplicate-key", "warning", 3)]
    assert "line 1" in ds[0].message and "line 2" in ds[1].message


def test_a_key_given_twice_keeps_the_last_with_a_located_warning():
    # Python 2's ConfigParser kept the last value; cuda-convnet files rely on it
    raw = parse("[a]\ntype=conv\nTYPE=fc\n", "x.cfg")
    assert raw.sections[0].get("type").value == "fc" and len(raw.sections[0].items) == 1
    (w,) = raw.warnings
    assert (w.severity, w.code, w.span.line, w.span.column) == ("warning", "duplicate-key", 3, 1)
    assert "the last value is used" in w.message


def test_rendered_error_has_path_line_col_and_caret():
    with pytest.raises(SpecError) as e:
        parse("[a]\n  hello\n", "x.cfg")
    text = str(e.value)
    assert text.startswith("x.cfg:2:3: error[syntax]:")
    assert "    2 |   hello\n      |   ^^^^^" in text


def test_indented_continuation_line_gets_a_hint():
    (d,) = _error("[a]\ninputs=a,\n    b\n")
    assert d.code == "syntax" and (d.span.line, d.span.column) == (3, 5) and "continuation" in d.hint
