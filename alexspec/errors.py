"""The one error type users see: a list of located diagnostics, rendered like a compiler's.

    specs/alexnet.cfg:57:5: error[gpu]: layer 'conv2a': gpu must be 0 or 1 (got 2)
       57 | gpu=2
          |     ^
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, order=True)
class Span:
    """A place in a source file: 1-based line and column, end exclusive."""

    path: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One located problem. `code` is a short stable tag such as `unknown-key` or `shape`."""

    span: Span
    code: str
    message: str
    hint: str | None = None
    severity: str = "error"

    def render(self, sources: dict[str, str] | None = None) -> str:
        """`path:line:col: error[code]: message`, the source line with a caret, then the hint."""
        out = [f"{self.span}: {self.severity}[{self.code}]: {self.message}"]
        text = (sources or {}).get(self.span.path)
        if text is None:
            try:
                p = Path(self.span.path)  # only a regular file of sane size: never a FIFO or /dev/zero
                ok = p.is_file() and p.stat().st_size <= 64 * 2**20
                text = p.read_text(encoding="utf-8", errors="replace") if ok else None
            except OSError:
                text = None
        if text is not None:
            lines = text.split("\n")  # the parser counts lines on \n only
            if 1 <= self.span.line <= len(lines):
                # One printable character per column, so the caret sits under the span: a tab,
                # form feed or other control character would move it (or the terminal's cursor).
                src = "".join(c if c.isprintable() else " " for c in lines[self.span.line - 1].rstrip("\r"))
                gutter = f"{self.span.line:>5} | "
                width = 1
                if self.span.end_line == self.span.line and self.span.end_column > self.span.column:
                    width = self.span.end_column - self.span.column
                out.append(gutter + src)
                out.append(" " * (len(gutter) - 2) + "| " + " " * (self.span.column - 1) + "^" * width)
        if self.hint:
            out.append(f"      = help: {self.hint}")
        return "\n".join(out)


class AlexspecError(Exception):
    """Base of every error a user may see. The CLI is the only place that catches and prints it."""

    exit_code = 1


@dataclass
class SpecError(AlexspecError):
    """Every diagnostic of a stage at once. The CLI renders them and exits 2."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    exit_code = 2

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        body = "\n".join(d.render(self.sources) for d in self.diagnostics)
        n = sum(d.severity == "error" for d in self.diagnostics)
        return body + f"\n{n} error{'s' if n != 1 else ''}"

    def __str__(self) -> str:
        return self.render()


class RunError(AlexspecError):
    """A failure while running (data, checkpoint, divergence, devices). The CLI prints it and exits 1.

    `where` names the file, layer or step the problem is about, so the message is located.
    """

    def __init__(self, message: str, where: str | None = None, hint: str | None = None):
        self.message, self.where, self.hint = message, where, hint
        text = f"{where}: {message}" if where else message
        super().__init__(text + (f"\n  = help: {hint}" if hint else ""))
