"""parse: the text of a cuda-convnet layer file -> `RawFile` (sections, items, spans).

The lark grammar (`grammar.lark`) reads ConfigParser's INI dialect; the transformer below only
records what was written and where. Nothing is validated here, except what ConfigParser itself
refused: text that is not a section, an item or a comment, and an item before the first section.
A section given twice is an error; a key given twice keeps the last value, as Python 2's
ConfigParser did, with a located warning.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

import lark
from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from alexspec.errors import Diagnostic, Span, SpecError


@dataclass(frozen=True)
class RawItem:
    """`key=value` as written. `key` keeps its case; `value` is the text without any comment."""

    key: str
    value: str
    key_span: Span
    value_span: Span

    @property
    def lkey(self) -> str:
        return self.key.lower()


@dataclass
class RawSection:
    """`[name]` and its items in file order."""

    name: str
    span: Span
    items: list[RawItem] = field(default_factory=list)

    def get(self, key: str) -> RawItem | None:
        """The item whose key equals `key` case-insensitively (the last one), or None."""
        key = key.lower()
        for item in reversed(self.items):
            if item.lkey == key:
                return item
        return None


@dataclass
class RawFile:
    path: str
    text: str
    sections: list[RawSection]
    warnings: list[Diagnostic] = field(default_factory=list)  # what ConfigParser accepted silently


class _Build(Transformer):
    """Applied while parsing (LALR): each line to a tuple of its tokens; no checks, no tree."""

    def header(self, children):
        lsqb, name = children
        return ("header", lsqb, name)

    def item(self, children):
        return ("item", children[0], children[1] if len(children) > 1 else None)

    def start(self, children):
        return children


_OPTIONS = dict(parser="lalr", lexer="contextual", propagate_positions=False)


def grammar_text() -> str:
    """The text of `grammar.lark`."""
    return files("alexspec").joinpath("grammar.lark").read_text(encoding="utf-8")


def grammar_sha256() -> str:
    """The SHA-256 of `grammar.lark`, which `parser_tables.py` records."""
    return hashlib.sha256(grammar_text().encode("utf-8")).hexdigest()


def build_parser(transformer: Transformer | None = None) -> Lark:
    """The parser built from the grammar: lark analyses it (about a third of `check`'s start-up)."""
    # Spans come from the tokens, which always carry line and column; propagate_positions
    # (positions on tree nodes) would cost a quarter of the parse time for nothing.
    return Lark(grammar_text(), transformer=transformer, **_OPTIONS)


def tables_parser(transformer: Transformer | None = None) -> Lark | None:
    """The parser loaded from `parser_tables.py` (written by scripts/gen_parser_tables.py), or
    None when those tables were made from another grammar text or another lark version."""
    from alexspec import parser_tables as t

    if t.GRAMMAR_SHA256 != grammar_sha256() or t.LARK_VERSION != lark.__version__:
        return None
    return Lark._load_from_dict(t.DATA, t.MEMO, transformer=transformer)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # The same parser either way (tests/test_parser_tables.py); stale tables only cost time.
    return tables_parser(_Build()) or build_parser(_Build())


def _token_span(path: str, tok: Token) -> Span:
    return Span(path, tok.line, tok.column, tok.end_line, tok.end_column)


def _entry(path: str, entry: tuple) -> tuple:
    """('header', name, span) or ('item', RawItem) from the transformer's tuples."""
    if entry[0] == "header":
        _, lsqb, name = entry
        return ("header", str(name).strip(), Span(path, lsqb.line, lsqb.column, lsqb.line, name.end_column + 1))
    _, key, value = entry
    kspan = _token_span(path, key)
    if value is None:  # `key=` with nothing after: ConfigParser's empty string, located after the key
        return ("item", RawItem(str(key), "", kspan, Span(path, key.line, key.end_column + 1, key.line,
                                                          key.end_column + 2)))
    return ("item", RawItem(str(key), str(value), kspan, _token_span(path, value)))


def _syntax_diagnostic(path: str, text: str, e: UnexpectedInput) -> Diagnostic:
    lines = text.split("\n")  # as the lexer counts lines: U+2028, \f, \x85 do not end one
    if isinstance(e, UnexpectedEOF) or e.line < 1:
        return Diagnostic(Span(path, len(lines), len(lines[-1]) + 1), "syntax",
                          "unexpected end of file")
    line = lines[e.line - 1] if e.line <= len(lines) else ""
    stripped = line.strip()
    if isinstance(e, UnexpectedToken) and e.token.type == "_NL" and stripped.startswith("["):
        msg, hint = "section header is missing its closing ']'", "write it as [name]"
    elif stripped.startswith("["):
        msg, hint = "unexpected text after the section header", "put each key=value on its own line"
    elif stripped and "=" not in stripped and ":" not in stripped:
        col = len(line) - len(line.lstrip()) + 1
        hint = ("ConfigParser's indented continuation lines are not supported: write the value "
                "on one line") if col > 1 else None
        return Diagnostic(Span(path, e.line, col, e.line, col + len(stripped)), "syntax",
                          f"expected 'key=value', a [section] header or a comment, got {stripped!r}", hint)
    else:
        got = line[e.column - 1] if 1 <= e.column <= len(line) else None
        if got and (got.isspace() or not got.isprintable()):
            msg = f"syntax error: unexpected character U+{ord(got):04X} ({unicodedata.name(got, 'control character')})"
        else:
            msg = "syntax error" + (f": unexpected {got!r}" if got else "")
        hint = "a line is `[name]`, `key=value`, `key: value` or a `#`/`;` comment"
    return Diagnostic(Span(path, e.line, e.column, e.line, e.column + 1), "syntax", msg, hint)


def parse(text: str, path: str = "<string>") -> RawFile:
    """Parse one layer definition or layer params file.

    Raises SpecError (code `syntax`, `duplicate-section`, `no-section`) with every problem
    found; the text is otherwise taken as written. A key set twice keeps its last value and adds
    a `duplicate-key` warning to `RawFile.warnings`.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    src = text if text.endswith("\n") else text + "\n"
    try:
        entries = [_entry(path, e) for e in _parser().parse(src)]
    except UnexpectedInput as e:
        raise SpecError([_syntax_diagnostic(path, text, e)], {path: text}) from None

    diags: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    sections: list[RawSection] = []
    seen: dict[str, RawSection] = {}
    for entry in entries:
        if entry[0] == "header":
            _, name, span = entry
            if name in seen:
                first = seen[name].span
                diags.append(Diagnostic(span, "duplicate-section",
                                        f"section [{name}] is defined twice (first at line {first.line})",
                                        "rename one of them; a layer name must be unique"))
            sec = RawSection(name, span)
            seen.setdefault(name, sec)
            sections.append(sec)
        else:
            item: RawItem = entry[1]
            if not sections:
                diags.append(Diagnostic(item.key_span, "no-section",
                                        f"key {item.key!r} comes before the first [section] header",
                                        "start the file with a [name] header"))
                continue
            sec = sections[-1]
            prev = sec.get(item.key)
            if prev is not None:
                warnings.append(Diagnostic(item.key_span, "duplicate-key",
                                           f"[{sec.name}]: key {item.key!r} is set twice (first at line "
                                           f"{prev.key_span.line}); the last value is used, as cuda-convnet's "
                                           "ConfigParser did", "delete one of them", severity="warning"))
                sec.items.remove(prev)
            sec.items.append(item)
    if diags:
        raise SpecError(diags + warnings, {path: text})
    return RawFile(path, text, sections, warnings)
