"""values: the text of one value -> what the IR field takes (before pydantic sees it).

Comma lists (split outside brackets), neurons `name` / `name[a,b]`, learning-rate schedules
`kind[key=value;...]` with keys in any order, and bare numbers as constant schedules. Numbers,
booleans and choices stay text here: pydantic converts them and its messages are mapped back to
the spans computed here. A problem raises `ValueProblem` with the span of the offending text.
"""

from __future__ import annotations

import re
from dataclasses import replace

from alexspec.errors import Span

SCHEDULE_KEYS = {
    "const": ("base",),
    "linear": ("base", "tgtFactor"),
    "exp": ("base", "tgtFactor"),
    "dexp": ("base", "tgtFactor", "numSteps"),
    "plateau": ("base", "factor", "maxDrops"),
}
# Keys a schedule must give (plateau's factor and maxDrops have the paper's defaults).
_SCHEDULE_REQUIRED = {"const": ("base",), "linear": ("base", "tgtFactor"), "exp": ("base", "tgtFactor"),
                      "dexp": ("base", "tgtFactor", "numSteps"), "plateau": ("base",)}
_CALL = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\[(.*)\])?\s*$", re.S)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


class ValueProblem(Exception):
    """A value that cannot be read; `span` points at the offending text."""

    def __init__(self, span: Span, message: str, hint: str | None = None):
        super().__init__(message)
        self.span, self.message, self.hint = span, message, hint


def sub_span(span: Span, start: int, end: int) -> Span:
    """The span of characters [start, end) of a one-line value whose text starts at `span`."""
    return replace(span, column=span.column + start, end_line=span.line,
                   end_column=span.column + max(end, start + 1))


def split_list(text: str, span: Span) -> list[tuple[str, Span]]:
    """`a, b[1,2], c` -> [(a, span), (b[1,2], span), (c, span)]: commas inside [] do not split."""
    parts: list[tuple[str, Span]] = []
    depth, start = 0, 0
    for i, ch in enumerate(text + ","):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            raw = text[start:i]
            lead = len(raw) - len(raw.lstrip())
            item = raw.strip()
            parts.append((item, sub_span(span, start + lead, start + lead + len(item))))
            start = i + 1
    return parts


def parse_neuron(text: str, span: Span) -> dict:
    """`relu` -> {kind: relu}; `tanh[1.7,0.66]` -> {kind: tanh, args: [..]} (args as text)."""
    m = _CALL.match(text)
    if not m:
        raise ValueProblem(span, f"cannot read neuron {text!r}", "write name or name[a,b], e.g. relu or tanh[1,1]")
    args = []
    if m.group(2) is not None:
        offset = text.index("[") + 1
        for arg, aspan in split_list(m.group(2), sub_span(span, offset, offset + len(m.group(2)))):
            if not _NUMBER.match(arg):
                raise ValueProblem(aspan, f"neuron argument {arg!r} is not a number")
            args.append(arg)
    return {"kind": m.group(1).lower(), "args": args}


def parse_schedule(text: str, span: Span) -> dict:
    """A learning-rate schedule: a bare number, or `kind[key=value;...]` in any key order."""
    if _NUMBER.match(text.strip()):
        return {"kind": "const", "base": text.strip()}
    m = _CALL.match(text)
    if not m or m.group(2) is None:
        raise ValueProblem(span, f"cannot read schedule {text!r}",
                           "write a number or kind[key=value;...], e.g. dexp[base=0.01;tgtFactor=250;numSteps=4]")
    kind = m.group(1).lower()
    if kind not in SCHEDULE_KEYS:
        raise ValueProblem(sub_span(span, 0, len(m.group(1))), f"unknown schedule {m.group(1)!r}",
                           "known schedules: " + ", ".join(SCHEDULE_KEYS))
    allowed = {k.lower(): k for k in SCHEDULE_KEYS[kind]}
    out: dict = {"kind": kind}
    body = m.group(2)
    pos = text.index("[") + 1
    for part in body.split(";"):
        key, eq, val = part.partition("=")
        lead = len(part) - len(part.lstrip())
        pspan = sub_span(span, pos + lead, pos + len(part.rstrip()))
        pos += len(part) + 1
        if not part.strip():
            continue
        if not eq or not val.strip():
            raise ValueProblem(pspan, f"schedule entry {part.strip()!r} is not key=value")
        canon = allowed.get(key.strip().lower())
        if canon is None:
            raise ValueProblem(pspan, f"{kind} schedule has no key {key.strip()!r}",
                               f"{kind} takes " + ", ".join(SCHEDULE_KEYS[kind]))
        if canon in out:
            raise ValueProblem(pspan, f"schedule key {canon!r} is given twice")
        if not _NUMBER.match(val.strip()):
            raise ValueProblem(pspan, f"schedule {canon}={val.strip()!r} is not a number")
        out[canon] = val.strip()
    missing = [k for k in _SCHEDULE_REQUIRED[kind] if k not in out]
    if missing:
        raise ValueProblem(span, f"{kind} schedule needs " + ", ".join(missing),
                           f"write {kind}[" + ";".join(f"{k}=..." for k in SCHEDULE_KEYS[kind]) + "]")
    return out
