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
]

# Values that are wrong for most keys: zero, negative, huge, empty, fractional, lists.
VALUES = ["0", "-1", "-16", "1e9", "", "0.5", "1,2", "x", "[", "relu", "nan", "99999999999"]

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
            assert d.render({PATH: text})  # rendering never fails either
        str(e)
    else:
        assert isinstance(net, Net)


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
