"""Worker of tests/test_distributed_hybrid.py, started by torchrun (not a test module).

`hybrid_worker.py OUT SPEC STEPS [BATCH] [--broken] [--params FILE --inner N --float32]`: one
process per logical GPU builds its part of the hybrid net (float64 unless --float32, seed 0),
trains STEPS steps of the paper's SGD on fixed global batches, and saves its losses, its
parameters (names and count) and, from rank 0, the gathered whole model. `--broken` drops a
crossing (passa reads fca instead of fcb from the other GPU). `--gpu auto` for CUDA/NCCL.
"""

from __future__ import annotations

import sys


def main(out_dir: str, spec: str, steps: int, broken: bool, batch: int, params: str | None = None,
         inner: int | None = None, dtype_name: str = "float64", gpu: str = "cpu") -> None:
    import torch

    torch.set_num_threads(1)
    import alexspec
    from alexspec.compiler.parallel import gather_training_state, model_for, setup, teardown
    from alexspec.compiler.parallel.hybrid import build_hybrid
    from alexspec.compiler.plan import lower
    from alexspec.runtime.sgd import PaperSGD

    dtype = getattr(torch, dtype_name)
    from alexspec.pipeline import loads

    net = loads(open(spec).read(), spec, open(params).read() if params else None, params,
                         inner_size=inner) if params or inner else alexspec.load(spec)
    ctx = setup(net, devices=gpu, timeout_s=120)
    if broken:
        plan = lower(net).rewire("passa", 1, src="fca", src_gpu=0, transfer=False)
        model = build_hybrid(net, plan, ctx.rank, ctx.devices[0], seed=0, dtype=dtype,
                             group=ctx.group)
    else:
        model = model_for(net, ctx, seed=0, dtype=dtype)
    sgd = PaperSGD(model.learning_rules())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = []
    for step in range(steps):
        g = torch.Generator().manual_seed(123 + step)
        x = torch.randn(batch, *model.input_shape, generator=g, dtype=dtype)
        y = torch.randint(0, model.num_classes, (batch,), generator=g)
        model.train()
        cost = model.cost(model(x), y)
        sgd.zero_grad()
        cost.loss.backward()
        sgd.step(step / steps, 0)
        losses.append(float(cost.loss.detach()))
    whole = gather_training_state(model, sgd, ctx) if "--no-whole" not in sys.argv else None
    torch.save({"losses": losses, "names": sorted(n for n, _ in model.named_parameters()),
                "count": sum(p.numel() for p in model.parameters()), "whole": whole,
                "moved": sorted(n for n, p in model.named_parameters() if not torch.equal(p, before[n])),
                "summary": ctx.summary, "world": ctx.world_size},
               f"{out_dir}/{'broken' if broken else 'hybrid'}-rank{ctx.rank}.pt")
    teardown(ctx, leave_together=True)


if __name__ == "__main__":
    argv = sys.argv[1:]
    opt = {k: argv[argv.index(k) + 1] for k in ("--params", "--inner", "--gpu") if k in argv}
    args = [a for i, a in enumerate(argv) if not a.startswith("--") and (i == 0 or argv[i - 1] not in opt)]
    main(args[0], args[1], int(args[2]), "--broken" in argv, int(args[3]) if len(args) > 3 else 8,
         opt.get("--params"), int(opt["--inner"]) if "--inner" in opt else None,
         "float32" if "--float32" in argv else "float64", opt.get("--gpu", "cpu"))
