"""Tests that kill the mutants cosmic-ray left alive in the front end's shapes.py and check.py
(see docs/testing.md), through the public `loads`: counts worked out by hand in comments."""

from __future__ import annotations

import pytest

from alexspec.errors import SpecError
from alexspec.pipeline import loads

SPEC = """
[net]
type=net
innerSize=8
[data]
type=data
dataIdx=0
[labels]
type=data
dataIdx=1
{sections}
[fc]
type=fc
inputs=x
outputs=3
[probs]
type=softmax
inputs=fc
[logprob]
type=cost.logreg
inputs=labels,probs
"""

C0 = "[c0]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=1\n"


def _net(sections: str):
    return loads(SPEC.format(sections=sections), "s.cfg")


def _error(sections: str) -> str:
    with pytest.raises(SpecError) as e:
        _net(sections)
    return str(e.value)


def test_cross_map_pooling_from_a_start_channel():
    # windows of 3 channels every 2 from channel 1 of 16: 1, 3, ..., 13 (13 + 3 = 16): 7 outputs
    net = _net(C0 + "[x]\ntype=cmpool\ninputs=c0\nchannels=16\nstart=1\nsize=3\nstride=2\n")
    assert (net["x"].output.channels, net["x"].output.height) == (7, 8)


def test_a_filter_as_large_as_the_padded_input_fits_once():
    # 12 = 8 pixels + 2x2 padding: one window per axis
    net = _net("[x]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=12\npadding=2\n")
    assert (net["x"].output.channels, net["x"].output.height, net["x"].output.width) == (16, 1, 1)
    assert "filterSize=13 is larger than the padded input (8 pixels + 2x2 padding)" in _error(
        "[x]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=13\npadding=2\n")


def test_inputs_giving_different_filter_counts_are_named_with_the_counts():
    text = _error(C0 + "[x]\ntype=conv\ninputs=data,c0\nchannels=3,16\nfilters=16,8\ngroups=1,1\n"
                  "filterSize=3,3\npadding=1,1\n")
    assert "every input must give the same number of filters (filters x groups = [16, 8])" in text


def test_a_pool_over_more_than_256_channels_is_accepted():
    # Python caches small ints only: a count compared by identity would fail past 256 channels
    c0 = C0.replace("filters=16", "filters=384")
    net = _net(c0 + "[x]\ntype=pool\ninputs=c0\nchannels=384\npool=max\nsizeX=3\nstride=2\n")
    assert (net["x"].output.channels, net["x"].output.height) == (384, 4)  # ceil((8-3)/2)+1 = 4


def test_a_pass_layer_takes_a_single_input_and_eltmax_two():
    net = _net(C0 + "[x]\ntype=pass\ninputs=c0\n")
    assert net["x"].output == net["c0"].output
    assert "type=eltmax takes at least 2 inputs, got 1" in _error(C0 + "[x]\ntype=eltmax\ninputs=c0\n")
