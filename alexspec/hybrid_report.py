"""`alexspec check` tables for a hybrid spec: the parameters each process holds and the bytes
each exchange (one all_gather) moves per image of the minibatch. Torch-free."""

from __future__ import annotations

from alexspec.hybrid import hybrid_layout, is_hybrid
from alexspec.net import Net
from alexspec.tables import Table


def hybrid_tables(net: Net) -> list[Table]:
    """Two tables for a hybrid net (none for other nets): per process, per exchange."""
    if not is_hybrid(net):
        return []
    lay = hybrid_layout(net)
    procs = Table(f"hybrid: one process per logical GPU ({lay.world}), replicated layers data-parallel")
    for col, just in (("process", "right"), ("replicated", "right"), ("own layers", "left"),
                      ("parameters", "right")):
        procs.add_column(col, just)
    rep = sum(net[n].params for n in lay.replicated)
    for g in range(lay.world):
        own = [n for n, gpu, _ in lay.split if gpu == g]
        procs.add_row(str(g), f"{rep:,}", ", ".join(own) or "-",
                      f"{rep + sum(net[n].params for n in own):,}")
    ex = Table("exchanges (all_gather, float32), bytes per image of the minibatch")
    for col, just in (("exchange", "right"), ("moves", "left"), ("sent by each", "right"),
                      ("received by each", "right")):
        ex.add_column(col, just)
    for i, crossings in enumerate(lay.exchanges, start=1):
        what = ", ".join(f"{c.layer} ({'shares' if c.kind == 'batch' else f'from {c.src}'})"
                         for c in crossings)
        ex.add_row(str(i), what, f"{lay.sent_per_image(i, 0):,.0f}", f"{lay.received_per_image(i):,.0f}")
    ex.add_section()
    ex.add_row("total", "", f"{sum(lay.sent_per_image(i, 0) for i in range(1, lay.stages + 1)):,.0f}",
               f"{sum(lay.received_per_image(i) for i in range(1, lay.stages + 1)):,.0f}", style="bold")
    return [procs, ex]
