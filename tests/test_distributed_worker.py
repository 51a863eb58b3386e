"""Worker of tests/test_distributed.py, started by torchrun (not a test module by itself).

For each spec: build the model (same seed), disturb rank 1's weights (DDP must broadcast rank 0's),
wrap in DDP, run this rank's half of a fixed global batch, save the gradients.
"""

from __future__ import annotations

import sys


def main(out_dir: str, specs: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    import alexspec
    from alexspec.compiler import build
    from alexspec.compiler.distributed import setup, shard, teardown, wrap

    ctx = None
    for i, path in enumerate(specs):
        net = alexspec.load(path)
        ctx = ctx or setup(net, devices="cpu", timeout_s=60)
        model = build(net, devices="cpu", seed=0, dtype=torch.float64).eval()  # ctx is the first spec's
        if ctx.rank == 1:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(1.0)
        ddp = wrap(model, ctx)
        g = torch.Generator().manual_seed(123)
        x = torch.randn(8, *model.input_shape, generator=g, dtype=torch.float64)
        y = torch.randint(0, model.num_classes, (8,), generator=g)
        loss = model.cost(ddp(shard(x, ctx)), shard(y, ctx)).loss
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        torch.save({"grads": grads, "world": ctx.world_size, "summary": ctx.summary},
                   f"{out_dir}/spec{i}-rank{ctx.rank}.pt")
    teardown(ctx, leave_together=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
