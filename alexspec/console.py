"""The one place that writes to the terminal: plain text, `alexspec.tables` reports, and rich.

Library code never prints; it returns renderables or reports through objects the CLI hands it.
rich is imported only when something needs it (a progress bar, a rich renderable): `check`
prints its report with `alexspec.tables` and never imports rich (see docs/architecture.md,
"Start-up time").
"""

from __future__ import annotations

import os
import sys
from functools import cached_property
from typing import IO, TYPE_CHECKING

from alexspec.errors import AlexspecError
from alexspec.tables import Line, Report, Table
from alexspec.words import count

if TYPE_CHECKING:
    from rich.console import Console as RichConsole


# Width for output that is not a terminal (a pipe, a file): wide enough that no line is broken
# (rich would otherwise assume 80 columns); COLUMNS, when set, still wins.
UNWRAPPED = 10_000


def _rich(stderr: bool) -> "RichConsole":
    from rich.console import Console as RichConsole

    c = RichConsole(stderr=stderr, highlight=False, soft_wrap=True)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c.width = UNWRAPPED
    return c


def terminal_styles(stream: IO[str]) -> tuple[bool, bool]:
    """(styles, colours) for text written to `stream`, decided as rich decides them: styles on a
    terminal (TTY_COMPATIBLE=1 or a non-empty FORCE_COLOR count as one, TTY_COMPATIBLE=0 or an
    empty FORCE_COLOR as none) unless TERM is dumb or unknown; colours unless NO_COLOR is set."""
    env = os.environ
    if env.get("TTY_COMPATIBLE", "") in ("0", "1"):
        tty = env["TTY_COMPATIBLE"] == "1"
    elif env.get("FORCE_COLOR") is not None:
        tty = env["FORCE_COLOR"] != ""
    else:
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):  # no isatty, or a closed file
            tty = False
    styled = tty and env.get("TERM", "").lower() not in ("dumb", "unknown")
    return styled, env.get("NO_COLOR", "") == ""


class Console:
    """stdout for results, stderr for diagnostics. A `tables.Report` is printed whole (a table
    wider than the terminal is not shrunk); text for rich (progress bars, other commands' lines)
    fits the terminal's width there, and elsewhere is not wrapped, so a log or a pipe gets each
    line whole."""

    @cached_property
    def out(self) -> "RichConsole":
        """rich on stdout (imported at first use)."""
        return _rich(stderr=False)

    @cached_property
    def err(self) -> "RichConsole":
        """rich on stderr (imported at first use)."""
        return _rich(stderr=True)

    def print(self, *renderables: object) -> None:
        """Reports and tables of `alexspec.tables` as text (styled on a terminal); anything else
        through rich."""
        if renderables and all(isinstance(r, (Report, Table, Line)) for r in renderables):
            styled, colour = terminal_styles(sys.stdout)
            blocks = [b for r in renderables for b in (r.blocks if isinstance(r, Report) else [r])]
            sys.stdout.write(Report(blocks).text(styled, colour))
            sys.stdout.flush()
            return
        self.out.print(*renderables)

    def write(self, text: str) -> None:
        """Raw text on stdout (a JSON document for scripts: no markup, no wrapping)."""
        sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()

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


class FileProgress:
    """A progress bar over files on stderr, shown only on a terminal and for more than `quiet`
    files: `with FileProgress(console, "predict", n) as bar: bar(done)`."""

    def __init__(self, console: Console, description: str, total: int, quiet: int = 0) -> None:
        self.console, self.description, self.total = console, description, total
        self.show = console.err.is_terminal and total > quiet
        self._progress = None
        self._task = None

    def __enter__(self) -> "FileProgress":
        if self.show:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=24),
                                      MofNCompleteColumn(), TimeRemainingColumn(compact=True),
                                      TextColumn("left"), console=self.console.err, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def __call__(self, done: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _clock(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class RunReporter:
    """What `alexspec run` / `alexspec test` show (implements `alexspec.runtime.report.Reporter`).

    On a terminal: a rich progress bar with images/s and time left, test results printed above it.
    Otherwise (a pipe, a log file): one plain line per step at most every `every` seconds, plus
    the first and the last step, so logs stay short but a watcher always sees steps go by.
    """

    def __init__(self, console: Console, every: float = 2.0) -> None:
        self.console = console
        self.every = every
        self.tty = console.out.is_terminal
        self._progress = None
        self._task = None
        self._test_task = None
        self._last = 0.0
        self.warnings = 0

    def info(self, text: str) -> None:
        self.console.note(text)

    def warn(self, text: str) -> None:
        self.warnings += 1
        self._line(f"warning: {text}", err=True)

    def _line(self, text: str, err: bool = False) -> None:
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, markup=False, soft_wrap=True)
        elif err:
            self.console.error_text(text)
        else:
            self.console.out.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, total_steps: int, done: int) -> None:
        import time

        self._last = time.monotonic()
        if not self.tty:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(compact=True), TextColumn("left"),
            TextColumn("{task.fields[status]}"), console=self.console.out, transient=False)
        self._progress.start()
        self._task = self._progress.add_task("train", total=total_steps, completed=done,
                                             rate="", status="")

    def step(self, info) -> None:
        import time

        # a cost without classes (cost.sum2) has no error rates: its value is what is shown
        status = f"logprob {info.loss:.4f} top1 {100 * info.top1:.1f}%" if info.classifies else f"cost {info.loss:.4g}"
        if self._progress is not None:
            self._progress.update(self._task, completed=info.step, rate=f"{info.images_per_s:,.0f} img/s",
                                  status=f"epoch {info.epoch} {status}")
            return
        now = time.monotonic()
        if info.step == 1 or info.step == info.total or now - self._last >= self.every:
            self._last = now
            top5 = f"top5 {100 * info.top5:.1f}% " if info.classifies else ""
            self._line(f"step {info.step}/{info.total} epoch {info.epoch}: {status} "
                       f"{top5}lr {info.lr:.3g} {info.images_per_s:,.0f} img/s "
                       f"{_clock(info.seconds_left)} left")

    def testing(self, total_images: int) -> None:
        if self._progress is not None:
            self._test_task = self._progress.add_task("test", total=total_images, rate="", status="")

    def test_progress(self, images_done: int) -> None:
        if self._progress is not None and self._test_task is not None:
            self._progress.update(self._test_task, completed=images_done)

    def test(self, info) -> None:
        if self._progress is not None and self._test_task is not None:
            self._progress.remove_task(self._test_task)
            self._test_task = None
        views = "ten views" if info.views > 1 else "centre crop"
        scores = (f"logprob {info.loss:.4f}, top-1 error {100 * info.top1:.2f}%, top-5 error "
                  f"{100 * info.top5:.2f}%" if info.classifies else f"cost {info.loss:.4g}")
        watched = "error" if info.classifies else "cost"
        self._line(f"test at step {info.step} ({count(info.epoch, 'epoch', '.2f')}): {scores} "
                   f"({count(info.images, 'image')}, {views})"
                   + (f"; validation {watched} stopped improving: learning rate / 10" if info.dropped_lr else ""))

    def saved(self, path: str) -> None:
        self._line(f"saved {path}")

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
