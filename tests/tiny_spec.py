"""The tests' tiny two-column spec, `tests/specs/tiny-twocol.cfg`, with some keys changed.

(Not a test module: the tests and `tests/test_runtime_helpers.py` import it.)
"""

from __future__ import annotations

import re
from pathlib import Path

TINY_TWOCOL = Path(__file__).resolve().parent / "specs" / "tiny-twocol.cfg"

_SECTION = re.compile(r"^\[(.*)\]\s*$")


def tiny_spec(changes: dict[str, dict[str, str | None]] | None = None) -> str:
    """The text of tests/specs/tiny-twocol.cfg with `changes` applied: section name -> {key:
    value}. A value replaces the key's value in that section, or is added at the section's end
    when the section lacks the key; None removes the key. A section or a removed key that is
    not in the file raises KeyError, so a test cannot silently change nothing."""
    todo = {section: dict(keys) for section, keys in (changes or {}).items()}
    out: list[str] = []
    section: str | None = None

    def close() -> None:  # add the keys the section lacked, before its trailing blank lines
        pending = todo.pop(section, {}) if section is not None else {}
        missing = [k for k, v in pending.items() if v is None]
        if missing:
            raise KeyError(f"[{section}] has no key {missing} to remove")
        end = len(out)
        while end and not out[end - 1].strip():
            end -= 1
        out[end:end] = [f"{k}={v}" for k, v in pending.items()]

    for line in TINY_TWOCOL.read_text(encoding="utf-8").splitlines():
        if m := _SECTION.match(line):
            close()
            section = m.group(1)
        elif section in todo and "=" in line and not line.lstrip().startswith("#"):
            key = line.split("=", 1)[0].strip()
            if key in todo[section]:
                value = todo[section].pop(key)
                if value is not None:
                    out.append(f"{key}={value}")
                continue
        out.append(line)
    close()
    if todo:
        raise KeyError(f"no section {sorted(todo)} in {TINY_TWOCOL.name}")
    return "\n".join(out) + "\n"
