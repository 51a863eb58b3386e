"""`load`: read -> parse -> expand -> validate -> check, the front end's one entry point."""

from __future__ import annotations

import gc
import re
from dataclasses import replace
from pathlib import Path

from alexspec.check import check
from alexspec.errors import Diagnostic, Span, SpecError
from alexspec.expand import expand
from alexspec.net import Net
from alexspec.parse import parse
from alexspec.validate import validate_partial


_LAYER = re.compile(r"^layer '([^']*)': ")


MAX_SOURCE_BYTES = 64 * 2**20  # far above any real spec; /dev/zero is not one


def _read_bounded(path: Path, what: str) -> bytes:
    """The bytes of a regular file of at most MAX_SOURCE_BYTES (a FIFO, a device or a huge file
    is a located SpecError, never a hang or an exhausted memory)."""
    import stat

    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode) \
            else "a device or socket"
        raise SpecError([Diagnostic(Span(str(path), 1, 1), "file",
                                    f"the {what} file is {kind}, not a regular file")])
    with path.open("rb") as f:
        raw = f.read(MAX_SOURCE_BYTES + 1)
    if len(raw) > MAX_SOURCE_BYTES:
        raise SpecError([Diagnostic(Span(str(path), 1, 1), "file",
                                    f"the {what} file is larger than {MAX_SOURCE_BYTES >> 20} MiB")])
    return raw


def read_source(path: str, what: str) -> str:
    """The UTF-8 text of a spec or params file (`what` names it); a located SpecError when it
    cannot be read or is not UTF-8."""
    try:
        raw = _read_bounded(Path(path), what)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise SpecError([Diagnostic(Span(path, 1, 1), "file", f"cannot read the {what} file: {reason}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        # The column in characters, as every other diagnostic counts it (not bytes).
        col = len(raw[raw.rfind(b"\n", 0, e.start) + 1: e.start].decode("utf-8", errors="replace")) + 1
        raise SpecError([Diagnostic(Span(path, line, col), "encoding",
                                    f"the {what} file is not UTF-8 text (byte 0x{raw[e.start]:02x})")],
                        {path: raw.decode("utf-8", errors="replace")}) from None


def _merge_columns(diags: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per problem: the columns of a compact section share its text, and a `[*]`
    value reaches every layer that takes the key, so the same problem found in several layers
    at one place is reported once, naming the layers."""
    out: list[Diagnostic] = []
    where: dict[tuple, int] = {}
    names: dict[int, list[str]] = {}
    for d in diags:
        m = _LAYER.match(d.message)
        key = (d.span, d.code) if m else (d.span, d.code, d.message)
        # A second problem of the same layer at the same place is its own diagnostic.
        if key in where and m and m.group(1) not in names[where[key]]:
            names[where[key]].append(m.group(1))
            continue
        where[key] = len(out)
        names[len(out)] = [m.group(1)] if m else []
        out.append(d)
    for i, layer_names in names.items():
        if len(layer_names) > 1:
            d = out[i]
            shown = layer_names if len(layer_names) <= 6 else layer_names[:5]
            listed = ", ".join(f"'{n}'" for n in shown)
            if len(shown) < len(layer_names):
                listed += f" and {len(layer_names) - len(shown)} more"
            out[i] = replace(d, message=_LAYER.sub(lambda _: f"layers {listed}: ", d.message, count=1))
    return out


def loads(text: str, path: str = "<string>", params_text: str | None = None,
          params_path: str | None = None, *, inner_size: int | None = None,
          allow_code: bool = False, lenient: bool = False) -> Net:
    """`load` from text (a checkpoint keeps the spec text; the runtime rebuilds the Net from it).

    `path` and `params_path` only name the texts in diagnostics. Raises SpecError. `lenient`
    turns what cuda-convnet itself ignored (keys a layer type does not read, definition keys in
    the params file) into warnings; `Net.warnings` holds every warning.

    Not thread-safe: it turns Python's cyclic garbage collector off for the whole process while
    it runs (and back on after, if it was on), so another thread that loads at the same time, or
    relies on the collector meanwhile, sees it off; call it from one thread at a time.
    """
    # The front end allocates many small objects that all live until it returns: the cyclic
    # collector's full passes over them would make a 10,000-layer spec cost more per layer.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _loads(text, path, params_text, params_path, inner_size, allow_code, lenient)
    except SpecError as e:
        if len(e.diagnostics) < 2:
            raise
        merged = sorted(_merge_columns(e.diagnostics), key=lambda d: (d.span.path != path, d.span))
        raise SpecError(merged, e.sources) from None
    finally:
        if gc_was_enabled:
            gc.enable()


def _loads(text: str, path: str, params_text: str | None, params_path: str | None,
           inner_size: int | None, allow_code: bool, lenient: bool) -> Net:
    sources = {path: text}
    spec_raw = parse(text, path)
    params_raw = None
    if params_text is not None:
        params_path = params_path or "<params>"
        sources[params_path] = params_text
        params_raw = parse(params_text, params_path)
    expanded = expand(spec_raw, params_raw, lenient=lenient)
    spec, diags, failed = validate_partial(expanded, allow_code=allow_code, lenient=lenient)
    warnings = sorted(expanded.warnings, key=lambda d: (d.span.path != path, d.span))
    try:
        # Every error at once: the later checks run on the layers that validated.
        net = check(spec, inner_size=inner_size, sources=sources, source_text=text, failed=failed)
    except SpecError as e:
        raise SpecError(diags + e.diagnostics + warnings, e.sources) from None
    if diags:
        raise SpecError(diags + warnings, sources)
    warnings = sorted([*warnings, *net.warnings], key=lambda d: (d.span.path != path, d.span))
    return replace(net, warnings=tuple(warnings))


def load(path: str, params: str | None = None, *, inner_size: int | None = None,
         allow_code: bool = False, lenient: bool = False) -> Net:
    """Read a layer definition file (and optionally a layer params file) into a checked `Net`.

    `inner_size` (`--inner-size`) overrides the spec's `[net] innerSize`; `allow_code` lets
    `initWFunc`-style keys through the front end (they are only checked: nothing imports or runs
    them, and the compiler refuses them as not supported yet); `lenient` as in `loads`. Raises
    SpecError with every located diagnostic of the first failing stage. Not thread-safe (see `loads`).
    """
    path = str(path)
    text = read_source(path, "layer definition")
    params_text = read_source(str(params), "layer params") if params is not None else None
    return loads(text, path, params_text, str(params) if params is not None else None,
                 inner_size=inner_size, allow_code=allow_code, lenient=lenient)
