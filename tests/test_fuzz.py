"""Property-based fuzzing of the front end: whatever the text, only SpecError may escape.

Valid specs (the shipped ones and the real cuda-convnet files) are mutated line by line and byte
by byte, and random text is thrown in as well. For every input `alexspec.pipeline.loads` either
returns a Net or raises SpecError, and every position a diagnostic reports lies inside the text:
its line is a line of the file (counted by "\n", as the parser and editors count) and its column
at most one past the end of that line.
Hypothesis is derandomized, so the run is the same every time.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexspec.errors import SpecError
from alexspec.net import Net
from alexspec.pipeline import loads

HERE = Path(__file__).parent
# (text, --inner-size): the cuda-convnet files leave the input size to their data provider.
SEEDS = [
    ((HERE.parent / "specs" / "alexnet.cfg").read_text(encoding="utf-8"), None),
    ((HERE / "specs" / "cuda-convnet" / "layers-18pct.cfg").read_text(encoding="utf-8"), 32),
    ((HERE / "specs" / "cuda-convnet" / "layers-conv-local-13pct.cfg").read_text(encoding="utf-8"),
     24),
]
PATH = "fuzz.cfg"

# Pieces that reach deep into the validator and checker, not just the grammar.
TOKENS = [
    "[", "]", "=", ":", "#", ";", ",", " ", "\t", "\n", "\r\n", "\x00", "\ufeff", "é", "0", "-1",
    "1e400", "nan", "inf", "1e-3", "999999999999999999999", "type=", "inputs=", "gpu=", "gpu=0,1",
    "gpu=7", "conv", "fc", "pool", "data", "relu", "tanh[1,", "dexp[base=0.1;numSteps=0]",
    "plateau[base=1;factor=0]", "columns=2", "columns=0", "connect=all", "[*]", "[net]",
    "type=net", "innerSize=0", "initWFunc=os.system(1)", "filters=0", "channels=", "sizeX=99",
    "stride=0", "padding=-5", "filterSize=1000", "outputs=1", "dataIdx=-1", "type=local",
    "type=cmrnorm", "type=cost.logreg", "type=sfc", "type=blur", "neuron=log[", "keep=2",
    # the classes a random-mutation fuzz of 7,000 specs found (issue 10): non-ASCII digits, thousands
    # of digits, huge and tiny numbers, control characters that are not line ends for the parser
    "²", "٣", "１", "columns=²", "weightSource=fc0[²]", "9" * 3000, "1e-320", "1e308", "-1e308",
    "gpu=99999999999", "gpu=1" + "0" * 30, "scale=nan", "scale=1e-320", "sizeX=-3", "initW=nan",
    "momW=nan", "wc=inf", "\f", "\u2028", "\u2029", "\x0b", "\x85", "\x1b[2J",
]

# Values that are wrong for most keys: zero, negative, huge, empty, fractional, lists.
VALUES = ["0", "-1", "-16", "1e9", "", "0.5", "1,2", "x", "[", "relu", "nan", "99999999999",
          "²", "9" * 3000, "inf", "-inf", "1e-320", "\f1", "1\u2028"]

_settings = settings(
    max_examples=200, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(text: str, inner_size: int | None = None) -> None:
    try:
        net = loads(text, path=PATH, inner_size=inner_size)
    except SpecError as e:
        assert e.diagnostics, "a SpecError must carry at least one diagnostic"
        lines = text.split("\n")  # lines as the parser and editors count them (not splitlines)
        for d in e.diagnostics:
            if d.span.path != PATH:
                continue  # only one file is in play here
            assert 1 <= d.span.line <= len(lines), (d.span, len(lines), d.message)
            width = len(lines[d.span.line - 1])
            assert 1 <= d.span.column <= width + 1, (d.span, width, d.message)
            rendered = d.render({PATH: text})  # rendering never fails either
            shown = rendered.split("\n")
            if len(shown) > 2 and shown[1].startswith(f"{d.span.line:>5} | "):
                # one printable character per column: the caret sits under the span
                assert shown[1].isprintable(), repr(shown[1])
                assert shown[2].index("^") - shown[2].index("|") - 2 == d.span.column - 1
        str(e)
    else:
        assert isinstance(net, Net)
        _accepted_values_are_sane(net)


def _accepted_values_are_sane(net: Net) -> None:
    """An accepted spec never holds NaN or infinity, and every shape is positive."""
    import math

    def floats(v):
        if isinstance(v, float):
            yield v
        elif isinstance(v, dict):
            for x in v.values():
                yield from floats(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                yield from floats(x)

    for node in net:
        assert all(math.isfinite(x) for x in floats(node.layer.model_dump())), node.layer
        out = node.output
        assert out.channels > 0 and out.height > 0 and out.width > 0, (node.name, out)


@st.composite
def mutated_spec(draw) -> tuple[str, int | None]:
    """A seed spec with a few line edits (drop, duplicate, swap, replace) and byte edits."""
    seed, inner_size = draw(st.sampled_from(SEEDS))
    lines = seed.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "token", "insert", "delete-char",
                                   "truncate", "value", "value", "value", "value"]))
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "token":
            lines[i] = draw(st.sampled_from(TOKENS)) + draw(st.sampled_from(TOKENS))
        elif op == "insert":
            k = draw(st.integers(0, len(line)))
            lines[i] = line[:k] + draw(st.sampled_from(TOKENS)) + line[k:]
        elif op == "delete-char" and line:
            k = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:k] + line[k + 1:]
        elif op == "value" and "=" in line and not line.startswith("#"):
            lines[i] = line.split("=", 1)[0] + "=" + draw(st.sampled_from(VALUES))
        elif op == "truncate":
            lines = lines[: i + 1]
        if not lines:
            lines = [""]
    return "\n".join(lines), inner_size


@_settings
@given(mutated_spec())
def test_mutated_specs_give_a_net_or_located_spec_errors(case: tuple[str, int | None]) -> None:
    _check(*case)


@_settings
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)), max_size=40).map("".join))
def test_random_text_gives_a_net_or_located_spec_errors(text: str) -> None:
    _check(text)


def test_the_seeds_themselves_are_valid() -> None:
    """The mutations start from valid specs (else the fuzzing would only ever test the parser)."""
    for text, inner_size in SEEDS:
        assert isinstance(loads(text, path=PATH, inner_size=inner_size), Net)


def _with_key(text: str, section: str, key: str, value: str) -> str:
    """`text` with `key=value` in `[section]`, replacing the key if the section has it."""
    out, inside, done = [], False, False
    for line in text.split("\n"):
        if line.startswith("["):
            if inside and not done:
                out.insert(len(out) - 1 if out and not out[-1] else len(out), f"{key}={value}")
                done = True
            inside = line.strip() == f"[{section}]"
        elif inside and line.split("=", 1)[0].strip().lower() == key.lower():
            line, done = f"{key}={value}", True
        out.append(line)
    if inside and not done:
        out.append(f"{key}={value}")
    return "\n".join(out)


# Image layers and a second data path: the 7,000-spec fuzz found its crashes there.
IMAGE_SEED = ("[data]\ntype=data\ndataIdx=0\nchannels=3\n\n[labels]\ntype=data\ndataIdx=1\n\n"
              "[blur]\ntype=blur\ninputs=data\nchannels=3\nfilterSize=3\nstdev=1\n\n"
              "[resize]\ntype=resize\ninputs=blur\nchannels=3\nscale=1.5\n\n"
              "[crop]\ntype=crop\ninputs=resize\nchannels=3\nstartX=1\nsizeX=8\n\n"
              "[nail]\ntype=nailbed\ninputs=crop\nchannels=3\nstride=2\n\n"
              "[rscale]\ntype=rscale\ninputs=nail\nchannels=3\nmaxScale=1.5\ntgtSize=4\n\n"
              "[conv1]\ntype=conv\ninputs=rscale\nchannels=3\nfilters=16\nfilterSize=3\ninitW=0.01\n\n"
              "[fc]\ntype=fc\ninputs=conv1\noutputs=10\n\n[probs]\ntype=softmax\ninputs=fc\n\n"
              "[cost]\ntype=cost.logreg\ninputs=labels,probs\n")


def test_the_image_seed_is_valid() -> None:
    assert isinstance(loads(IMAGE_SEED, path=PATH, inner_size=16), Net)


def test_bad_numbers_in_every_key_of_every_image_and_weight_layer() -> None:
    """Systematic: every plain key of the image seed's layers set to each crash class value."""
    from alexspec.fields import layer_fields
    from alexspec.parse import parse

    values = ("²", "9" * 3000, "nan", "1e-320", "-3")
    tried = 0
    for sec in parse(IMAGE_SEED, PATH).sections:
        for key, fs in layer_fields(sec.get("type").value).items():
            if key in ("type", "inputs") or fs.element != "plain":
                continue
            for value in values:
                _check(_with_key(IMAGE_SEED, sec.name, fs.key, value), 16)
                tried += 1
    assert tried > 200


@settings(_settings, max_examples=40)
@given(st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x2FFF), min_size=1, max_size=6),
       st.sampled_from([b"\x80", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90"]), st.integers(0, 40))
def test_invalid_utf8_after_multibyte_text_is_located_in_characters(tmp_path_factory, text, junk, at) -> None:
    from alexspec.pipeline import read_source

    seed = SEEDS[1][0].split("\n")
    line = min(at, len(seed) - 1)
    prefix = "\n".join(seed[:line]) + ("\n" if line else "") + "# " + text
    path = tmp_path_factory.mktemp("utf8") / "bad.cfg"
    path.write_bytes(prefix.encode("utf-8") + junk + b"\n[x]\n")
    try:
        read_source(str(path), "layer definition")
    except SpecError as e:
        (d,) = e.diagnostics
        assert (d.span.line, d.span.column) == (line + 1, len("# " + text) + 1)
        assert d.render()
    else:
        raise AssertionError("invalid UTF-8 was accepted")


def test_zero_and_negative_values_in_every_key_of_every_layer() -> None:
    """Systematic, not random: each key each layer type takes, set to 0 and to -1, in the 18pct
    net. Random edits rarely hit the one key (a conv's stride or groups) that divides by it."""
    from alexspec.fields import layer_fields
    from alexspec.parse import parse

    text, inner_size = SEEDS[1]
    sections = [(s.name, s.get("type").value) for s in parse(text, PATH).sections]
    tried = 0
    for name, type_ in sections:
        for key, fs in layer_fields(type_).items():
            if key in ("type", "inputs") or fs.element != "plain":
                continue
            for value in ("0", "-1"):
                _check(_with_key(text, name, fs.key, value), inner_size)
                tried += 1
    assert tried > 200
