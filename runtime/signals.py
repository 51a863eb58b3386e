"""Ctrl-C, SIGTERM, SIGHUP: a handler that only sets a flag; the loop stops at the next step
boundary (a validation pass in progress ends at its next batch), saves and exits 130.

Like Caffe's `-sigint_effect stop`: the flag is read after an update, never in the middle of one,
so the checkpoint written on the way out is at a step boundary. Further SIGINTs while saving only
set the flag again (the checkpoint write is atomic either way).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from alexspec.errors import AlexspecError


class Interrupted(AlexspecError):
    """The run stopped on Ctrl-C after saving; the CLI exits 130."""

    exit_code = 130


class StopFlag:
    """Context manager: while active, SIGINT, SIGTERM and SIGHUP set `requested` instead of
    raising or killing the process."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None
        self._old: dict[int, object] = {}
        self._held = False

    def hold(self) -> None:
        """Ignore SIGINT, SIGTERM and SIGHUP from now on, for the rest of the process (the
        context no longer restores the old handlers). For a multi-process run that stops after
        saving: when the first process exits, torchrun sends SIGTERM to the others, which must
        not kill them before they have left the process group and said what was saved; they
        exit 130 on their own. (SIG_IGN, not the flag handler: Python puts its own handlers back
        to the default while the interpreter shuts down, but leaves an ignored signal ignored.)"""
        for s in self._old:
            signal.signal(s, signal.SIG_IGN)
        self._held = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.signal = signum

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._held:
            return
        for s, old in self._old.items():
            signal.signal(s, old)  # type: ignore[arg-type]
        self._old.clear()
