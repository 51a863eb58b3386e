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
