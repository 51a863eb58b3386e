"""report: the `alexspec check` summary of a checked Net, as a rich renderable (no printing here)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from alexspec.net import Net


def _si(n: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _row(t: Table, *cells: str, style: str | None = None) -> None:
    # Text, not str: a cell is shown as written (rich would read `[...]` and `:name:` in a str
    # as markup and emoji), and rich need not parse it (a fifth of the table's render time).
    t.add_row(*(Text(c) for c in cells), style=style)


def _table(title: str) -> Table:
    # Text title and headers, for the reason of `_row`: rich would otherwise import its emoji
    # table (a tenth of `check`'s start-up) to look for `:name:` codes in them.
    return Table(title=Text(title, style="table.title"), title_justify="left")


def _column(t: Table, header: str, justify: str = "left") -> None:
    t.add_column(Text(header), justify=justify)  # type: ignore[arg-type]


def layer_table(net: Net) -> Table:
    """One row per layer: name, type, GPU(s), output shape, parameters, multiply-adds."""
    t = _table(f"{net.path}: {len(net)} layers on {net.num_gpus} logical GPU"
               f"{'s' if net.num_gpus != 1 else ''}")
    _column(t, "layer")
    _column(t, "type")
    _column(t, "GPU", "right")
    _column(t, "output (HxWxC)", "right")
    _column(t, "parameters", "right")
    _column(t, "multiply-adds", "right")
    for n in net:
        _row(t, n.name, n.type, ",".join(map(str, n.gpus)), str(n.output),
             f"{n.params:,}" if n.params else "", f"{n.macs:,}" if n.macs else "")
    t.add_section()
    _row(t, "total", "", "", "", f"{net.params:,}", f"{net.macs:,}", style="bold")
    return t


def gpu_table(net: Net) -> Table:
    """Per logical GPU: layers, parameters, multiply-adds, neurons (replicas counted on each GPU)."""
    t = _table("per GPU")
    for col, just in (("GPU", "right"), ("layers", "right"), ("parameters", "right"),
                      ("multiply-adds", "right"), ("neurons", "right")):
        _column(t, col, just)
    for g in range(net.num_gpus):
        nodes = [n for n in net if g in n.gpus and n.type != "data"]
        _row(t, str(g), str(len(nodes)), f"{sum(n.params for n in nodes):,}",
             f"{sum(n.macs for n in nodes):,}", f"{sum(n.neurons for n in nodes):,}")
    return t


def edge_table(net: Net) -> Table | Text:
    """The inputs that cross GPUs, with the bytes per image each carries (float32)."""
    edges = net.cross_gpu_edges
    if not edges:
        return Text("no cross-GPU edges")
    t = _table(f"{len(edges)} cross-GPU edge{'s' if len(edges) != 1 else ''}")
    for col, just in (("from", "left"), ("to", "left"), ("GPUs", "center"), ("shape", "right"),
                      ("bytes / image", "right")):
        _column(t, col, just)
    for e in edges:
        _row(t, e.src, e.dst, f"{e.src_gpu} -> {e.dst_gpu}", str(e.shape), f"{e.bytes_per_image:,}")
    t.add_section()
    _row(t, "total", "", "", "", f"{sum(e.bytes_per_image for e in edges):,}", style="bold")
    return t


def check_report(net: Net) -> Group:
    """The whole `check` output: the layer table, the per-GPU totals and the cross-GPU edges."""
    summary = Text.assemble(
        ("ok ", "bold green"), f"{net.params:,} parameters, {net.macs:,} multiply-adds "
        f"({_si(net.macs)}) per image, {len(net.cross_gpu_edges)} cross-GPU edges")
    from alexspec.hybrid_report import hybrid_tables  # issue 11: per-process and per-exchange

    return Group(layer_table(net), gpu_table(net), edge_table(net), *hybrid_tables(net), summary)
