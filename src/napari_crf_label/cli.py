"""Command line: ``napari-crf-label run`` and ``napari-crf-label demo``."""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from .classes import ClassSet, read_class_files
from .crf import CRFParams
from .errors import InputError, OutputExistsError
from .export import export_all
from .image_io import read_image
from .labelling import label_image
from .sample import sample_files
from .strokes import read_strokes

__all__ = ["main"]


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Add the options shared by ``run`` and ``demo``."""
    p.add_argument("-o", "--outdir", type=Path, help="output folder (default: next to the image)")
    p.add_argument("-w", "--window", type=int, help="tile size in pixels (default: 2048 at CRF resolution)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: an eighth of the window)")
    p.add_argument("-s", "--scale", type=float, default=1.0, help="downscale factor for the CRF, 0 < s <= 1")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    defaults = CRFParams()
    crf = p.add_argument_group("CRF parameters")
    for name, value in defaults.as_dict().items():
        crf.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(value), default=value,
                         help=f"(default {value})")


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    parser = argparse.ArgumentParser(
        prog="napari-crf-label",
        description="Turn sparse class strokes into a dense label image with a fully connected CRF.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="label one image from its strokes and write all outputs")
    run.add_argument("image", type=Path, help="jpg/png/tif image or GeoTIFF")
    run.add_argument("--strokes", type=Path, required=True,
                     help="label image (PNG/TIFF, 0 = none, k = class k) or a saved *_session.npz")
    classes = run.add_mutually_exclusive_group()
    classes.add_argument("--classes", help="comma-separated class names, e.g. water,sand,veg")
    classes.add_argument("--labels", type=Path, help="labels file: one class name a line")
    run.add_argument("--colors", type=Path, help="colors file: one color a line (with --labels)")
    _add_run_options(run)
    demo = sub.add_parser("demo", help="run on the bundled example and write all outputs")
    _add_run_options(demo)
    return parser


def _progress(done: int, total: int) -> None:
    """Print tile progress on one terminal line."""
    print(f"\rCRF tiles {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def _classes(args: argparse.Namespace) -> ClassSet | None:
    """Return the classes the user gave (None: from the strokes or session)."""
    if args.colors and not args.labels:
        raise InputError("--colors needs --labels")
    if args.labels:
        return read_class_files(args.labels, args.colors)
    if args.classes:
        return ClassSet.from_names(args.classes)
    return None


def _run(image_path: Path, strokes_path: Path, classes: ClassSet | None, args: argparse.Namespace) -> int:
    """Label one image, write the outputs and print their paths."""
    data = read_image(image_path)
    if classes is None and strokes_path.suffix.lower() == ".npz":
        from .session import load_session

        classes = load_session(strokes_path).classes
    strokes = read_strokes(strokes_path)
    outdir = args.outdir if args.outdir is not None else image_path.parent
    outdir.mkdir(parents=True, exist_ok=True)
    crf = {k: getattr(args, k) for k in CRFParams().as_dict()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = label_image(data, strokes, classes=classes, window=args.window, overlap=args.overlap,
                             scale=args.scale, progress=_progress, **crf)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    paths = export_all(result, data, outdir, overwrite=args.overwrite)
    print(f"labelled {image_path} in {result.seconds:.1f} s ({result.params['tiles']} tile(s))")
    for p in paths.values():
        print(p)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-crf-label`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            sample = sample_files()
            if args.outdir is None:
                args.outdir = Path(tempfile.mkdtemp(prefix="napari-crf-label-demo-"))
            print(f"demo: {sample.image.name} with {sample.strokes.name}; outputs in {args.outdir}")
            return _run(sample.image, sample.strokes, read_class_files(sample.labels, sample.colors), args)
        return _run(args.image, args.strokes, _classes(args), args)
    except (InputError, OutputExistsError, OSError) as exc:
        print(f"napari-crf-label: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("napari-crf-label: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
