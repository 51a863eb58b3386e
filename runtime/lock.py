"""One run per save path: an exclusive `fcntl.flock` on `<save path>/.lock`, which holds the pid.

The kernel drops the lock when its process dies (also on kill -9), so a killed run's stale lock
file is simply taken over; a live run's lock makes a second run fail naming the first's pid.
"""

from __future__ import annotations

import os
from pathlib import Path

from alexspec.errors import RunError

LOCK_NAME = ".lock"


class SavePathLock:
    """Context manager holding the save path's lock (`acquire` raises RunError if taken)."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "SavePathLock":
        """Take the lock or raise RunError naming the process that holds it."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock (documented)
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(f"cannot create the run's lock file: {(e.strerror or str(e)).lower()}",
                           where=str(self.path.parent), hint="choose another --save-path") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise RunError(f"another run (process {other}) is using this save path", where=str(self.path.parent),
                           hint="wait for it to end, or pass another --save-path") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would race with a new run)."""
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "SavePathLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
