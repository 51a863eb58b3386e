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


# shapes.py's helpers, directly (the whole run left their mutants alive: the compiler uses them,
# and its tests are not in the front end's mutation set)

def _windows(size: int, pads: tuple[int, int], window: int, stride: int) -> list[list[int]]:
    # the input's positions 0..size-1 padded (-1) or cropped (negative pads), as F.pad does, then
    # cut into windows of `window` every `stride`, as a floor-mode pool/conv does
    before, after = pads
    row = list(range(size))[max(0, -before):size - max(0, -after)]
    row = [-1] * max(0, before) + row + [-1] * max(0, after)
    return [row[m:m + window] for m in range(0, len(row) - window + 1, stride)]


@pytest.mark.parametrize("size,out,window,start,stride", [
    (224, 55, 11, 0, 4),   # AlexNet conv1: (0, 3), the last window hangs over by 3
    (32, 32, 5, -2, 1),    # padding 2 each side
    (55, 27, 3, 0, 2),     # pool1: exact fit
    (13, 6, 3, 0, 2),      # pool5: one position cropped at the end
    (10, 3, 3, 1, 3),      # a pool starting at 1: one position cropped at the front
    (7, 4, 2, -1, 2),      # padded before, exact after
    (5, 3, 3, -1, 1),      # padded before, the last position cropped
])
def test_span_pads_put_window_m_at_start_plus_m_strides(size, out, window, start, stride):
    from alexspec.shapes import span_pads
    pads = span_pads(size, out, window, start, stride)
    got = _windows(size, pads, window, stride)
    want = [[p if 0 <= p < size else -1 for p in range(start + m * stride, start + m * stride + window)]
            for m in range(out)]
    assert got == want


def test_shape_is_an_image_when_either_side_exceeds_one_and_prints_hxwxc():
    from alexspec.shapes import Shape
    assert [Shape(*s).is_image for s in ((10,), (3, 2, 2), (3, 1, 2), (3, 2, 1), (3, 1, 1))] == [
        False, True, True, True, False]
    assert (str(Shape(3, 5, 7)), str(Shape(10)), Shape(3, 5, 7).numel) == ("5x7x3", "10", 105)
    with pytest.raises(AttributeError):  # frozen: a shape is a value
        Shape(1).channels = 2  # type: ignore[misc]


def test_a_vector_reads_as_square_images_only_when_it_can():
    from alexspec.shapes import Shape, as_image
    assert as_image(Shape(48), 3) == Shape(3, 4, 4)
    assert as_image(Shape(3), 3) == Shape(3)           # as many values as channels: kept
    assert as_image(Shape(50), 3) is None              # not a multiple of 3
    assert as_image(Shape(24), 3) is None              # 8 per channel is not a square
    assert as_image(Shape(4, 2, 2), 3) == Shape(4, 2, 2)  # an image is returned as it is
    assert as_image(Shape(16), 1) == Shape(1, 4, 4)


def _chain_on_gpus(gpus: list[int]) -> str:
    # data -> one relu layer per listed GPU -> fc -> softmax -> logreg
    text = "[net]\ntype=net\ninnerSize=4\n[data]\ntype=data\ndataIdx=0\n[labels]\ntype=data\ndataIdx=1\n"
    prev = "data"
    for k, g in enumerate(gpus):
        text += f"[r{k}]\ntype=neuron\nneuron=relu\ninputs={prev}\ngpu={g}\n"
        prev = f"r{k}"
    return text + (f"[fc]\ntype=fc\ninputs={prev}\noutputs=3\ngpu={gpus[-1]}\n[probs]\ntype=softmax\n"
                   "inputs=fc\n[logprob]\ntype=cost.logreg\ninputs=labels,probs\n")


@pytest.mark.parametrize("gpus,shown", [([0, 2], "[0, 2]"),
                                         (list(range(10)) + [11], "[0, 1, 2, 3, '...', 9, 11]"),
                                         (list(range(7)) + [8], "[0, 1, 2, 3, 4, 5, 6, 8]"),
                                         (list(range(8)) + [9], "[0, 1, 2, 3, '...', 7, 9]")])
def test_a_gap_in_the_gpu_numbers_lists_the_gpus_used_shortened_past_eight(gpus, shown):
    with pytest.raises(SpecError) as e:
        loads(_chain_on_gpus(gpus), "g.cfg")
    (d,) = [d for d in e.value.diagnostics if d.code == "gpu"]
    gap = next(k for k, g in enumerate(sorted(set(gpus))) if g != k)
    assert f"no layer runs on logical GPU {gap}" in d.message
    assert d.hint == f"logical GPUs are numbered from 0 without gaps; the spec uses {shown}"


@pytest.mark.parametrize("index,ok", [(0, True), (1, False), (2, False)])
def test_a_weight_source_index_must_name_an_input_of_the_source(index, ok):
    text = ("[net]\ntype=net\ninnerSize=4\n[data]\ntype=data\ndataIdx=0\n[labels]\ntype=data\ndataIdx=1\n"
            "[fc1]\ntype=fc\ninputs=data\noutputs=48\n"
            f"[fc2]\ntype=fc\ninputs=data\noutputs=48\nweightSource=fc1[{index}]\n"
            "[fc3]\ntype=fc\ninputs=fc1,fc2\noutputs=3\n[probs]\ntype=softmax\ninputs=fc3\n"
            "[logprob]\ntype=cost.logreg\ninputs=labels,probs\n")
    if ok:
        assert loads(text, "w.cfg")["fc2"].layer.weight_source == ("fc1[0]",)
        return
    with pytest.raises(SpecError) as e:
        loads(text, "w.cfg")
    (d,) = e.value.diagnostics
    assert (d.code, d.message) == ("weight-source", f"layer 'fc2': weightSource 'fc1[{index}]': 'fc1' has "
                                   "only 1 input(s)")


def test_window_problems_at_their_boundaries():
    from alexspec.shapes import Problem, window
    out: list[Problem] = []
    assert window(out, 4, 2, 0, 2, 0, "filterSize", "conv") == 2 and out == []  # stride = filter: no gap
    assert window(out, 4, 3, 2, 1, 0, "filterSize", "conv") == 6 and out == []  # padding just below
    assert window(out, 8, 3, 4, 1, 0, "filterSize", "conv") is None              # padding above the filter
    assert [p.field for p in out] == ["padding"]
    out.clear()
    assert window(out, 2, 7, 2, 1, 0, "filterSize", "conv") is None              # 7 > 2 + 2*2
    assert window(out, 2, 6, 2, 1, 0, "filterSize", "conv") == 1                 # 6 = 2 + 2*2 fits
    assert [p.field for p in out] == ["filterSize"]


def test_as_image_refuses_fewer_values_than_channels_and_counts_past_256():
    from alexspec.shapes import Shape, as_image
    assert as_image(Shape(2), 3) is None
    assert as_image(Shape(768), 3) == Shape(3, 16, 16)  # 768 is not a cached small int


def test_pool_out_counts_windows_from_the_start_offset():
    from alexspec.shapes import pool_out
    assert [pool_out(10, 3, s, 3) for s in (0, 1, 2)] == [4, 3, 3]  # windows at 0,3,6,9 / 1,4,7 / 2,5,8


def test_a_layer_without_weights_counts_no_multiply_adds():
    net = _net(C0 + "[x]\ntype=pool\ninputs=c0\npool=max\nsizeX=2\nstride=2\nchannels=16\n")
    assert (net["x"].params, net["x"].macs) == (0, 0)


def test_window_with_padding_whose_bits_overlap_the_size():
    from alexspec.shapes import Problem, window
    out: list[Problem] = []
    assert window(out, 2, 3, 1, 1, 0, "filterSize", "conv") == 2 and out == []  # 3 <= 2 + 2x1


@pytest.mark.parametrize("sections,got", [
    (C0 + "[x]\ntype=pool\ninputs=c0\npool=max\nsizeX=2\nstride=2\nchannels=32\n", 16),  # fewer than declared
    (C0 + "[x]\ntype=pool\ninputs=c0\npool=max\nsizeX=2\nstride=2\nchannels=3\n", 16),   # more than declared
    ("[v]\ntype=fc\ninputs=data\noutputs=50\n[x]\ntype=pool\ninputs=v\npool=max\nsizeX=2\nstride=2\n"
     "channels=3\n", 50),  # a vector that is no square image of 3 channels
])
def test_channels_an_image_does_not_have_are_one_message_naming_the_input(sections, got):
    with pytest.raises(SpecError) as e:
        _net(sections)
    (d,) = [d for d in e.value.diagnostics if d.code == "channels"]
    src = "v" if got == 50 else "c0"
    assert f"but input '{src}' gives {got} channels" in d.message and d.hint == f"write channels={got}"


def test_a_cube_of_channels_reads_as_an_image():
    from alexspec.shapes import Shape, as_image
    assert as_image(Shape(27), 3) == Shape(3, 3, 3)  # 27 & 3 != 0, 27 % 3 == 0
