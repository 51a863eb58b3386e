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
from alexspec.errors import AlexspecError, RunError
from alexspec.words import count

DEFAULT_SPEC = "specs/alexnet.cfg"

DESCRIPTION = """\
Write a convolutional net down as a cuda-convnet layer file, check it, draw it, train it over
two GPUs as the AlexNet paper did, and use what it learned.

  alexspec check specs/alexnet.cfg            the layer table: shapes, parameters, GPUs
  alexspec draw specs/alexnet.cfg -o n.svg    the paper's Figure 2 of your net
  alexspec run specs/alexnet.cfg --data DIR   train (Fashion-MNIST when no data is given)
  alexspec test runs/alexnet                  top-1 / top-5 error of the newest checkpoint
  alexspec show runs/alexnet --preds          test images with their top-5 guesses (Figure 4)
  alexspec predict runs/alexnet photo.jpg     the top classes of your own images
  alexspec export runs/alexnet -o net.onnx    the trained net for another runtime
"""
EPILOG = ("Run 'alexspec COMMAND --help' for a command's options. Exit status: 0 ok, 1 run "
          "failure, 2 spec or usage error, 3 predict skipped unreadable files, 130 interrupted.")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alexspec")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _Version(argparse._VersionAction):
    """`--version`, looked up only when asked for: reading the installed package's metadata
    costs every other command's start-up a few milliseconds."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        self.version = f"alexspec {_version()}"
        super().__call__(parser, namespace, values, option_string)


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default when it has one and does not say it already;
    text with its own line breaks (examples, tables) is kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or "%(default)" in text or action.default in (None, False, argparse.SUPPRESS) \
                or not action.option_strings or isinstance(action, argparse._VersionAction):
            return text
        return f"{text} (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _spec_args(p: argparse.ArgumentParser, optional: bool = False, spec_help: str | None = None) -> None:
    if optional:
        p.add_argument("spec", nargs="?", default=None,
                       help=spec_help or f"layer definition file ({DEFAULT_SPEC})")
    else:
        p.add_argument("spec", help="layer definition file (cuda-convnet syntax + extensions)")
    p.add_argument("--layer-params", metavar="FILE",
                   help="layer parameter file (cuda-convnet; default: none, the spec's own values)")
    p.add_argument("--inner-size", type=int, metavar="N", help="input size when the spec leaves it to the data")
    p.add_argument("--allow-code", action="store_true",
                   help="accept initWFunc/initBFunc/initCFunc keys (checked only: nothing imports or "
                        "runs them, and build/run refuse them as not supported yet)")
    p.add_argument("--lenient", action="store_true",
                   help="ignore, with a warning, the keys cuda-convnet itself ignored (keys a layer type "
                        "does not read, definition keys in the layer params file)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="alexspec", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=_Help)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate a spec and print its layer table")
    _spec_args(p, optional=True)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("draw", help="draw the net: the paper's Figure 2, or a layer graph")
    _spec_args(p, optional=True)
    p.add_argument("-o", "--output", metavar="FILE", help="FILE.svg|.pdf|.png|.dot (default: <spec>.svg)")
    p.add_argument("--style", choices=("figure2", "graph"), default="figure2",
                   help="figure2: the paper's two GPU lanes of stages; graph: every layer")
    p.add_argument("--rankdir", choices=("TB", "LR"),
                   help="stages top to bottom (TB) or left to right (LR) (default: LR for figure2, "
                        "as in the paper; TB for graph)")
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("run", help="train a spec (on the embedded Fashion-MNIST when no data is given)",
                       description="Train a spec, or resume a run with --load-file (the checkpoint's "
                       "spec, data and settings are restored; an option given again overrides one).")
    _spec_args(p, optional=True,
               spec_help="layer definition file (optional with --load-file: the checkpoint holds it)")
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
    p.add_argument("checkpoint", metavar="CKPT", help="a checkpoint, a run directory (its newest) or a .safetensors")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--filters", metavar="LAYER", help="grid of a conv layer's kernels, per GPU")
    what.add_argument("--preds", nargs="*", metavar="IMAGE",
                      help="test images (or these image files) with their top-5 labels")
    what.add_argument("--neighbors", nargs="*", metavar="IMAGE",
                      help="test images (or these query files) and their nearest training images "
                           "by the last hidden layer")
    what.add_argument("--cost", action="store_true",
                      help="training and validation cost against steps, from the run's metrics.jsonl "
                           "(CKPT: the run directory or one of its checkpoints)")
    p.add_argument("--images", type=int, metavar="N",
                   help="how many test images --preds / --neighbors show (default: 8 / 5)")
    p.add_argument("--errors", action="store_true",
                   help="--preds: misclassified test images first (default: a seeded choice)")
    p.add_argument("--search", type=int, default=10_000, metavar="N",
                   help="--neighbors searches the first N training images")
    p.add_argument("-o", "--output", metavar="FILE.png",
                   help="where the picture goes "
                        "(default: <checkpoint stem>-filters|preds|neighbors.png here)")
    p.add_argument("--data", "--data-path", dest="data", metavar="DIR|NAME",
                   help="images to show (default: the data the checkpoint was trained on)")
    p.add_argument("--gpu", default="auto", help="logical GPU -> device list: 0,1 | cpu | auto")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "predict", help="the top classes of image files, with the checkpoint's class names",
        description="Classify image files with a trained checkpoint. Each image is prepared as "
                    "`alexspec test` prepares the validation images: read as the training data "
                    "stores its images (any mode: grey, RGBA over white, palette, 16-bit scaled), "
                    "scaled to the working size, the mean image subtracted, the centre crop (or "
                    "the ten views). Exit status: 0, or 3 when some file was skipped.")
    p.add_argument("checkpoint", metavar="CKPT|RUN",
                   help="a checkpoint, a run directory (its newest checkpoint) or an exported .safetensors")
    p.add_argument("images", nargs="+", metavar="IMAGE|DIR",
                   help="image files, or folders searched recursively for image files")
    p.add_argument("--top", type=int, metavar="N", help="classes per image (default: the spec's topk)")
    p.add_argument("--multiview", action="store_true",
                   help="average the softmax over the paper's ten views (default: the centre crop)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout (notes go to stderr)")
    p.add_argument("--batch", type=int, default=128, metavar="N", help="images per batch (default: 128)")
    p.add_argument("--gpu", default="auto", help="logical GPU -> device list: 0,1 | cpu | auto")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "export", help="write a checkpoint's eval model as .onnx, .pt2 or .safetensors",
        description="Write the checkpoint's eval model (dropout scaled as at test time) over one "
                    "device, reload it and check its outputs against the checkpoint's (max abs "
                    "difference at most 1e-4). The format is the output file's extension.",
        epilog="""formats:
  .onnx         torch.onnx.export, checked with onnxruntime; class names and the contract in
                the model's metadata_props
  .pt2          torch.export program (torch.export.load), metadata in extra file alexspec.json
  .safetensors  the weights, mean image and PCA; spec text, class names and settings in the
                metadata: alexspec test, show and predict load it like a checkpoint

input contract of .onnx and .pt2:
  input  "image"  float32 (N, 3, S, S), S = the spec's imgSize (e.g. 256), RGB, values 0..255;
                  the picture's shorter side scaled to S and the centre square kept
  inside          the mean image is subtracted and the centre crop (innerSize) taken in the graph
  output "logits" float32 (N, classes), scores before the softmax; N is dynamic
needs: pip install 'alexspec[export]'""")
    p.add_argument("checkpoint", metavar="CKPT|RUN", help="a checkpoint or a run directory (its newest)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.onnx | FILE.pt2 | FILE.safetensors")
    p.set_defaults(func=cmd_export)
    for command in sub.choices.values():
        command.formatter_class = _Help
    return parser


def _load(args: argparse.Namespace):
    import alexspec

    return alexspec.load(
        args.spec or DEFAULT_SPEC, params=args.layer_params, inner_size=args.inner_size,
        allow_code=args.allow_code, lenient=args.lenient,
    )


def _warn(net, console: Console) -> None:
    """The located warnings of the front end, on stderr before the result."""
    for d in net.warnings:
        console.error_text(d.render())


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    """`alexspec check`: load the spec and print its layer table."""
    from alexspec.report import check_report

    net = _load(args)
    _warn(net, console)
    console.print(check_report(net))
    return 0


def cmd_draw(args: argparse.Namespace, console: Console) -> int:
    """`alexspec draw`: write Figure 2 or the layer graph of the spec."""
    from alexspec.draw import draw

    net = _load(args)
    _warn(net, console)
    out = Path(args.output or Path(net.path).with_suffix(".svg").name)
    result = draw(net, out, style=args.style, rankdir=args.rankdir)
    console.print(result)
    return 0


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """`alexspec run`: train the spec (or resume a checkpoint) and print the last test."""
    from alexspec.console import RunReporter
    from alexspec.runtime.session import RunOptions, run

    opts = RunOptions(
        spec=args.spec, layer_params=args.layer_params, inner_size=args.inner_size,
        allow_code=args.allow_code, lenient=args.lenient, data=args.data, gpu=args.gpu, epochs=args.epochs, mini=args.mini,
        max_batches=args.max_batches, train_subset=args.train_subset, test_subset=args.test_subset,
        save_path=args.save_path, load_file=args.load_file, test_freq=args.test_freq,
        multiview_test=True if args.multiview_test else None, color_noise=args.color_noise,
        seed=args.seed, pack_data=args.pack_data, log_every=args.log_every,
        overrides={k: getattr(args, k) for k in ("flip", "crop", "plateau_patience", "plateau_threshold",
                                                 "plateau_drops")})
    result = run(opts, RunReporter(console))
    t = result.last_test
    if t is not None and result.is_main:
        scores = (f"validation top-1 error {100 * t.top1:.2f}%, top-5 error {100 * t.top5:.2f}%"
                  if t.classifies else f"validation cost {t.loss:.4g}")  # cost.sum2: no classes
        console.print(f"done: {count(result.steps, 'step')}; {scores}")
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
    head = f"{r.checkpoint} (step {r.step}) on {count(s.images, 'test image')}, {views}:\n"
    if not s.classifies:  # a cost without classes (cost.sum2): its value, no error rates
        console.print(head + f"  cost {s.loss:.4g} (the net's cost has no classes: no error rates)")
        return 0
    console.print(head + f"  logprob {s.loss:.4f}\n"
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
    if (args.images is not None or args.errors) and args.filters:
        raise RunError("--images and --errors go with --preds or --neighbors", where="--filters")
    if args.errors and args.preds is None:
        raise RunError("--errors goes with --preds", where="--errors")
    counts = {} if args.images is None else {"count": args.images}
    if args.filters:
        shown = show.show_filters(args.checkpoint, args.filters, args.output, gpu=args.gpu,
                                  warn=console.note)
    elif args.preds is not None:
        shown = show.show_predictions(args.checkpoint, args.output, data=args.data, gpu=args.gpu,
                                      files=args.preds, errors=args.errors, warn=console.note,
                                      **counts)
    else:
        shown = show.show_neighbours(args.checkpoint, args.output, data=args.data, gpu=args.gpu,
                                     search=args.search, files=args.neighbors, warn=console.note,
                                     **counts)
    console.print(shown.message)
    return 0


SKIPPED_EXIT = 3  # `predict`: some files could not be read (the others were classified)


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    """`alexspec predict`: one line (or JSON entry) per image with its top classes."""
    import json

    from alexspec.console import FileProgress
    from alexspec.runtime.images import EXTENSIONS
    from alexspec.runtime.predict import image_files, open_model, predict

    if args.batch <= 0:
        raise RunError(f"must be a positive number of images (got {args.batch})", where="--batch")
    if args.top is not None and args.top <= 0:
        raise RunError(f"must be a positive number of classes (got {args.top})", where="--top")
    r = open_model(args.checkpoint, args.gpu, console.note)
    files, missing = image_files(args.images)
    for f, why in missing:
        console.note(f"skipped {f}: {why}")
    if not files and not missing:
        raise RunError("no image files found (looked for " + ", ".join(EXTENSIONS) + ")",
                       where=" ".join(args.images))
    console.note(f"checkpoint {r.path} (step {r.step}): {count(len(files), 'file')}, "
                 f"{'the ten views' if args.multiview else 'the centre crop'}")
    with FileProgress(console, "predict", len(files), quiet=args.batch) as bar:
        got = predict(r, files, top=args.top, multiview=args.multiview, batch=args.batch,
                      progress=bar, on_skip=lambda f, why: console.note(f"skipped {f}: {why}"))
    skipped = missing + got.skipped
    if args.json:
        console.write(json.dumps({
            "checkpoint": str(r.path), "step": r.step, "top": got.k, "views": got.views,
            "predictions": [p.as_json() for p in got.predictions],
            "skipped": [{"file": f, "reason": why} for f, why in skipped]}, indent=1))
    else:
        for p in got.predictions:
            console.write(p.line())
    if skipped:
        console.note(f"{len(skipped)} of {count(len(files) + len(missing), 'file')} skipped")
        return SKIPPED_EXIT
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    """`alexspec export`: write the eval model, check it, print what was written."""
    from alexspec.runtime.export import export

    console.print(export(args.checkpoint, args.output, warn=console.note).message)
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
