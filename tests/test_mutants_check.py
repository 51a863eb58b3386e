"""check.py's behaviour pinned where its whole mutation run (mutation/check.toml) found no test.

Each test states what a user or a caller sees (the exact message, the exact span, the exact
shapes and counts), worked out by hand from the spec text, never from check.py's own helpers.
A mutant of alexspec/check.py that each test kills is named in its docstring.
"""

from __future__ import annotations

import pytest

from alexspec import Shape
from alexspec.check import check
from alexspec.errors import SpecError
from alexspec.expand import expand
from alexspec.parse import parse
from alexspec.pipeline import loads
from alexspec.validate import validate_partial

HEAD = "[data]\ntype=data\ndataIdx=0\n\n[labels]\ntype=data\ndataIdx=1\n\n"  # lines 1-7
END = "[probs]\ntype=softmax\ninputs=out\n\n[cost]\ntype=cost.logreg\ninputs=labels,probs\n"


def conv(name: str, inputs: str, channels: object = 3, extra: str = "") -> str:
    """A 3x3 conv with 16 filters, padding 1 (same size out): 8 lines with the blank one."""
    return f"[{name}]\ntype=conv\ninputs={inputs}\nchannels={channels}\nfilters=16\nfilterSize=3\npadding=1\n{extra}\n"


def fc(name: str, inputs: str, extra: str = "") -> str:
    return f"[{name}]\ntype=fc\ninputs={inputs}\noutputs=10\n{extra}\n"


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def col_of(text: str, needle: str, inside: str) -> int:
    """The 1-based column of `needle` within the line that contains `inside`."""
    line = next(x for x in text.split("\n") if inside in x)
    return line.index(needle) + 1


def errors(text: str, **kw) -> list:
    kw.setdefault("inner_size", 8)
    with pytest.raises(SpecError) as e:
        loads(text, "t.cfg", **kw)
    return [d for d in e.value.diagnostics if d.severity == "error"]


def where(d) -> tuple[int, int, int, int]:
    return d.span.line, d.span.column, d.span.end_line, d.span.end_column


def net(text: str, **kw):
    kw.setdefault("inner_size", 8)
    return loads(text, "t.cfg", **kw)


def spec_of(text: str):
    """The validated Spec of a text, for calling `check` directly."""
    spec, diags, failed = validate_partial(expand(parse(text, "t.cfg")))
    assert not diags and not failed
    return spec


# --- check() as an API -------------------------------------------------------------------------

def test_check_takes_its_options_by_keyword_only():
    """`def check(spec, *, inner_size=...)`: a positional option is a TypeError (kills `*` -> `/`)."""
    spec = spec_of(HEAD + conv("c1", "data") + fc("out", "c1") + END)
    assert check(spec, inner_size=8)["c1"].output == Shape(16, 8, 8)
    with pytest.raises(TypeError):
        check(spec, 8)


def test_without_sources_a_list_element_is_located_at_the_whole_value():
    """Called without `sources`, check cannot split `inputs=conv1,cX` into names: the span is the
    whole value (columns 8-16), and nothing escapes but the SpecError (kills `line is None or`
    -> `and`); with the text, the span is `cX` (columns 14-16)."""
    text = HEAD + conv("conv1", "data") + fc("out", "conv1,cX") + END
    spec = spec_of(text)  # undefined inputs are check's to find
    n = line_of(text, "inputs=conv1,cX")
    for sources, span in ((None, (n, 8, n, 16)), ({"t.cfg": text}, (n, 14, n, 16))):
        with pytest.raises(SpecError) as e:
            check(spec, inner_size=8, sources=sources)
        (d,) = e.value.diagnostics
        assert d.code == "undefined-input" and where(d) == span


# --- spans of list elements --------------------------------------------------------------------

@pytest.mark.parametrize("name, end", [("cXY", 17), ("cX", 16)])
def test_an_element_before_an_inline_comment_is_located_exactly(name, end):
    """`inputs=conv1,cXY # a,b`: the undefined name ends where it ends (column 17, or 16 for
    `cX`), not running into the comment. An odd and an even end column, so that slicing the line
    two characters or more past the value's end is seen (kills `end_column - 1` -> `+ 1`,
    `<< 1`, and `| 1`, `^ 1`, which move an even end only)."""
    text = HEAD + conv("conv1", "data") + f"[out]\ntype=fc\ninputs=conv1,{name} # a,b\noutputs=10\n\n" + END
    (d,) = errors(text)
    assert d.code == "undefined-input" and d.message == f"layer 'out': input layer {name!r} is not defined"
    n = line_of(text, f"inputs=conv1,{name} ")
    assert where(d) == (n, 14, n, end)


def test_a_default_from_the_star_section_is_located_at_its_element():
    """A `[*]` value (above the layer's header) with a bad second element points at that element,
    `5` of `padding=1,5` on line 2, columns 11-12 (kills `span == layer.span` -> `<`, `<=`)."""
    text = "[*]\npadding=1,5\n\n" + HEAD + conv("c0", "data") + \
        "[c1]\ntype=conv\ninputs=data,c0\nchannels=3,16\nfilters=16\nfilterSize=3,3\n\n" + fc("out", "c1") + END
    (d,) = errors(text)
    assert d.message == "layer 'c1': padding=5 must be smaller than filterSize=3"
    assert where(d) == (2, 11, 2, 12)


def test_a_bad_second_channel_count_is_located_at_its_element():
    """`channels=3,32` with the second input giving 16: the span is `32` alone (kills the
    element index dropped for n > 1 values: `n > 1` -> `<`, `<=`, `==`, `> 2`, `not`)."""
    text = HEAD + conv("c0", "data") + conv("c1", "data,c0", "3,32") + fc("out", "c1") + END
    (d,) = errors(text)
    assert d.message == "layer 'c1': channels=32 but input 'c0' gives 16 channels (8x8x16)"
    n = line_of(text, "channels=3,32")
    assert where(d) == (n, 12, n, 14)


def test_a_bad_second_filter_size_is_located_at_its_element():
    """`filterSize=3,99` (a field whose name differs from its alias, filter_size): the span is
    `99` (kills `_attr` finding no field: its loop emptied, or `key in` -> `not key in`)."""
    text = HEAD + conv("c0", "data") + "[c1]\ntype=conv\ninputs=data,c0\nchannels=3,16\nfilters=16\n" \
        "filterSize=3,99\npadding=1,1\n\n" + fc("out", "c1") + END
    (d,) = errors(text)
    assert d.message == "layer 'c1': filterSize=99 is larger than the padded input (8 pixels + 2x1 padding)"
    n = line_of(text, "filterSize=3,99")
    assert where(d) == (n, 14, n, 16)


def test_one_value_for_two_inputs_is_located_at_the_whole_value():
    """`channels=3` written once for two inputs: the problem of input 1 points at `3` and check
    does not index a second written element (kills `len(elems) == n` -> `<=`, `and` -> `or`)."""
    text = HEAD + conv("c0", "data") + conv("c1", "data,c0") + fc("out", "c1") + END
    (d,) = errors(text)
    assert d.message == "layer 'c1': channels=3 but input 'c0' gives 16 channels (8x8x16)"
    n = line_of(text, "inputs=data,c0") + 1
    assert where(d) == (n, 10, n, 11)


def test_an_element_on_a_last_line_without_a_newline_is_located_exactly():
    """The file's last line, `inputs=labels,prob` with no newline after it, is a line too: the
    undefined `prob` is columns 15-19 (kills `0 < n <= len(lines)` -> `n < len(lines)`)."""
    text = HEAD + conv("c1", "data") + fc("out", "c1") + END.replace("labels,probs\n", "labels,prob")
    (d,) = errors(text)
    assert (d.message, d.hint) == ("layer 'cost': input layer 'prob' is not defined", "did you mean 'probs'?")
    n = text.count("\n") + 1
    assert where(d) == (n, 15, n, 19)


def test_the_300th_input_is_located_exactly():
    """An fc reading `data` 299 times, then the undefined `cX`: its span is `cX` alone, columns
    1503-1505 (7 for `inputs=`, 299 x 5 for `data,`; kills `len(elems) == n` -> `is`: CPython
    shares int objects only up to 256)."""
    text = HEAD + fc("out", ",".join(["data"] * 299 + ["cX"])) + END
    (d,) = errors(text)
    assert d.message == "layer 'out': input layer 'cX' is not defined"
    n = line_of(text, "inputs=data,")
    assert where(d) == (n, 8 + 299 * 5, n, 10 + 299 * 5)


# --- references and cycles ---------------------------------------------------------------------

def test_two_forward_references_in_a_chain_are_two_order_errors_not_a_cycle():
    """out reads a (below), a reads b (below): two input-order errors, in file order (kills
    Tarjan's parent update read from the root, `work[-1]` -> `work[0]`)."""
    text = HEAD + fc("out", "a") + fc("a", "b") + fc("b", "data") + END
    ds = errors(text)
    assert [(d.code, d.message) for d in ds] == [
        ("input-order", f"layer 'out': input layer 'a' is defined below this layer (line {line_of(text, '[a]')})"),
        ("input-order", f"layer 'a': input layer 'b' is defined below this layer (line {line_of(text, '[b]')})")]


def test_a_cycle_that_does_not_contain_the_search_root_is_found():
    """a reads b; b and c read each other: the cycle b <- c <- b at b's inputs, and a's own order
    error (kills Tarjan's discovery counter not advancing, `counter += 0`)."""
    text = HEAD + fc("a", "b") + fc("b", "c") + fc("c", "b") + fc("out", "a") + END
    ds = errors(text)
    assert [(d.code, d.message) for d in ds] == [
        ("input-order", f"layer 'a': input layer 'b' is defined below this layer (line {line_of(text, '[b]')})"),
        ("cycle", "layer 'b': the inputs form a cycle: b <- c <- b")]
    assert ds[1].span.line == line_of(text, "inputs=c")


def test_a_cycle_after_a_layer_already_searched_is_found():
    """a reads b (below, no cycle), then c and d read each other: b is reached from a before its
    own turn as a root, and the search goes on past it to find the cycle (kills the roots' loop
    `continue` -> `break`)."""
    text = HEAD + fc("a", "b") + fc("b", "data") + fc("c", "d") + fc("d", "c") + fc("out", "a,c") + END
    ds = errors(text)
    assert [d.code for d in ds] == ["input-order", "cycle"]
    assert ds[1].message == "layer 'c': the inputs form a cycle: c <- d <- c"


@pytest.mark.parametrize("gpu_a, gpu_b, reader", [(1, 0, 0), (0, 1, 1)])
def test_did_you_mean_prefers_a_layer_on_the_readers_gpu(gpu_a, gpu_b, reader):
    """`convc` is as close to `conva` as to `convb`, both above the reader: the hint names convb,
    the one on the reader's GPU, whether that GPU number is the lower or the higher (kills the
    GPU term subtracted, shifted or masked: `+` -> `-`, `>>`, `&`; and `layer.gpu ==
    reader.gpu` -> `!=`, `<`, `<=`, `>`, `>=`, `is`, `is not`)."""
    text = HEAD + conv("conva", "data", extra=f"gpu={gpu_a}") + conv("convb", "data", extra=f"gpu={gpu_b}") + \
        fc("out", "conva,convb,convc", f"gpu={reader}") + END
    (d,) = errors(text)
    assert (d.message, d.hint) == ("layer 'out': input layer 'convc' is not defined", "did you mean 'convb'?")


def test_did_you_mean_prefers_among_layers_below_the_one_on_the_readers_gpu():
    """conva (GPU 1) and convb (GPU 0), both below the reader on GPU 0: convb (kills the unranked
    default -1 -> 1, and the terms multiplied, raised or shifted: `+` -> `*`, `**`, `<<`)."""
    text = HEAD + fc("out", "convc", "gpu=0") + conv("conva", "data", extra="gpu=1") + \
        conv("convb", "data", extra="gpu=0") + END
    (d,) = errors(text)
    assert d.hint == "did you mean 'convb'?"


def test_did_you_mean_prefers_a_layer_above_to_one_below_on_the_readers_gpu():
    """conva above the reader on GPU 1, convb below it on the reader's GPU 0: conva, since a
    name below would be an input-order error (kills `2 * (i < here)` -> `2 - ...`, `2 >> ...`,
    `2 & ...`, and `i < here` -> `==`, `!=`, `>`, `>=`, `is`, `is not`)."""
    text = HEAD + conv("conva", "data", extra="gpu=1") + fc("out", "conva,convc", "gpu=0") + \
        conv("convb", "data", extra="gpu=0") + END
    (d,) = errors(text)
    assert d.hint == "did you mean 'conva'?"


def test_did_you_mean_prefers_a_checked_layer_to_one_that_failed_validation():
    """conva (below the reader) and convb (its filters= does not validate) are equally close:
    conva, the failed name ranking lowest (kills the failed names' rank 0 -> 1)."""
    text = HEAD + fc("out", "convc") + conv("conva", "data") + conv("convb", "data").replace("filters=16", "filters=abc") + END
    ds = errors(text)
    assert [(d.code, d.hint) for d in ds if d.code == "undefined-input"] == [("undefined-input", "did you mean 'conva'?")]
    assert [d.code for d in ds] == ["undefined-input", "value"]
    # with only the failed layer's name close, it is still proposed: the file defines it (kills
    # the failed names' loop emptied)
    text = HEAD + conv("c1", "data") + fc("out", "c1,convbx") + conv("convb", "data").replace("filters=16", "filters=abc") + END
    ds = errors(text)
    assert [(d.code, d.hint) for d in ds] == [("undefined-input", "did you mean 'convb'?"), ("value", None)]


def test_did_you_mean_considers_names_after_the_readers_name_and_below_it():
    """Candidates are every other layer: `pool1` sorts after the reader `out`, and `conv1` is
    defined below its reader (kills `layer.name == reader.name` -> `>`, `>=`, and its
    `continue` -> `break`)."""
    (d,) = errors(HEAD + conv("pool1", "data") + fc("out", "pol") + END)
    assert d.hint == "did you mean 'pool1'?"
    (d,) = errors(HEAD + fc("out", "conv") + conv("conv1", "data") + END)
    assert d.hint == "did you mean 'conv1'?"


@pytest.mark.parametrize("section", ["pool1", "conv1"])
def test_did_you_mean_proposes_a_compact_sections_written_name(section):
    """`[pool1]` with columns=2 is the layers pool1a, pool1b; `pool` is closest to the name the
    file writes, pool1; the same for conv1, a name sorting before the reader `out` as pool1
    sorts after it (kills `if written and ...` -> `if not written`, `written != reader.name` ->
    `==`, `<`, `<=`, `>`, `>=`, `is`, and the header's group 1 -> group 0)."""
    text = "[net]\ntype=net\ninnerSize=8\n" + HEAD + conv(section, "data", extra="columns=2") + \
        fc("out", section[:-1], "columns=1") + END
    (d,) = errors(text)
    assert (d.message, d.hint) == (f"layer 'out': input layer {section[:-1]!r} is not defined",
                                   f"did you mean {section!r}?")


def test_did_you_mean_reads_a_section_header_on_the_first_line():
    """The compact `[pool1]` on line 1 (its input below it, an order error of its own): `pool` is
    still closest to pool1 (kills `0 < n` -> `1 < n` in the line lookup)."""
    text = "[pool1]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=1\ncolumns=2\n\n" + \
        HEAD + fc("out", "pool", "columns=1") + END
    ds = errors(text)
    assert [(d.code, d.hint) for d in ds][1] == ("undefined-input", "did you mean 'pool1'?")


# --- structure: neurons, cost inputs -----------------------------------------------------------

@pytest.mark.parametrize("neuron, message, hint", [
    ("relu[1]", "neuron relu takes 0 parameters, got 1", "write neuron=relu"),
    ("brelu[1,2]", "neuron brelu takes 1 parameter, got 2", "write neuron=brelu[a]"),
    ("tanh", "neuron tanh takes 2 parameters, got 0", "write neuron=tanh[a,b]"),
    ("tanh[1,2,3]", "neuron tanh takes 2 parameters, got 3", "write neuron=tanh[a,b]"),
])
def test_a_neuron_with_the_wrong_parameter_count(neuron, message, hint):
    """Too many or too few parameters, the plural right for 0, 1 and 2, and the form to write
    (kills `!=` -> `<` on the count, `k != 1` -> `> 1`, `>= 1`, `!= 0`, `if k` -> `if not k`)."""
    text = HEAD + conv("c1", "data", extra=f"neuron={neuron}") + fc("out", "c1") + END
    (d,) = errors(text)
    assert (d.code, d.message, d.hint) == ("neuron", f"layer 'c1': {message}", hint)


@pytest.mark.parametrize("inputs, got", [("probs", 1), ("labels,probs,probs", 3)])
def test_a_cost_layer_with_other_than_two_inputs_is_an_input_count_error(inputs, got):
    """cost.logreg reads exactly two inputs; 1 or 3 are one `inputs` error, never a crash of the
    labels/probs check (kills `n == 2` -> `<=`, `>=`)."""
    ds = errors(HEAD + conv("c1", "data") + fc("out", "c1") + END.replace("inputs=labels,probs", f"inputs={inputs}"))
    assert [(d.code, d.message) for d in ds if d.code != "unused"] == [
        ("inputs", f"layer 'cost': type=cost.logreg takes two inputs, got {got}")]


def test_cost_crossent_may_read_any_probabilities_layer():
    """Only cost.logreg requires a softmax second input: cost.crossent over an fc is accepted
    (kills `layer.type == "cost.logreg"` -> `<=`, `is not`)."""
    text = HEAD + conv("c1", "data") + fc("out", "c1") + "[cost]\ntype=cost.crossent\ninputs=labels,out\n"
    assert net(text)["cost"].output == Shape(1)


def test_cost_logreg_refuses_a_non_softmax_layer_sorting_after_softmax():
    """A `sum` layer (a type name after "softmax") as the second input of cost.logreg is refused
    (kills `probs.type != "softmax"` -> `<`)."""
    text = HEAD + conv("c1", "data") + fc("out", "c1") + "[s]\ntype=sum\ninputs=out\n\n" + \
        "[cost]\ntype=cost.logreg\ninputs=labels,s\n"
    (d,) = errors(text)
    assert (d.code, d.message) == ("cost-inputs", "layer 'cost': the second input must be a softmax layer, not sum 's'")
    n = line_of(text, "inputs=labels,s")
    assert where(d) == (n, 15, n, 16)  # at `s` (kills the span's input 1 -> 0, 2)


@pytest.mark.parametrize("first, kind", [("c1", "conv"), ("out", "fc")])
def test_cost_logreg_refuses_a_first_input_that_is_not_data(first, kind):
    """A conv (a type name before "data") or an fc (after it) as the first input of cost.logreg
    is refused, with the hint, at that first name (kills `labels.type != "data"` -> `<`, `>`,
    and the span's input 0 -> 1, -1)."""
    text = HEAD.replace("[labels]\ntype=data\ndataIdx=1\n\n", "") + conv("c1", "data") + fc("out", "c1") + \
        END.replace("inputs=labels,probs", f"inputs={first},probs")
    (d,) = errors(text)
    assert (d.code, d.message, d.hint) == (
        "cost-inputs", f"layer 'cost': the first input must be the labels data layer, not {kind} {first!r}",
        "write inputs=labels,probs")
    n = line_of(text, f"inputs={first},probs")
    assert where(d) == (n, 8, n, 8 + len(first))


# --- GPUs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("inner, outer", [("0,1", "0"), ("0,1,2,3", "0,1")])
def test_fewer_replicas_that_divide_the_inputs_replicas_are_accepted(inner, outer):
    """A layer on 1 GPU reading a 2-replica layer, or 2 replicas reading 4: the count divides,
    so no error (kills `len(gpus[x]) % len(...)` -> `-`, `^`)."""
    n = net(HEAD + conv("c1", "data", extra=f"gpu={inner}") + fc("out", "c1", f"gpu={outer}") + END)
    assert n["out"].gpus == tuple(int(g) for g in outer.split(","))


def test_replicas_that_do_not_divide_those_of_an_fc_input_are_refused():
    """The replica rule holds for an input of any type, here an fc (a name after "data"):
    3 replicas reading 2 is one error (kills `by_name[x].type != "data"` -> `<`, `<=`)."""
    text = HEAD + conv("c1", "data", extra="gpu=0,1") + fc("f", "c1", "gpu=0,1") + fc("out", "f", "gpu=0,1,2") + END
    (d,) = errors(text)
    assert (d.code, d.message) == ("gpu", "layer 'out': its 3 replicas do not divide the 2 replicas of input 'f'")
    assert d.span.line == line_of(text, "gpu=0,1,2")


def test_a_layer_without_gpu_runs_where_its_first_input_runs():
    """out reads c1 (GPU 0) then c2 (GPU 1): it runs on GPU 0 (kills `src[0]` -> `src[-1]`)."""
    n = net(HEAD + conv("c1", "data") + conv("c2", "data", extra="gpu=1") + fc("out", "c1,c2") + END)
    assert n["out"].gpus == (0,) and n["probs"].gpus == (0,) and n["c2"].gpus == (1,)


def test_a_negative_gpu_is_one_error():
    """gpu=-1: one message, not also a gap at GPU 0 (kills `g < 0` -> `g < -1` and `g >= 0` ->
    `g >= -1` in the GPUs used)."""
    text = HEAD + conv("c1", "data", extra="gpu=-1") + fc("out", "c1") + END
    (d,) = errors(text)
    assert (d.code, d.message) == ("gpu", "layer 'c1': gpu indices must be 0 or more (got [-1])")


def test_a_gap_in_the_gpus_is_reported_at_the_layer_past_it():
    """c1 on gpu=0 (written), c2 on gpu=2: the gap at GPU 1 is c2's, the first layer whose GPU is
    past the gap (kills `max(layer.gpu) > gap` -> `!=`, `is not`, and `and` -> `or`)."""
    text = HEAD + conv("c1", "data", extra="gpu=0") + conv("c2", "c1", 16, "gpu=2") + fc("out", "c2") + END
    (d,) = errors(text)
    assert (d.code, d.message, d.hint) == (
        "gpu", "layer 'c2': gpu=2 but no layer runs on logical GPU 1",
        "logical GPUs are numbered from 0 without gaps; the spec uses [0, 2]")
    assert d.span.line == line_of(text, "gpu=2")


def test_a_layer_on_300_gpus_is_accepted():
    """300 replicas (0..299) are distinct and gapless: counts and GPU numbers past 256 are
    compared by value (kills `len(set(gpu)) < len(gpu)` -> `is not` and the gap test's
    `g != k` -> `g is not k`: CPython shares int objects only up to 256)."""
    gpus = ",".join(map(str, range(300)))
    n = net(HEAD + conv("c1", "data", extra=f"gpu={gpus}") + fc("out", "c1") + END)
    assert n["c1"].gpus == tuple(range(300)) and n.num_gpus == 300 and n.replicas == 300


# --- data layers ---------------------------------------------------------------------------------

def test_an_image_layer_read_only_by_an_fc_has_three_channels():
    """No reader declares channels: the image is 3 x innerSize^2 and the fc counts 3*64*10 + 10
    parameters (kills `channels or 3` -> 2, 4 and the image/labels rule's `data_idx != 0` -> `== 0`,
    `<= 0`, `>= 0`, `!= 1`, `!= -1`)."""
    n = net(HEAD + fc("out", "data") + END)
    assert n["data"].output == Shape(3, 8, 8) and n["out"].params == 3 * 64 * 10 + 10


def test_the_first_reader_that_declares_channels_sets_the_image_channels():
    """A conv with channels=1 makes the image 8x8x1; a second reader's channels=3 is then the
    mismatch, at its own line (kills the reader search emptied or skipped, `is None` -> `is not
    None`, `other.channels is not None` -> `is None`, `break` -> `continue`)."""
    n = net(HEAD + conv("c1", "data", 1) + fc("out", "c1") + END)
    assert n["data"].output == Shape(1, 8, 8) and n["c1"].params == 1 * 9 * 16 + 16
    text = HEAD + conv("c1", "data", 1) + conv("c2", "data", 3) + fc("out", "c1,c2") + END
    (d,) = errors(text)
    assert d.message == "layer 'c2': channels=3 but input 'data' gives 1 channels (8x8x1)"
    assert d.span.line == line_of(text, "[c2]") + 3


def test_labels_are_a_vector_even_with_channels():
    """dataIdx=1 is the labels, one value, whatever channels= it or a reader says (kills
    `data_idx == 1` -> `> 1`, `== 2`, and `or` -> `and`)."""
    n = net(HEAD.replace("dataIdx=1\n", "dataIdx=1\nchannels=3\n") + conv("c1", "data") + fc("out", "c1") + END)
    assert n["labels"].output == Shape(1)
    n = net(HEAD + conv("c1", "data") + conv("c2", "labels", 1) + fc("out", "c1,c2") + END)
    assert n["labels"].output == Shape(1) and n["c2"].output == Shape(16, 1, 1)
    # the label layer read outside a cost: the compiler's refusal, as a warning (kills the
    # `labels` set's `data_idx != 0` -> `== 0`, `< 0`, `<= 0`, `!= 1`, `not is_image` -> `is_image`)
    assert [w.message for w in n.warnings] == [
        "layer 'c2': reading the label layer 'labels' (dataIdx=1) outside a cost layer is not supported by the compiler"]


def test_a_third_data_layer_is_a_vector_without_channels_and_an_image_with_them():
    """dataIdx=2: labels-like (one value) unless it or a reader declares channels; then an
    image, with the compiler's warning (kills `data_idx == 1` -> `>= 1`, `!= 0` -> `< 0`,
    `channels is None` -> `is not None`, `and` -> `or`, `or` -> `and`)."""
    extra = "[extra]\ntype=data\ndataIdx=2\n\n"
    n = net(HEAD + extra + conv("c1", "data") + fc("out", "c1,extra") + END)
    assert n["extra"].output == Shape(1) and n["out"].params == (16 * 64 + 1) * 10 + 10
    n = net(HEAD + extra + conv("c1", "data") + conv("c2", "extra", 1) + fc("out", "c1,c2") + END)
    assert n["extra"].output == Shape(1, 8, 8)
    # the second image's refusal as a warning, and no label warning for its reader (kills
    # `and not shapes[x].is_image` -> `or`)
    assert [w.message for w in n.warnings] == [
        "layer 'extra': a second image input (dataIdx=2) is not supported by the compiler: its data providers "
        "give each example one image (dataIdx=0) and one label (dataIdx=1)"]


@pytest.mark.parametrize("inner", [-1, 0])
def test_an_image_size_below_one_is_refused(inner):
    """--inner-size -1 and 0: one located message with the value (kills `inner <= 0` -> `== 0`,
    `< 0`, `<= -1`)."""
    (d,) = errors(HEAD + conv("c1", "data") + fc("out", "c1") + END, inner_size=inner)
    assert (d.code, d.message) == ("input-size", f"layer 'data': the input image size must be positive (got {inner})")
    assert d.span.line == 1


def test_an_image_size_of_one_is_accepted():
    """--inner-size 1: a 1x1 image (kills `inner <= 0` -> `<= 1`)."""
    n = net(HEAD + conv("c1", "data") + fc("out", "c1") + END, inner_size=1)
    assert n["data"].output == Shape(3, 1, 1) and n["c1"].output == Shape(16, 1, 1)
    # a 1x1 image is not "an image" to Shape.is_image, but dataIdx=0 is never a label layer:
    # no "reading the label layer 'data'" warning (kills `data_idx != 0` -> `>= 0` in `labels`)
    assert n.warnings == ()


def test_data_layers_count_no_parameters_and_no_multiply_adds():
    """A data node has 0 parameters and 0 multiply-adds: the net's total is the conv's
    8*8*16*27 plus the fc's 1024*10 (kills the data Node's 0 -> 1, -1)."""
    n = net(HEAD + conv("c1", "data") + fc("out", "c1") + END)
    assert [(n[x].params, n[x].macs) for x in ("data", "labels")] == [(0, 0), (0, 0)]
    assert n.macs == 8 * 8 * 16 * 27 + 1024 * 10


def test_a_data_layer_read_only_by_a_layer_that_failed_validation_is_placed_on_gpu_0():
    """check(..., failed=...) with a data layer that only the failed layer reads: it is not
    unused (the failed layer's inputs count) and it is placed on logical GPU 0, like any data
    layer no checked layer reads (kills `tuple(readers) or (0,)` -> `(1,)`, `(-1,)`)."""
    spec = spec_of(HEAD + "[extra]\ntype=data\ndataIdx=2\n\n" + conv("c1", "data") + fc("out", "c1") + END)
    n = check(spec, inner_size=8, failed={"bad": ("extra",)})
    assert n["extra"].gpus == (0,) and n["extra"].output == Shape(1)


# --- weightSource ---------------------------------------------------------------------------------

def test_a_weight_source_index_with_a_letter_after_a_digit_is_refused():
    """`c1[0a]` is not name[index]: a located message, never int() of `0a` (kills the index
    test made on `rest[:1]` instead of `rest[:-1]`, and `and` -> `or`)."""
    text = HEAD + conv("c1", "data") + conv("c2", "c1", 16, "weightSource=c1[0a]\n") + fc("out", "c2") + END
    (d,) = errors(text)
    assert (d.code, d.message) == ("weight-source", "layer 'c2': weightSource entry 'c1[0a]' is not name or name[index]")
    n = line_of(text, "weightSource=c1[0a]")
    assert where(d) == (n, 14, n, 20)


def test_a_two_digit_weight_source_index_is_read_whole():
    """`c1[10]` of a two-input c1 is past its inputs (10, not 1, is compared; kills
    `int(rest[:-1])` -> `int(rest[:1])`)."""
    text = HEAD + conv("c0", "data") + conv("c1", "data,c0", "3,16") + \
        conv("c2", "c1", 16, "weightSource=c1[10]\n") + fc("out", "c2") + END
    (d,) = errors(text)
    assert (d.code, d.message) == ("weight-source", "layer 'c2': weightSource 'c1[10]': 'c1' has only 2 input(s)")


# --- the shape pass going on after a problem ----------------------------------------------------------

def test_a_pool_with_wrong_channels_is_checked_on_with_the_inputs_channels():
    """pool channels=32 over 16 channels: the error, and the layer below is checked with the 16
    the pool really gives (its channels=99 is a second error naming 16; kills the channel fix-up
    skipped: `p.code == "channels"` -> `!=`, `<`, `>`, `is not`; `actual is not None` -> `is None`;
    `not all` -> `all`)."""
    text = HEAD + conv("c1", "data") + "[p]\ntype=pool\ninputs=c1\npool=max\nsizeX=2\nstride=2\nchannels=32\n\n" + \
        conv("c2", "p", 99) + fc("out", "c2") + END
    ds = errors(text)
    assert [d.message for d in ds] == [
        "layer 'p': channels=32 but input 'c1' gives 16 channels (8x8x16)",
        "layer 'c2': channels=99 but input 'p' gives 16 channels (4x4x16)"]


@pytest.mark.parametrize("channels, bad", [("4,16", "channels=4 but input 'data' gives 3 channels (8x8x3)"),
                                           ("3,20", "channels=20 but input 'c0' gives 16 channels (8x8x16)")])
def test_a_conv_with_one_wrong_channel_count_is_checked_on(channels, bad):
    """A two-input conv with input 0's or input 1's channels wrong: the layer below is still
    checked (c2's channels=99 is a second error; kills the fix-up written at the wrong index:
    `p.index or 0` -> `or -1`, `and 0`, and its loop emptied)."""
    text = HEAD + conv("c0", "data") + conv("c1", "data,c0", channels) + conv("c2", "c1", 99) + fc("out", "c2") + END
    ds = errors(text)
    assert [d.message for d in ds] == [
        f"layer 'c1': {bad}", "layer 'c2': channels=99 but input 'c1' gives 16 channels (8x8x16)"]


def test_layers_below_a_failed_layer_and_its_readers_are_still_checked():
    """c1's filter is too large (no shape), c2 reads c1 (skipped), c3 reads the data with its own
    error: both errors (kills `continue` -> `break` after a problem and after a missing input)."""
    text = HEAD + conv("c1", "data", extra="filterSize=99") .replace("filterSize=3\n", "") + conv("c2", "c1", 16) + \
        conv("c3", "data", 5) + fc("out", "c2,c3") + END
    ds = errors(text)
    assert [d.message for d in ds] == [
        "layer 'c1': filterSize=99 is larger than the padded input (8 pixels + 2x1 padding)",
        "layer 'c3': channels=5 but input 'data' gives 3 channels (8x8x3)"]
