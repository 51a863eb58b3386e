"""The `alexspec` command line: the composition root and the only place that prints or exits.

Exit codes: 0 ok, 1 run failure, 2 spec or usage error, 130 interrupted after a clean save.
`compiler` and `runtime` (and so torch) are imported only inside the commands that need them,
so `alexspec check` and `alexspec draw` start instantly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alexspec.console import Console
from alexspec.errors import AlexspecError

DEFAULT_SPEC = "specs/alexnet.cfg"


def _spec_args(p: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        p.add_argument("spec", nargs="?", default=None, help=f"layer definition file ({DEFAULT_SPEC})")
    else:
        p.add_argument("spec", help="layer definition file (cuda-convnet syntax + extensions)")
    p.add_argument("--layer-params", metavar="FILE", help="layer parameter file (cuda-convnet)")
    p.add_argument("--inner-size", type=int, metavar="N", help="input size when the spec leaves it to the data")
    p.add_argument("--allow-code", action="store_true",
                   help="accept initWFunc/initBFunc/initCFunc keys (checked only: nothing imports or "
                        "runs them, and build/run refuse them as not supported yet)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="alexspec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate a spec and print its layer table")
    _spec_args(p, optional=True)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("draw", help="draw the net: the paper's Figure 2, or a layer graph")
    _spec_args(p, optional=True)
    p.add_argument("-o", "--output", metavar="FILE", help="FILE.svg|.pdf|.png|.dot (default: <spec>.svg)")
    p.add_argument("--style", choices=("figure2", "graph"), default="figure2")
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("run", help="train a spec (on the embedded Fashion-MNIST when no data is given)",
                       description="Train a spec, or resume a run with --load-file (the checkpoint's "
                       "spec, data and settings are restored; an option given again overrides one).")
    p.add_argument("spec", nargs="?", default=None,
                   help="layer definition file (optional with --load-file: the checkpoint holds it)")
    p.add_argument("--layer-params", metavar="FILE", help="layer parameter file (cuda-convnet)")
    p.add_argument("--inner-size", type=int, metavar="N", help="input size when the spec leaves it to the data")
    p.add_argument("--allow-code", action="store_true",
                   help="accept initWFunc/initBFunc/initCFunc keys (checked only: nothing imports or "
                        "runs them, and build/run refuse them as not supported yet)")
    p.add_argument("--data", "--data-path", dest="data", metavar="DIR|NAME",
                   help="image-folder tree, CIFAR-10 batches folder, or 'fashion-mnist'")
    p.add_argument("--gpu", default="auto", help="logical GPU -> device list: 0,1 | cpu | auto")
    p.add_argument("--epochs", type=float, help="epochs to train (spec: [net] epochs)")
    p.add_argument("--mini", type=int, help="minibatch size (spec: [net] mini)")
    p.add_argument("--max-batches", type=int, metavar="N", help="stop after N training batches")
    p.add_argument("--train-subset", type=int, metavar="N",
                   help="train on N images, a seeded subset stratified by class")
    p.add_argument("--save-path", metavar="DIR", help="where checkpoints and metrics go (runs/<spec>)")
    p.add_argument("--load-file", "-f", metavar="CKPT|DIR",
                   help="resume from a checkpoint file or a run directory's newest checkpoint")
    p.add_argument("--test-freq", type=int, metavar="N", help="test every N batches (0: every epoch)")
    p.add_argument("--multiview-test", action="store_true", help="test on the paper's ten views")
    p.add_argument("--color-noise", type=float, metavar="STD", help="PCA colour noise std (0 turns it off)")
    p.add_argument("--seed", type=int, help="random seed (spec: [net] seed)")
    p.add_argument("--test-subset", type=int, metavar="N",
                   help="validate on N images, a seeded subset stratified by class")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="random horizontal flips in training (spec: [net] flip)")
    p.add_argument("--crop", action=argparse.BooleanOptionalAction, default=None,
                   help="random innerSize crops in training; --no-crop: the centre one (spec: [net] crop)")
    p.add_argument("--plateau-patience", type=float, metavar="EPOCHS",
                   help="plateau schedules: epochs without improvement before a drop (3)")
    p.add_argument("--plateau-threshold", type=float, metavar="E",
                   help="plateau schedules: top-1 error decrease that counts as improving (0)")
    p.add_argument("--plateau-drops", type=int, metavar="N",
                   help="plateau schedules: at most N drops (default: the schedule's maxDrops)")
    p.add_argument("--log-every", type=int, metavar="N",
                   help="steps per training record in metrics.jsonl (default: ~50 per run, at most 50 steps apart)")
    p.add_argument("--pack-data", action="store_true",
                   help="decode an image-folder tree once into uint8 shards (reused by later runs)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("test", help="top-1/top-5 error of a checkpoint")
    p.add_argument("checkpoint", metavar="CKPT")
    p.add_argument("--multiview", "--multiview-test", dest="multiview", action="store_true",
                   help="average the softmax over the paper's ten views")
    p.add_argument("--data", "--data-path", dest="data", metavar="DIR|NAME",
                   help="test data (default: the data the checkpoint was trained on)")
    p.add_argument("--gpu", default="auto", help="logical GPU -> device list: 0,1 | cpu | auto")
    p.add_argument("--test-subset", type=int, metavar="N",
                   help="test on N images, a seeded subset stratified by class")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("show", help="learned filters (Figure 3), predictions and neighbours (Figure 4)")
    p.add_argument("checkpoint", metavar="CKPT")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--filters", metavar="LAYER", help="grid of a conv layer's kernels, per GPU")
    what.add_argument("--preds", action="store_true", help="test images with their top-5 labels")
    what.add_argument("--neighbors", action="store_true", help="nearest training images by last hidden layer")
    what.add_argument("--cost", action="store_true",
                      help="training and validation cost against steps, from the run's metrics.jsonl "
                           "(CKPT: the run directory or one of its checkpoints)")
    p.add_argument("--search", type=int, default=10_000, metavar="N",
                   help="--neighbors searches the first N training images (10,000)")
    p.add_argument("-o", "--output", metavar="FILE.png",
                   help="where the picture goes "
                        "(default: <checkpoint stem>-filters|preds|neighbors.png here)")
    p.add_argument("--data", "--data-path", dest="data", metavar="DIR|NAME",
                   help="images to show (default: the data the checkpoint was trained on)")
    p.add_argument("--gpu", default="auto", help="logical GPU -> device list: 0,1 | cpu | auto")
    p.set_defaults(func=cmd_show)
    return parser


def _load(args: argparse.Namespace):
    import alexspec

    return alexspec.load(
        args.spec or DEFAULT_SPEC, params=args.layer_params, inner_size=args.inner_size,
        allow_code=args.allow_code,
    )


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    """`alexspec check`: load the spec and print its layer table."""
    from alexspec.report import check_report

    net = _load(args)
    console.print(check_report(net))
    return 0


def cmd_draw(args: argparse.Namespace, console: Console) -> int:
    """`alexspec draw`: write Figure 2 or the layer graph of the spec."""
    from alexspec.draw import draw

    net = _load(args)
    out = Path(args.output or Path(net.path).with_suffix(".svg").name)
    result = draw(net, out, style=args.style)
    console.print(result)
    return 0


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """`alexspec run`: train the spec (or resume a checkpoint) and print the last test."""
    from alexspec.console import RunReporter
    from alexspec.runtime.session import RunOptions, run

    opts = RunOptions(
        spec=args.spec, layer_params=args.layer_params, inner_size=args.inner_size,
        allow_code=args.allow_code, data=args.data, gpu=args.gpu, epochs=args.epochs, mini=args.mini,
        max_batches=args.max_batches, train_subset=args.train_subset, test_subset=args.test_subset,
        save_path=args.save_path, load_file=args.load_file, test_freq=args.test_freq,
        multiview_test=True if args.multiview_test else None, color_noise=args.color_noise,
        seed=args.seed, pack_data=args.pack_data, log_every=args.log_every,
        overrides={k: getattr(args, k) for k in ("flip", "crop", "plateau_patience", "plateau_threshold",
                                                 "plateau_drops")})
    result = run(opts, RunReporter(console))
    t = result.last_test
    if t is not None and result.is_main:
        console.print(f"done: {result.steps} steps; validation top-1 error {100 * t.top1:.2f}%, "
                      f"top-5 error {100 * t.top5:.2f}%")
        if result.checkpoint:
            console.print(f"checkpoint: {result.checkpoint}")
    return 0


def cmd_test(args: argparse.Namespace, console: Console) -> int:
    """`alexspec test`: print a checkpoint's logprob and top-1/top-5 error."""
    from alexspec.console import RunReporter
    from alexspec.runtime.session import test

    r = test(args.checkpoint, RunReporter(console), multiview=args.multiview, data=args.data,
             gpu=args.gpu, limit=args.test_subset)
    s = r.scores
    views = "the ten views" if s.views > 1 else "the centre crop"
    console.print(f"{r.checkpoint} (step {r.step}) on {s.images:,} test images, {views}:\n"
                  f"  logprob {s.loss:.4f}\n"
                  f"  top-1 error {100 * s.top1:.2f}%  (accuracy {100 * (1 - s.top1):.2f}%)\n"
                  f"  top-5 error {100 * s.top5:.2f}%  (accuracy {100 * (1 - s.top5):.2f}%)")
    return 0


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    """`alexspec show`: draw a checkpoint's filters, predictions or neighbours."""
    from alexspec.runtime import show

    if args.cost:
        from alexspec.runtime.metrics import show_cost

        console.print(show_cost(Path(args.checkpoint), Path(args.output) if args.output else None))
        return 0
    if args.filters:
        shown = show.show_filters(args.checkpoint, args.filters, args.output, gpu=args.gpu,
                                  warn=console.note)
    elif args.preds:
        shown = show.show_predictions(args.checkpoint, args.output, data=args.data, gpu=args.gpu,
                                      warn=console.note)
    else:
        shown = show.show_neighbours(args.checkpoint, args.output, data=args.data, gpu=args.gpu,
                                     search=args.search, warn=console.note)
    console.print(shown.message)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `alexspec` console script."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return args.func(args, console)
    except AlexspecError as e:
        console.error(e)
        return e.exit_code
    except KeyboardInterrupt:
        console.error_text("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
