"""The shipped parser tables (alexspec/parser_tables.py) are the grammar's: current, and parsing
every spec of the repository exactly as the parser lark builds from grammar.lark, both when lark
loads them and when alexspec.lalr (what `parse` uses) runs them."""

from pathlib import Path

import pytest
from lark import Token
from lark.exceptions import UnexpectedInput

from alexspec.parse import build_parser, tables_parser

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for d in ("specs", "tests/specs") for p in (ROOT / d).rglob("*.cfg"))
BAD = ["[conv1\ntype=conv\n", "type=conv\n", "[a]\nkey value\n", "[a]\n  indented\n", "[a]\nk=v ]\n[b",
       "[a]\nk=\n", "[a]\nk: v ; c\n# x\n", "[a]\x0c\nk=v\u2028w\n", ""]


def test_tables_are_current():
    assert tables_parser() is not None, "run: python scripts/gen_parser_tables.py"


def test_parse_refuses_tables_of_another_grammar(monkeypatch):
    from alexspec import parse, parser_tables

    monkeypatch.setattr(parser_tables, "GRAMMAR_SHA256", "0" * 64)
    parse._parser.cache_clear()
    try:
        with pytest.raises(parse.StaleTables, match="gen_parser_tables.py"):
            parse.parse("[a]\nk=v\n")
    finally:
        parse._parser.cache_clear()


def _outcome(parser, text: str):
    """The tree, every token with its type and span (a Token equals any str of its text), or
    where and how the parse failed."""
    try:
        tree = parser.parse(text)
    except UnexpectedInput as e:
        return (type(e).__name__, e.line, e.column)
    return tree.pretty(), [(t.type, str(t), t.line, t.column, t.end_line, t.end_column)
                           for t in tree.scan_values(lambda v: isinstance(v, Token))]


@pytest.mark.parametrize("text", [p.read_text(encoding="utf-8") + "\n" for p in FILES] + BAD)
def test_tables_parse_as_the_grammar(text):
    assert _outcome(tables_parser(), text) == _outcome(build_parser(), text)


# --------------------------------------------------------------------------- alexspec.lalr

def _lalr_outcome(parse, text: str, errors):
    """Every callback's name and children (tokens with type and span), or how the parse failed."""
    try:
        return parse(text)
    except errors as e:
        tok = getattr(e, "token", None)
        return (type(e).__name__, e.line, e.column, tok and (tok.type, str(tok), tok.line, tok.column))


def _show(rule):
    def cb(children):
        return (rule, [(c.type, str(c), c.line, c.column, c.end_line, c.end_column) if isinstance(c, Token)
                       or hasattr(c, "end_column") else c for c in children])
    return cb


def _random_texts(n: int, seed: int = 10) -> list[str]:
    import random

    rng = random.Random(seed)
    alphabet = ["[", "]", "=", ":", "#", ";", " ", "\t", "\x0c", "\n", "\r\n", "\r", "a", "b1", "é", "数",
                "\u2028", "\x85", "\x00", "[x]\n", "k=v\n", "k: v w\n", " # c\n"]
    return [("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))) + "\n" for _ in range(n)]


def test_lalr_runs_the_tables_as_lark_does():
    """alexspec.lalr on the shipped tables against lark's parser built from the grammar: the same
    callbacks with the same tokens (type, text, span), or the same error at the same place."""
    from lark import Transformer
    from lark.exceptions import UnexpectedInput as LarkError

    from alexspec import lalr, parser_tables
    from alexspec.parse import CALLBACKS

    callbacks = {name: _show(name) for name in CALLBACKS}
    ours = lalr.Parser(parser_tables.DATA, parser_tables.MEMO, callbacks)
    theirs = build_parser(type("Show", (Transformer,), {k: staticmethod(v) for k, v in callbacks.items()})())
    texts = [p.read_text(encoding="utf-8") + "\n" for p in FILES] + BAD + _random_texts(1500)
    failed = 0
    for text in texts:
        want = _lalr_outcome(theirs.parse, text, LarkError)
        assert _lalr_outcome(ours.parse, text, lalr.UnexpectedInput) == want, repr(text)
        failed += want[0] != "start"
    assert 100 < failed < len(texts) - 100  # both outcomes are exercised
