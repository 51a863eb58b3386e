"""Counts in the user's words: `count(1, "step")` is "1 step", `count(2, "step")` "2 steps"."""

from __future__ import annotations

_IRREGULAR = {"class": "classes", "process": "processes", "batch": "batches", "is": "are"}


def plural(n: float, noun: str) -> str:
    """`noun`, or its plural when `n` is not exactly one."""
    if n == 1:
        return noun
    return _IRREGULAR.get(noun, noun + "s")


def count(n: float, noun: str, fmt: str = ",") -> str:
    """`n` formatted with `fmt` (thousands separated by default) and `noun` agreeing with it."""
    return f"{n:{fmt}} {plural(n, noun)}"
