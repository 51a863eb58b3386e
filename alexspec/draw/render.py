"""Writing a graphviz graph to a file by extension, deterministically, with or without `dot`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import graphviz

from alexspec.errors import RunError

FORMATS = {".svg": "svg", ".pdf": "pdf", ".png": "png", ".dot": "dot", ".gv": "dot"}
INSTALL_HINT = ("install graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
                "graphviz; conda: conda install graphviz)")

# cairo stamps the PDF with the time of rendering; a fixed date of the same length keeps the
# byte offsets of the cross-reference table valid and makes the output reproducible.
_PDF_DATE = re.compile(rb"/CreationDate \(D:\d{14}[^)]*\)")


def _fixed_pdf_date(data: bytes) -> bytes:
    def same_length(m: re.Match[bytes]) -> bytes:
        old = m.group(0)
        new = b"/CreationDate (D:19700101000000Z"
        return (new + b")").ljust(len(old), b" ") if len(new) + 1 <= len(old) else old

    return _PDF_DATE.sub(same_length, data)


def render(graph: graphviz.Digraph, out: Path, what: str) -> str:
    """Write `graph` to `out` in the format its extension names; return the message to print."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise RunError(f"cannot tell the format from the extension {out.suffix or '(none)'!r}",
                       where=str(out), hint="use one of " + ", ".join(sorted(FORMATS)))
    source = graph.source
    if fmt == "dot":
        _write(out, source.encode("utf-8"))
        return f"wrote {out} ({what}, DOT source)"
    if shutil.which("dot") is None:
        dot_path = out.with_suffix(".dot")
        _write(dot_path, source.encode("utf-8"))
        return (f"graphviz's `dot` program is not on PATH, so {out} was not drawn; wrote the DOT "
                f"source to {dot_path} instead. To draw it, {INSTALL_HINT}, then run: "
                f"dot -T{fmt} {dot_path} -o {out}")
    try:
        data = graph.pipe(format=fmt)
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, subprocess.SubprocessError,
            OSError) as e:
        raise RunError(f"graphviz failed to draw: {e}", where=str(out), hint=INSTALL_HINT) from None
    if fmt == "pdf":
        data = _fixed_pdf_date(data)
    _write(out, data)
    return f"wrote {out} ({what})"


def _write(path: Path, data: bytes) -> None:
    try:
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        raise RunError(f"cannot write: {e.strerror or e}", where=str(path)) from None
