"""The `fastseg` command: train, segment, style, filters and bench.

Bad input (a missing or unreadable file, masks that do not match their images, a checkpoint of
another model...) ends with a one-line error naming the file and exit status 2; Ctrl-C with
status 130.
"""

from __future__ import annotations

import argparse
import os
import sys

from .data.io import InputError

EPILOG = "Run `fastseg COMMAND --help` for the options of a command."


def _number(kind, low: float, high: float = float("inf"), low_open: bool = False,
            high_open: bool = False):
    """An argparse type: `kind` (int or float) in the interval between low and high."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if (value < low or (low_open and value == low) or value > high
                or (high_open and value == high) or value != value):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"expected a value in {interval}, got {text}")
        return value
    return parse


_positive_int = _number(int, 1)
_non_negative_int = _number(int, 0)
_positive_float = _number(float, 0, low_open=True, high_open=True)
_non_negative_float = _number(float, 0, high_open=True)
_fraction = _number(float, 0, 1, low_open=True, high_open=True)
_dropout = _number(float, 0, 1, high_open=True)


def _set_threads(threads: int | None) -> None:
    """--threads, or by default the cores that other work leaves idle: OpenMP threads that
    wait for a core held by another process stall every parallel region, which on a busy
    machine makes the many small kernels of a training step several times slower than one
    thread. OMP_NUM_THREADS, when set, is left to fastseg. Also keeps freed memory for reuse
    (this process is ours): reallocated activations no longer fault their pages in each step."""
    import fastseg

    fastseg.set_memory_reuse(True)
    if threads is None:
        if "OMP_NUM_THREADS" in os.environ or not hasattr(os, "getloadavg"):
            return
        cores = fastseg.get_num_threads()
        threads = max(1, min(cores, (os.cpu_count() or cores) - int(os.getloadavg()[0] + 0.5)))
    fastseg.set_num_threads(threads)


# ---- commands ----------------------------------------------------------------------------------

def _train(args) -> int:
    from .train import Options, train

    _set_threads(args.threads)
    options = Options(**{name: getattr(args, name) for name in Options.__dataclass_fields__})
    train(options)
    return 0


def _segment(args) -> int:
    from .segment import segment

    _set_threads(args.threads)
    segment(args.checkpoint, args.images, args.out, args.tile, args.uncertainty)
    return 0


def _style(args) -> int:
    from .style import style_transfer

    _set_threads(args.threads)
    style_transfer(args.content, args.style, args.out, steps=args.steps, size=args.size,
                   style_weight=args.style_weight, content_weight=args.content_weight,
                   lr=args.lr, seed=args.seed, weights=args.weights)
    return 0


def _filters(args) -> int:
    from .filter_images import filter_image

    filter_image(args.image, args.op, args.out, sigma=args.sigma, min_sigma=args.min_sigma,
                 max_sigma=args.max_sigma, threshold=args.threshold)
    return 0


def _bench(args) -> int:
    from . import bench, plots
    from .bench.runner import write_json

    peers = [p for p in args.compare.split(",") if p] if args.compare else []
    results = bench.run(args.filter, peers=peers, repeats=args.repeat, quick=args.quick)
    write_json(results, args.json)
    print(f"# results written to {args.json}")
    plot = args.plot if args.plot is not None else os.path.splitext(args.json)[0] + ".png"
    if plot:
        plots.bench_chart(results, plot)
        print(f"# chart written to {plot}")
    return 0


# ---- parser ------------------------------------------------------------------------------------

def _add_threads(parser) -> None:
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="CPU threads for the kernels (default: OMP_NUM_THREADS when set, "
                             "else the cores left idle by other work, from the 1-minute load "
                             "average, at least 1; results do not depend on it)")


def _train_parser(commands) -> None:
    p = commands.add_parser(
        "train", help="train a segmentation model (no arguments: on embedded synthetic cells)",
        description="Train a U-Net (or FCN / SegNet) for pixel classification. With no "
        "arguments it trains on an embedded synthetic microscopy dataset (320 training and 64 "
        "held-out 64x64 images of touching cells of varied size, shape, brightness and texture "
        "on uneven, blurred, noisy backgrounds; classes background/cell, written as 0/255). "
        "With --data DIR it trains on DIR/images/* and DIR/masks/* (PNG, TIFF or JPEG, matched "
        "by file name without extension; the classes are the sorted distinct mask values). "
        "Writes into --out: checkpoint.safetensors (the last epoch, resumable), "
        "best.safetensors (the best validation mean IoU, for `fastseg segment`), metrics.json, "
        "curves.png and predictions.png. Ctrl-C keeps the last checkpoint (exit status 130). "
        "With --resume, options not given are the checkpoint's.",
        epilog="example: fastseg train --data my_cells --epochs 40 --size 128 --out runs/cells")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="dataset folder with images/ and masks/ (default: the embedded "
                        "synthetic cells)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder, new or empty (default: runs/<timestamp>; with "
                        "--resume, the checkpoint's folder)")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="total epochs, counting those of a resumed checkpoint; the cosine "
                        "schedule spans them all (default: 6 on the embedded dataset, 20 with "
                        "--data)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="images per training step (default: 8)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="initial learning rate (default: 0.002)")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop", "adagrad"),
                   default=None,
                   help="optimizer; sgd uses Nesterov momentum 0.9 (default: adam)")
    p.add_argument("--weight-decay", type=_non_negative_float, default=None,
                   help="L2 penalty (decoupled for adamw) (default: 0)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default=None,
                   help="learning-rate schedule over all steps (default: cosine, to 0)")
    p.add_argument("--model", choices=("unet", "fcn", "segnet"), default=None,
                   help="architecture (default: unet)")
    p.add_argument("--base-channels", type=_positive_int, default=None,
                   help="channels of the first level, doubled at each level (default: 16)")
    p.add_argument("--depth", type=_positive_int, default=None,
                   help="down-sampling levels (default: 3)")
    p.add_argument("--dropout", type=_dropout, default=None,
                   help="Dropout2d probability after each block, needed by `fastseg segment "
                        "--uncertainty` (unet and segnet) (default: 0)")
    p.add_argument("--size", type=_positive_int, default=None,
                   help="training crop size: larger images are randomly cropped, smaller ones "
                        "padded (default: 64 on the embedded dataset, 128 with --data)")
    p.add_argument("--epoch-size", type=_positive_int, default=None, metavar="CROPS",
                   help="training crops per epoch, drawn from shuffled passes over the images "
                        "(default: one per training image, at least 320)")
    p.add_argument("--val-fraction", type=_fraction, default=None,
                   help="share of --data images held out for validation (default: 0.2)")
    p.add_argument("--samples", type=_positive_int, default=None,
                   help="training images of the embedded dataset (default: 320)")
    p.add_argument("--early-stopping", type=_non_negative_int, default=None, metavar="PATIENCE",
                   help="stop when the validation mean IoU has not improved for PATIENCE "
                        "epochs; 0 never stops early (default: 0)")
    p.add_argument("--resume", metavar="CHECKPOINT", default=None,
                   help="continue from a checkpoint.safetensors written by fastseg train "
                        "(default: start afresh)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the initialisation, shuffling, augmentation, dropout and "
                        "validation split (default: 0)")
    _add_threads(p)
    p.set_defaults(run=_train)


def _segment_parser(commands) -> None:
    p = commands.add_parser(
        "segment", help="predict masks of images with a trained model",
        description="Predict the classes of every pixel of each IMAGE (any size) with a model "
        "trained by `fastseg train`, and write into --out <name>_mask.png (the original class "
        "values of the training masks), <name>_overlay.png and segment.json.")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="best.safetensors or checkpoint.safetensors from fastseg train")
    p.add_argument("images", metavar="IMAGE", nargs="+",
                   help="PNG, TIFF or JPEG images, or folders of them")
    p.add_argument("--out", metavar="DIR", default="segmented",
                   help="output folder (default: segmented)")
    p.add_argument("--tile", type=_positive_int, default=None, metavar="SIZE",
                   help="predict in SIZE x SIZE tiles that overlap by a margin covering the "
                        "model's receptive field, keeping each tile's centre: the result equals "
                        "the whole-image prediction, with far less memory (default: whole "
                        "image)")
    p.add_argument("--uncertainty", type=_non_negative_int, default=0, metavar="S",
                   help="Monte-Carlo dropout with S stochastic passes: the mask comes from the "
                        "mean probabilities and <name>_entropy.png maps the predictive "
                        "entropy; the model must have been trained with --dropout > 0 "
                        "(default: 0, off)")
    _add_threads(p)
    p.set_defaults(run=_segment)


def _style_parser(commands) -> None:
    p = commands.add_parser(
        "style", help="neural style transfer: CONTENT painted in the style of STYLE",
        description="Optimise an image so that its deep features match those of CONTENT "
        "(content loss) and the Gram matrices of its features match those of STYLE (style "
        "loss, seed 002), by Adam steps on the pixels through fastseg's autograd. The features "
        "come from a fixed, seeded, multi-scale random convolutional network (no download) or, "
        "with --weights, from VGG convolution weights.")
    p.add_argument("content", metavar="CONTENT", help="content image")
    p.add_argument("style", metavar="STYLE", help="style image")
    p.add_argument("--out", metavar="OUT.png", default="styled.png",
                   help="result image (default: styled.png)")
    p.add_argument("--steps", type=_positive_int, default=200,
                   help="optimisation steps (default: 200)")
    p.add_argument("--size", type=_positive_int, default=256,
                   help="longest side of the result, in pixels (default: 256)")
    p.add_argument("--style-weight", type=_non_negative_float, default=20.0,
                   help="weight of the style loss; raise it for more texture, lower it for "
                        "more of the content (default: 20)")
    p.add_argument("--content-weight", type=_non_negative_float, default=1.0,
                   help="weight of the content loss (default: 1)")
    p.add_argument("--lr", type=_positive_float, default=0.05,
                   help="Adam step size on pixel values in [0, 1] (default: 0.05)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random feature network (default: 0)")
    p.add_argument("--weights", metavar="FILE.safetensors", default=None,
                   help="VGG-style convolution weights: keys features.<i>.weight (K, C, 3, 3) "
                        "and features.<i>.bias (K,) with torchvision's vgg16/vgg19 `features` "
                        "indices (default: the random network)")
    _add_threads(p)
    p.set_defaults(run=_style)


def _filters_parser(commands) -> None:
    p = commands.add_parser(
        "filters", help="image derivatives of seed 004: gradient, Hessian, Laplacian, LoG, blobs",
        description="Compute an image analysis of seed 004 with fastseg.filters on the "
        "grayscale IMAGE and write it as a figure: gradient (Sobel gx, gy, magnitude, "
        "direction), hessian (Hxx, Hxy, Hyy and the determinant at --sigma), laplacian, log "
        "(Laplacian of Gaussian at --sigma) or blobs (scale-space LoG blob detection, drawn as "
        "circles of radius sqrt(2) sigma on the input).")
    p.add_argument("image", metavar="IMAGE", help="PNG, TIFF or JPEG image")
    p.add_argument("--op", choices=("gradient", "hessian", "laplacian", "log", "blobs"),
                   default="gradient", help="analysis (default: gradient)")
    p.add_argument("--out", metavar="OUT.png", default=None,
                   help="figure to write (default: <image name>_<op>.png)")
    p.add_argument("--sigma", type=_positive_float, default=2.0,
                   help="scale of hessian and log, in pixels (default: 2)")
    p.add_argument("--min-sigma", type=_positive_float, default=2.0,
                   help="smallest blob scale (default: 2)")
    p.add_argument("--max-sigma", type=_positive_float, default=10.0,
                   help="largest blob scale (default: 10)")
    p.add_argument("--threshold", type=_non_negative_float, default=0.1,
                   help="blob threshold on the scale-normalised LoG of the image scaled to "
                        "[0, 1] (default: 0.1)")
    p.set_defaults(run=_filters)


def _bench_parser(commands) -> None:
    p = commands.add_parser(
        "bench", help="run the benchmark suite against PyTorch/SciPy",
        description="Time fastseg's kernels, and PyTorch's / SciPy's on the same inputs in the "
        "same run: median time, GFLOP/s or GB/s, percent of the machine's measured peak and "
        "speed ratios; writes the results as JSON and a chart of the ratios as PNG.")
    p.add_argument("--filter", default=None, metavar="REGEX",
                   help="run only the cases whose name matches (default: all cases)")
    p.add_argument("--compare", default="torch,scipy",
                   help="comma-separated peers to time in the same run, when installed; '' for "
                        "none (default: torch,scipy)")
    p.add_argument("--repeat", type=_positive_int, default=7,
                   help="timed calls per case, of which the median is kept (default: 7)")
    p.add_argument("--quick", action="store_true",
                   help="one timed call per case, a smoke test (default: off)")
    p.add_argument("--json", default="bench-results/bench.json", metavar="PATH",
                   help="where to write the results (default: bench-results/bench.json)")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="chart of the speed ratios vs the peers per case; '' for none "
                        "(default: the JSON path with .png)")
    p.set_defaults(run=_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastseg", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_train_parser, _segment_parser, _style_parser, _filters_parser, _bench_parser):
        add(commands)
    return parser


def main(argv=None) -> int:
    from .train import Interrupted

    args = build_parser().parse_args(argv)
    name = f"fastseg {args.command}"
    try:
        return args.run(args)
    except InputError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"{name}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
