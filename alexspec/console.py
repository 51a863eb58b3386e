"""The one place that writes to the terminal: a thin wrapper over rich.

Library code never prints; it returns renderables or reports through objects the CLI hands it.
"""

from __future__ import annotations

import sys

from rich.console import Console as RichConsole

from alexspec.errors import AlexspecError


class Console:
    """stdout for results, stderr for diagnostics."""

    def __init__(self) -> None:
        self.out = RichConsole(highlight=False, soft_wrap=False)
        self.err = RichConsole(stderr=True, highlight=False, soft_wrap=True)

    def print(self, *renderables: object) -> None:
        self.out.print(*renderables)

    def error(self, e: AlexspecError) -> None:
        # Plain text: diagnostics must stay copy-pastable and editor-clickable.
        sys.stderr.write(str(e).rstrip() + "\n")
        sys.stderr.flush()

    def error_text(self, text: str) -> None:
        sys.stderr.write(text.rstrip() + "\n")
        sys.stderr.flush()

    def note(self, text: str) -> None:
        """One line of information on stderr (what data or devices a run uses)."""
        self.err.print(text)
