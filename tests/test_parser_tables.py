"""The shipped parser tables (alexspec/parser_tables.py) are the grammar's: current, and parsing
every spec of the repository exactly as the parser lark builds from grammar.lark."""

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
