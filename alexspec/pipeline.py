"""`load`: read -> parse -> validate -> check, the front end's one entry point."""

from __future__ import annotations

from alexspec.net import Net


def load(path: str, params: str | None = None, *, inner_size: int | None = None,
         allow_code: bool = False) -> Net:
    """Read a layer definition file (and optionally a layer params file) into a checked `Net`.

    Raises SpecError with every located diagnostic of the first failing stage.
    """
    raise NotImplementedError
