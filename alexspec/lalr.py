"""A small LALR(1) runtime for the parser tables lark builds from `grammar.lark`.

lark analyses the grammar (scripts/gen_parser_tables.py writes its serialised parser to
`parser_tables.py`); this module runs those tables without importing lark, which was a tenth
of `check`'s start-up. It does what lark's `Lark(parser="lalr", lexer="contextual")` does with
them: the contextual lexer (in each parser state, the terminals that state accepts plus the
ignored ones, tried in lark's order; a string terminal that a regexp terminal also matches is
retyped as lark does), shifts and reduces, children filtered and `_rule`s inlined as lark's tree
builder does, and a callback per rule name (the transformer's methods). Its errors carry what
lark's carry (`line`, `column`, the `token` of an `UnexpectedToken`). tests/test_parser_tables.py
checks it against the parser lark builds from the grammar, on every spec of the repository,
malformed texts and random ones.

A table that uses a lark feature this runtime does not implement (terminal flags, rule
aliases, `?rule` expansion, placeholders, kept tokens) is refused when the parser is made.
"""

from __future__ import annotations

import re
from typing import Any, Callable

SHIFT = 0


class UnexpectedInput(Exception):
    """A syntax error at `line`, `column` (1-based)."""

    line: int
    column: int


class UnexpectedCharacters(UnexpectedInput):
    """No terminal matches the text at `pos_in_stream`."""

    def __init__(self, text: str, pos: int, line: int, column: int, allowed: set[str]) -> None:
        self.char = text[pos]
        self.pos_in_stream, self.line, self.column, self.allowed = pos, line, column, allowed
        super().__init__(f"No terminal matches {self.char!r} at line {line} col {column}")


class UnexpectedToken(UnexpectedInput):
    """`token` is not one the parser accepts in its state (`expected`)."""

    def __init__(self, token: "Token", expected: set[str]) -> None:
        self.token, self.expected = token, expected
        self.line, self.column = token.line, token.column
        super().__init__(f"Unexpected token {token.type} {str(token)!r} at line {token.line} "
                         f"col {token.column}")


class UnexpectedEOF(UnexpectedInput):
    """The text ended early (lark's LALR reports it as an UnexpectedToken of `$END`; kept for
    callers that test for either)."""


class Token(str):
    """A terminal as matched: its text, `type`, and where it starts and ends (1-based line and
    column; `end_column` is one past its last character), as lark's Token."""

    type: str
    start_pos: int
    line: int
    column: int
    end_line: int
    end_column: int
    end_pos: int

    def __new__(cls, type_: str, value: str, start_pos: int, line: int, column: int) -> "Token":
        t = super().__new__(cls, value)
        t.type, t.start_pos, t.line, t.column = type_, start_pos, line, column
        t.end_line, t.end_column, t.end_pos = line, column, start_pos
        return t

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"


class _Terminal:
    def __init__(self, d: dict) -> None:
        p = d["pattern"]
        if p["flags"]:
            raise NotImplementedError(f"terminal {d['name']}: regexp flags {p['flags']}")
        self.name: str = d["name"]
        self.priority: int = d["priority"]
        self.is_str = p["__type__"] == "PatternStr"
        self.value: str = p["value"]
        self.regexp = re.escape(self.value) if self.is_str else self.value
        self.max_width = len(self.value) if self.is_str else p["_width"][1]
        r = self.regexp  # lark's _regexp_has_newline: may a match hold a line break?
        self.newline = "\n" in r or "\\n" in r or "\\s" in r or "[^" in r or ("(?s" in r and "." in r)


def _alternation(terminals: list[_Terminal]) -> re.Pattern:
    # Python's re allows 100 named groups; a grammar this size has a tenth of that
    if len(terminals) >= 100:
        raise NotImplementedError("more than 99 terminals in one lexer state")
    return re.compile("|".join(f"(?P<{t.name}>{t.regexp})" for t in terminals))


class _Scanner:
    """lark's BasicLexer for one set of terminals: longest-first order, string terminals that a
    regexp terminal matches embedded in it and retyped after the match."""

    def __init__(self, terminals: list[_Terminal], ignore: frozenset[str]) -> None:
        terminals = sorted(terminals, key=lambda t: (-t.priority, -t.max_width, -len(t.value), t.name))
        self.ignore = ignore
        self.newline = frozenset(t.name for t in terminals if t.newline)
        self.allowed = {t.name for t in terminals}
        embedded: set[str] = set()
        self.retype: dict[str, re.Pattern] = {}
        strs = [t for t in terminals if t.is_str]
        for rt in (t for t in terminals if not t.is_str):
            unless = []
            for st in strs:
                if st.priority == rt.priority:
                    m = re.match(rt.regexp, st.value)
                    if m and m.group(0) == st.value:
                        unless.append(st)
                        embedded.add(st.name)
            if unless:
                self.retype[rt.name] = _alternation(unless)
        self.mre = _alternation([t for t in terminals if t.name not in embedded])

    def next_token(self, lex: "_LexState") -> Token | None:
        """The next token that is not ignored, or None at the end of the text."""
        text = lex.text
        while lex.pos < len(text):
            m = self.mre.match(text, lex.pos)
            if not m:
                allowed = self.allowed - self.ignore or {"<END-OF-FILE>"}
                raise UnexpectedCharacters(text, lex.pos, lex.line, lex.column, allowed)
            value, type_ = m.group(0), m.lastgroup
            assert type_ is not None
            t = Token(type_, value, lex.pos, lex.line, lex.column)
            lex.feed(value, type_ in self.newline)
            if type_ in self.ignore:
                continue
            t.end_line, t.end_column, t.end_pos = lex.line, lex.column, lex.pos
            if type_ in self.retype:
                full = self.retype[type_].fullmatch(value)
                if full:
                    t.type = full.lastgroup  # type: ignore[assignment]
            return t
        return None


class _LexState:
    """Position in the text, and its line and column as lark's LineCounter counts them."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line, self.column, self.line_start = text, 0, 1, 1, 0

    def feed(self, value: str, newline: bool) -> None:
        if newline:
            n = value.count("\n")
            if n:
                self.line += n
                self.line_start = self.pos + value.rindex("\n") + 1
        self.pos += len(value)
        self.column = self.pos - self.line_start + 1


class _Inline:
    """The children of a `_rule`, spliced into the rule that uses it."""

    __slots__ = ("children",)

    def __init__(self, children: list) -> None:
        self.children = children


class _Rule:
    def __init__(self, d: dict) -> None:
        opts = d["options"]
        if d["alias"] or opts["expand1"] or opts["keep_all_tokens"] or opts["empty_indices"]:
            raise NotImplementedError(f"rule {d['origin']['name']}: alias, ?rule, kept tokens or placeholders")
        self.origin: str = d["origin"]["name"]
        self.size = len(d["expansion"])
        # per child: 0 keep, 1 drop (a filtered-out terminal), 2 splice (an inlined `_rule`)
        self.how = tuple(1 if s["__type__"] == "Terminal" and s["filter_out"] else
                         2 if s["__type__"] == "NonTerminal" and s["name"].startswith("_") else 0
                         for s in d["expansion"])


class Parser:
    """The parser of lark's serialised tables (`Lark.memo_serialize` of an LALR parser with the
    contextual lexer): `Parser(DATA, MEMO, callbacks).parse(text)`. `callbacks` maps a rule name
    to a function of its children (tokens and the results of its sub-rules); a rule without one
    gives the list of its children."""

    def __init__(self, data: dict, memo: dict, callbacks: dict[str, Callable[[list], Any]]) -> None:
        o = data["options"]
        if (o["parser"], o["lexer"]) != ("lalr", "contextual") or o["postlex"] or o["lexer_callbacks"] \
                or o["keep_all_tokens"] or o["g_regex_flags"] or o["use_bytes"] or o["regex"] \
                or len(o["start"]) != 1:
            raise NotImplementedError("only lark's LALR parser with the contextual lexer and one start rule")
        front = data["parser"]
        lex_conf, tables = front["lexer_conf"], front["parser"]
        terms = [_Terminal(memo[r["@"]]) for r in lex_conf["terminals"]]
        self._terms = {t.name: t for t in terms}
        self._ignore = frozenset(lex_conf["ignore"])
        names = tables["tokens"]
        self._states: dict[int, dict[str, tuple[int, Any]]] = {
            s: {names[k]: (a, arg if a == SHIFT else _Rule(memo[arg["@"]])) for k, (a, arg) in acts.items()}
            for s, acts in tables["states"].items()}
        start = o["start"][0]
        self._start, self._end = tables["start_states"][start], tables["end_states"][start]
        self._callbacks = callbacks
        self._scanners: dict[frozenset[str], _Scanner] = {}
        self._root: _Scanner | None = None

    def _scanner(self, state: int) -> _Scanner:
        key = frozenset(self._states[state])
        sc = self._scanners.get(key)
        if sc is None:
            accepts = key | self._ignore
            sc = self._scanners[key] = _Scanner([t for n, t in self._terms.items() if n in accepts], self._ignore)
        return sc

    def _lex(self, lex: _LexState, state: int) -> Token | None:
        try:
            return self._scanner(state).next_token(lex)
        except UnexpectedCharacters as e:
            # as lark: text that some terminal matches, but not one this state accepts, is an
            # unexpected token, not unexpected characters
            if self._root is None:
                self._root = _Scanner(list(self._terms.values()), self._ignore)
            try:
                tok = self._root.next_token(lex)
            except UnexpectedCharacters:
                raise e from None
            assert tok is not None
            raise UnexpectedToken(tok, set(e.allowed)) from None

    def _reduce(self, rule: _Rule, values: list) -> Any:
        children: list = []
        for how, v in zip(rule.how, values):
            if how == 2:
                children.extend(v.children)
            elif how == 0:
                children.append(v)
        if rule.origin.startswith("_"):
            return _Inline(children)
        cb = self._callbacks.get(rule.origin)
        return cb(children) if cb is not None else children

    def parse(self, text: str) -> Any:
        """The start rule's callback result; raises UnexpectedToken or UnexpectedCharacters."""
        states, stack, values = self._states, [self._start], []
        lex = _LexState(text)
        last: Token | None = None
        while True:
            tok = self._lex(lex, stack[-1])
            end = tok is None
            if end:
                tok = Token("$END", "", *((last.start_pos, last.line, last.column) if last else (0, 1, 1)))
                if last is not None:
                    tok.end_line, tok.end_column, tok.end_pos = last.end_line, last.end_column, last.end_pos
            assert tok is not None
            while True:
                acts = states[stack[-1]]
                if tok.type not in acts:
                    raise UnexpectedToken(tok, {s for s in acts if s.isupper()})
                action, arg = acts[tok.type]
                if action == SHIFT:
                    if end:
                        raise ValueError("the parser tables shift the end of the text")
                    stack.append(arg)
                    values.append(tok)
                    break
                size = arg.size
                kids = values[len(values) - size:] if size else []
                if size:
                    del stack[-size:], values[-size:]
                value = self._reduce(arg, kids)
                stack.append(states[stack[-1]][arg.origin][1])
                values.append(value)
                if end and stack[-1] == self._end:
                    return values[-1]
            last = tok
