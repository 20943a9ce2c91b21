"""Command line: ``napari-crf-label run`` and ``napari-crf-label demo``."""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from .classes import ClassSet, read_class_files
from .crf import DEFAULT_ENGINE, ENGINES, CRFParams, engine_ready, prepare_engine
from .errors import InputError, OutputExistsError
from .export import export_all
from .features import FeatureParams
from .image_io import read_image
from .labelling import DEFAULT_METHOD, METHODS, label_image
from .sample import sample_files
from .strokes import read_strokes

__all__ = ["main"]

#: TIFF inputs above this many pixels are labelled window by window (``--stream``).
STREAM_PIXELS = 150_000_000


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Add the options shared by ``run`` and ``demo``."""
    p.add_argument("-o", "--outdir", type=Path, help="output folder (default: next to the image)")
    p.add_argument("-w", "--window", type=int, help="largest tile in pixels (default: 1024 at CRF resolution)")
    p.add_argument("--overlap", type=int,
                   help="context read around each tile, in pixels (default: 128 at CRF resolution)")
    p.add_argument("-s", "--scale", type=float, default=1.0, help="downscale factor for the CRF, 0 < s <= 1")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="features+crf (default): a pixel classifier trained on the strokes and the distance to "
                        "them across edges give the CRF's prior; crf: the CRF on the strokes alone; "
                        "features: the classifier alone")
    p.add_argument("--reach", type=float, default=FeatureParams.reach,
                   help="features+crf: how far (CRF pixels of uniform ground) a class's strokes reach before "
                        "their pull fades (default %(default)g); raise it when a class is missed far from its "
                        "strokes")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help="dense CRF engine (default %(default)s); pydensecrf needs the pydensecrf extra")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes for the tiles (a local dask cluster when > 1; default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the tiles on an existing dask cluster, e.g. tcp://10.0.0.5:8786")
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
    run.add_argument("--stream", action="store_true",
                     help="read and write a (Geo)TIFF window by window (for rasters larger than memory); "
                          "writes only <stem>_label.tif and <stem>_report.txt. Automatic above "
                          f"{STREAM_PIXELS // 1_000_000} MP")
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
    if classes is None and strokes_path.suffix.lower() == ".npz":
        from .session import load_session

        classes = load_session(strokes_path).classes
    outdir = args.outdir if args.outdir is not None else image_path.parent
    outdir.mkdir(parents=True, exist_ok=True)
    if not engine_ready(args.engine):
        print("preparing the CRF engine (first run only: compiling, about 10 s)", file=sys.stderr, flush=True)
        prepare_engine(args.engine)
    crf = {k: getattr(args, k) for k in CRFParams().as_dict()}
    common = {"window": args.window, "overlap": args.overlap, "scale": args.scale, "progress": _progress,
              "workers": args.workers, "client": args.scheduler, "method": args.method,
              "reach": args.reach, "engine": args.engine, **crf}
    if getattr(args, "stream", False) or _is_huge_tiff(image_path):
        return _run_streamed(image_path, strokes_path, classes, outdir, common, args.overwrite)
    data = read_image(image_path)
    strokes = read_strokes(strokes_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = label_image(data, strokes, classes=classes, **common)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    paths = export_all(result, data, outdir, overwrite=args.overwrite)
    print(f"labelled {image_path} in {result.seconds:.1f} s ({result.params['tiles']} tile(s))")
    for p in paths.values():
        print(p)
    return 0


def _is_huge_tiff(path: Path) -> bool:
    """Return True for a TIFF with more than STREAM_PIXELS pixels."""
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return False
    try:
        from .sources import RasterSource

        height, width = RasterSource(path, path).shape
    except InputError:
        return False
    return height * width > STREAM_PIXELS


def _run_streamed(image_path: Path, strokes_path: Path, classes: ClassSet | None, outdir: Path, common: dict,
                  overwrite: bool) -> int:
    """Label a raster window by window; write the label GeoTIFF and a report."""
    from .export import atomic_path, raster_report_text
    from .labelling import label_raster

    if image_path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError("--stream needs a TIFF or GeoTIFF image")
    if strokes_path.suffix.lower() == ".npz":
        raise InputError("--stream needs the strokes as a raster of the image's grid, not a session")
    out = outdir / f"{image_path.stem}_label.tif"
    report = outdir / f"{image_path.stem}_report.txt"
    if report.exists() and not overwrite:
        raise OutputExistsError(f"{report} exists; pass --overwrite to replace it")
    result = label_raster(image_path, strokes_path, out, classes=classes, overwrite=overwrite, **common)
    with atomic_path(report, overwrite=overwrite) as tmp:
        tmp.write_text(raster_report_text(image_path, strokes_path, result), encoding="utf-8")
    print(f"labelled {image_path} in {result.seconds:.1f} s ({result.params['tiles']} tile(s), streamed)")
    print(out)
    print(report)
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
