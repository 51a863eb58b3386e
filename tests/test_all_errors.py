"""Every error at once, once (issue 10, item 5): the checks of later stages run for the layers
that earlier errors do not touch, and one problem gives one message."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexspec.errors import SpecError
from alexspec.pipeline import loads

ALEXNET = (Path(__file__).parent.parent / "specs" / "alexnet.cfg").read_text(encoding="utf-8")


def _errors(text: str) -> list:
    with pytest.raises(SpecError) as e:
        loads(text, "a.cfg")
    return [d for d in e.value.diagnostics if d.severity == "error"]


def _line(text: str, needle: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text[: text.index(needle, start)].count("\n") + 1


def test_a_misspelt_key_and_an_undefined_input_are_two_messages_of_one_run():
    text = ALEXNET.replace("filterSize=11", "filtrSize=11", 1).replace("inputs=conv2", "inputs=conv9", 1)
    ds = _errors(text)
    codes = [d.code for d in ds]
    assert "unknown-key" in codes and "undefined-input" in codes, ds


def test_channel_mismatches_along_a_chain_are_found_together():
    # widening conv1 to 50 filters per column: rnorm1, pool1 and conv2 all say channels=48
    text = ALEXNET.replace("filters=48", "filters=64", 1)
    ds = _errors(text)
    lines = {d.span.line for d in ds if d.code == "channels"}
    assert len(lines) >= 3, ds
    assert all("gives 64 channels" in d.message for d in ds if d.code == "channels")


def test_a_star_value_wrong_for_every_layer_is_reported_once():
    ds = _errors(ALEXNET.replace("wc=0.0005\n", "wc=-1\n", 1))
    (d,) = ds
    assert "wc must be 0 or more" in d.message and "conv1a" in d.message and "more" in d.message
    (d,) = _errors(ALEXNET.replace("wc=0.0005\n", "wc=abc\n", 1))
    assert d.message.count("wc") == 1


def test_did_you_mean_never_proposes_the_name_itself():
    # `sizeX` is a key of another type (pool): the hint names a key rnorm takes, not sizeX
    text = ALEXNET.replace("size=5\n", "sizeX=5\n", 1)
    ds = [d for d in _errors(text) if d.code == "unknown-key"]
    assert ds and all("did you mean 'sizeX'" not in (d.hint or "") for d in ds)


SMALL = """[data]
type=data
dataIdx=0
[labels]
type=data
dataIdx=1
[conv1]
type=conv
inputs=data
channels=3
filters=16
filterSize=3
[conv2]
type=conv
inputs=conv1
channels=16
filters=16
filterSize=3
[fc]
type=fc
inputs=conv2
outputs=10
[prob]
type=softmax
inputs=fc
[logprob]
type=cost.logreg
inputs=labels,prob
"""


def _hint(ds: list, code: str) -> str:
    (d,) = [d for d in ds if d.code == code]
    return d.hint or ""


def test_did_you_mean_never_proposes_the_reader_as_its_own_input():
    # `conv` is as close to conv1 as to conv2, and conv2 cannot read itself
    hint = _hint(_errors(SMALL.replace("inputs=conv1\n", "inputs=conv\n", 1)), "undefined-input")
    assert hint == "did you mean 'conv1'?"


def test_did_you_mean_an_input_names_the_compact_section_as_written():
    # conv2 (columns inherited) reads `pool1c`: the file names the two columns `pool1`
    hint = _hint(_errors(ALEXNET.replace("inputs=pool1 ", "inputs=pool1c ", 1)), "undefined-input")
    assert hint == "did you mean 'pool1'?"


def test_did_you_mean_an_input_prefers_a_layer_on_the_readers_gpu():
    towers = (Path(__file__).parent.parent / "specs" / "alexnet-towers.cfg").read_text(encoding="utf-8")
    assert "[conv2a]\ntype=conv\ninputs=pool1a\n" in towers
    text = towers.replace("[conv2a]\ntype=conv\ninputs=pool1a\n", "[conv2a]\ntype=conv\ninputs=pool1c\n", 1)
    assert _hint(_errors(text), "undefined-input") == "did you mean 'pool1a'?"  # conv2a is on GPU 0


def test_did_you_mean_a_key_prefers_one_the_section_does_not_set():
    # epsX is as close to epsW as to epsB; the section sets epsW already
    text = SMALL.replace("filterSize=3\n[conv2]", "filterSize=3\nepsW=0.1\nepsX=0.1\n[conv2]", 1)
    assert _hint(_errors(text), "unknown-key").startswith("did you mean 'epsB'? type=conv takes: ")
    text = SMALL.replace("filterSize=3\n[conv2]", "filterSize=3\nepsB=0.1\nepsX=0.1\n[conv2]", 1)
    assert _hint(_errors(text), "unknown-key").startswith("did you mean 'epsW'? ")


def test_did_you_mean_an_input_looks_at_a_layer_with_its_own_error():
    text = SMALL.replace("filterSize=3\n[conv2]", "filterSize=3\nfooBar=1\n[conv2]", 1)
    text = text.replace("inputs=conv1\n", "inputs=conv\n", 1)
    assert _hint(_errors(text), "undefined-input") == "did you mean 'conv1'?"
