"""report: the `alexspec check` summary of a checked Net, as a `tables.Report` (no printing here)."""

from __future__ import annotations

from alexspec.net import Net
from alexspec.tables import Justify, Line, Report, Table


def _si(n: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _table(title: str, columns: tuple[tuple[str, Justify], ...]) -> Table:
    t = Table(title)
    for header, justify in columns:
        t.add_column(header, justify)
    return t


def layer_table(net: Net) -> Table:
    """One row per layer: name, type, GPU(s), output shape, parameters, multiply-adds."""
    t = _table(f"{net.path}: {len(net)} layers on {net.num_gpus} logical GPU"
               f"{'s' if net.num_gpus != 1 else ''}",
               (("layer", "left"), ("type", "left"), ("GPU", "right"), ("output (HxWxC)", "right"),
                ("parameters", "right"), ("multiply-adds", "right")))
    for n in net:
        t.add_row(n.name, n.type, ",".join(map(str, n.gpus)), str(n.output),
                  f"{n.params:,}" if n.params else "", f"{n.macs:,}" if n.macs else "")
    t.add_section()
    t.add_row("total", "", "", "", f"{net.params:,}", f"{net.macs:,}", style="bold")
    return t


def gpu_table(net: Net) -> Table:
    """Per logical GPU: layers, parameters, multiply-adds, neurons (replicas counted on each GPU)."""
    t = _table("per GPU", (("GPU", "right"), ("layers", "right"), ("parameters", "right"),
                           ("multiply-adds", "right"), ("neurons", "right")))
    for g in range(net.num_gpus):
        nodes = [n for n in net if g in n.gpus and n.type != "data"]
        t.add_row(str(g), str(len(nodes)), f"{sum(n.params for n in nodes):,}",
                  f"{sum(n.macs for n in nodes):,}", f"{sum(n.neurons for n in nodes):,}")
    return t


def edge_table(net: Net) -> Table | Line:
    """The inputs that cross GPUs, with the bytes per image each carries (float32)."""
    edges = net.cross_gpu_edges
    if not edges:
        return Line.plain("no cross-GPU edges")
    t = _table(f"{len(edges)} cross-GPU edge{'s' if len(edges) != 1 else ''}",
               (("from", "left"), ("to", "left"), ("GPUs", "center"), ("shape", "right"),
                ("bytes / image", "right")))
    for e in edges:
        t.add_row(e.src, e.dst, f"{e.src_gpu} -> {e.dst_gpu}", str(e.shape), f"{e.bytes_per_image:,}")
    t.add_section()
    t.add_row("total", "", "", "", f"{sum(e.bytes_per_image for e in edges):,}", style="bold")
    return t


def check_report(net: Net) -> Report:
    """The whole `check` output: the layer table, the per-GPU totals and the cross-GPU edges."""
    summary = Line((("ok ", "bold green"), (f"{net.params:,} parameters, {net.macs:,} multiply-adds "
                    f"({_si(net.macs)}) per image, {len(net.cross_gpu_edges)} cross-GPU edges", None)))
    from alexspec.hybrid_report import hybrid_tables  # issue 11: per-process and per-exchange

    return Report([layer_table(net), gpu_table(net), edge_table(net), *hybrid_tables(net), summary])
