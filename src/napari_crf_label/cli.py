"""Command line: ``napari-crf-label run``, ``demo`` and ``project`` (:mod:`.cli_project`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._run_progress import TILE_STAGES
from .classes import ClassSet, read_class_files
from .cli_project import add_project_parser, project_command
from .crf import DEFAULT_ENGINE, ENGINES, CRFParams
from .errors import InputError, MissingClassesWarning, OutputExistsError
from .features import FeatureParams
from .guided import SUGGESTED_POINTS, places_csv, suggest_points, unmarked_missing
from .image_io import read_image
from .io.atomic import Terminated, atomic_path, check_targets, created_folder, terminate_as_interrupt
from .io.export import check_export, export_all
from .io.session import session_facts
from .kernels import prepare, ready
from .pipeline import DEFAULT_METHOD, METHODS, label_image
from .pipeline.inputs import PROXIMITY_CHOICES
from .progress import reporting
from .resources import available_memory, estimate_run_bytes
from .sample import sample_files
from .strokes import read_strokes

__all__ = ["main"]

#: TIFF inputs whose in-memory run would need more than this many bytes (estimated) are labelled
#: window by window (``--stream``): the in-memory path holds the scene's probabilities for the .mat
#: export (4 bytes per pixel and class), which alone passes 1.6 GB at 100 MP with 4 classes.
STREAM_BYTES = 2_500_000_000


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Add the options shared by ``run`` and ``demo``."""
    p.add_argument("-o", "--outdir", type=Path, help="output folder (default: next to the image)")
    p.add_argument("-w", "--window", type=int, help="largest tile in pixels (default: 1024 at CRF resolution)")
    p.add_argument("--overlap", type=int,
                   help="context read around each tile, in pixels (default: twice the CRF's appearance kernel "
                        "width at CRF resolution: 43 for the default method, 128 for crf)")
    p.add_argument("-s", "--scale", type=float,
                   help="downscale factor for the CRF, 0 < s <= 1 (default 1: full resolution)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--method", choices=METHODS,
                   help="features+crf (default): a pixel classifier trained on the strokes and the distance to "
                        "them across edges give the CRF's prior; crf: the CRF on the strokes alone; "
                        "features: the classifier alone")
    p.add_argument("--reach", type=float,
                   help="features+crf: how far (CRF pixels of uniform ground) a class's strokes reach before "
                        f"their pull fades (default {FeatureParams.reach:g}); raise it when a class is missed far "
                        "from its strokes")
    p.add_argument("--proximity", choices=PROXIMITY_CHOICES,
                   help="features+crf: auto (default) checks with some of your stroke pieces held out whether "
                        "the distance to the strokes helps this image or should fade fast; kept or faded skip "
                        "the check")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help="dense CRF engine (default %(default)s); pydensecrf needs the pydensecrf extra")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes for the tiles (a local dask cluster when > 1); default: the tiles "
                        "run on threads of this process, one per core")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the tiles on an existing dask cluster, e.g. tcp://10.0.0.5:8786")
    defaults = CRFParams()
    crf = p.add_argument_group("CRF parameters")
    for name, value in defaults.as_dict().items():
        crf.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(value), help=f"(default {value})")
    p.epilog = ("With a saved *_session.npz as --strokes, the settings it was made with (scale, window, method, "
                "reach, the CRF's, and the proximity the run chose) are the defaults: the run remakes the panel's "
                "result; options given here win.")


def _usable(key: str, value: Any) -> bool:
    """Return whether a session's saved ``value`` of setting ``key`` can be given to a run."""
    if key == "method":
        return value in METHODS
    if key in ("window", "overlap"):
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _run_settings(args: argparse.Namespace, saved: dict) -> tuple[dict, list[str]]:
    """Return the run's settings and the names of those taken from a session's ``saved`` parameters.

    An option given on the command line wins; else the session's value
    (strokes given as a session: the same result as the panel's, trial 35
    found 8 % of the pixels different); else the default. The proximity the
    session's run chose is taken only with its method and reach.
    """
    defaults = {"scale": 1.0, "window": None, "overlap": None, "method": DEFAULT_METHOD,
                "reach": FeatureParams.reach, **CRFParams().as_dict()}
    settings, taken = {}, []
    for key, default in defaults.items():
        given, value = getattr(args, key), saved.get(key)
        if given is not None or key not in saved or not _usable(key, value):
            settings[key] = given if given is not None else default
        else:
            settings[key] = value
            taken.append(key)
    chosen = saved.get("proximity")
    if args.proximity is not None:
        settings["proximity"] = args.proximity
    elif chosen in ("kept", "faded") and settings["method"] == saved.get("method") and \
            settings["reach"] == saved.get("reach"):
        settings["proximity"] = chosen
        taken.append("proximity")
    else:
        settings["proximity"] = "auto"
    return settings, taken


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
                          "writes only <stem>_label.tif and <stem>_report.txt. Automatic when a run in memory "
                          f"would need over {STREAM_BYTES / 1e9:.1f} GB (or half the free memory), about 40 MP "
                          "of RGB with 4 classes")
    run.add_argument("--places", type=int, default=0, metavar="N",
                     help="also write <stem>_places.csv: the N places where the result is least sure (row, "
                          "column, the class given, map x and y), to paint the right class on and run again; "
                          f"what the panel's Mark places to check rings ({SUGGESTED_POINTS} there)")
    _add_run_options(run)
    demo = sub.add_parser("demo", help="run on the bundled example and write all outputs")
    _add_run_options(demo)
    add_project_parser(sub)
    return parser


#: The stages before the tiles, named on stderr when they start: they take seconds to minutes on a large
#: scene (the training pass reads every painted tile), when the tile bar would show nothing yet.
_STAGE_LINES = {"training": "training the pixel classifier on the strokes...",
                "proximity": "measuring how near each pixel is to each class's strokes...",
                "tiles": "labelling the tiles (features, classifier, CRF)..."}  # any of TILE_STAGES


def _bar_width() -> dict[str, Any]:
    """Return tqdm's size settings for stderr: the terminal's as it changes, or 80 x 24.

    A terminal that reports no size (a new pseudo-terminal, as ``script``
    or some job runners open) would get no bar at all: tqdm hides bars
    below the terminal's last row, and there is no row.
    """
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        size = os.terminal_size((0, 0))
    return {"dynamic_ncols": True} if size.columns > 0 and size.lines > 0 else {"ncols": 80, "nrows": 24}


class _Progress:
    """Tile progress on stderr: a tqdm bar (rate, time left) on a terminal, else one line per tile.

    As a reporter (:meth:`stage`, under ``progress.reporting``), it also
    names the stages before the tiles once each, as they start.
    """

    def __init__(self, desc: str = "CRF tiles") -> None:
        self.desc = desc
        self.start = time.monotonic()
        self.bar = None
        self.shown = -1
        self.tiles_start: float | None = None  # the tiles' rate and time left count from their start
        self._said: set[str] = set()
        self._lock = threading.Lock()  # the stages report from several threads

    def stage(self, name: str, fraction: float) -> None:
        """Print a stage's line when it first reports (before the tile bar has started)."""
        if name in TILE_STAGES:  # reported from inside a tile: the first starts the tiles' line and clock
            if self.tiles_start is None:
                self.tiles_start = time.monotonic()
            name = "tiles"
        if name in _STAGE_LINES and name not in self._said:
            with self._lock:
                if name not in self._said and self.bar is None:
                    self._said.add(name)
                    print(f"{_STAGE_LINES[name]} (at {time.monotonic() - self.start:.0f} s)", file=sys.stderr,
                          flush=True)

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        since = self.tiles_start if self.tiles_start is not None else self.start
        if sys.stderr.isatty():
            if self.bar is None:
                self.bar = tqdm(total=total, desc=self.desc, unit="tile", file=sys.stderr, **_bar_width())
                # the bar starts with the first tile's report, often as that tile ends: time it from the tiles' start
                self.bar.start_t = self.bar.last_print_t = time.time() - (time.monotonic() - since)
            self.bar.total = total
            self.bar.update(done - self.bar.n)
            if done >= total:
                self.bar.close()
        elif done != self.shown:  # a log, not a bar: one line per step
            self.shown = done
            meter = tqdm.format_meter(done, total, time.monotonic() - since, unit="tile",
                                      bar_format="{n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")
            print(f"{self.desc} {meter}", file=sys.stderr, flush=True)  # "3/8 [00:02<00:03, 1.5tile/s]"


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
    saved: dict = {}
    if strokes_path.suffix.lower() == ".npz":
        from .io.session import load_session

        session = load_session(strokes_path)
        classes = session.classes if classes is None else classes
        saved = session.params
    settings, taken = _run_settings(args, saved)
    if taken:
        print(f"settings from {strokes_path.name}: " + ", ".join(f"{k} {settings[k]}" for k in taken),
              file=sys.stderr, flush=True)
    outdir = args.outdir if args.outdir is not None else image_path.parent
    compiled = _prepare_engine(args.engine)
    progress = _Progress()
    common = {**settings, "progress": progress, "workers": args.workers or 1, "client": args.scheduler,
              "engine": args.engine}
    places = getattr(args, "places", 0)
    if places < 0:
        raise InputError(f"--places must be 0 or more, got {places}")
    with reporting(progress.stage):
        if getattr(args, "stream", False) or _wants_stream(image_path, strokes_path, classes):
            if places:  # the streamed run keeps no probabilities to find them in
                raise InputError("--places needs a run in memory: it cannot go with --stream (or a raster this "
                                 "large)")
            return _run_streamed(image_path, strokes_path, classes, outdir, common, args.overwrite, compiled)
        return _run_in_memory(image_path, strokes_path, classes, outdir, common, args.overwrite, compiled,
                              places, saved)


def _prepare_engine(engine: str) -> float:
    """Compile the CRF engine if this installation has not yet, saying so first; return the seconds it took."""
    if ready(engine):
        return 0.0
    print("preparing the CRF engine (first run only: compiling, about 15 s)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    prepare(engine)
    return time.perf_counter() - started


def _summary(image_path: Path, result: Any, compiled: float, streamed: bool = False) -> str:
    """Return the line that says what was labelled and how long it took (and the compile before it, if any)."""
    how = f"{result.params['tiles']} tile(s)" + (", streamed" if streamed else "")
    # the run's own time leaves out the compile announced before it: say both, not a figure that hides it
    first = f"; the engine's one-time compile before it took {compiled:.1f} s" if compiled else ""
    return f"labelled {image_path} in {result.seconds:.1f} s ({how}){first}"


def _warn_missing(result: Any, guided: Any) -> None:
    """Warn of the classes without strokes, but those a guided pass marked absent in every window (as the panel)."""
    missing = unmarked_missing(result.missing_classes, result.classes.names, guided)
    if missing:  # trial 35: road and wood, marked absent in every window, were warned about
        warnings.warn(MissingClassesWarning.about(missing), stacklevel=2)


def _run_in_memory(image_path: Path, strokes_path: Path, classes: ClassSet | None, outdir: Path, common: dict,
                   overwrite: bool, compiled: float = 0.0, places: int = 0, saved: dict | None = None) -> int:
    """Label an image held in memory; write every output (and the ``places`` least sure, if asked).

    ``saved``: the parameters of the session the strokes came from (read once, by :func:`_run`).
    """
    with _warnings_to_stderr():
        data = read_image(image_path)
        strokes = read_strokes(strokes_path, like=data)
        stem = image_path.stem
        protect = [image_path, strokes_path]
        places_path = outdir / f"{stem}_places.csv"
        # outputs are checked before the work: a refusal comes in seconds, not after the run
        check_export(outdir, stem, data.is_georeferenced, overwrite, protect=protect)
        if places:
            check_targets([places_path], overwrite, protect)
        facts = session_facts(saved or {}, data.array.shape[2])
        with created_folder(outdir):
            with warnings.catch_warnings():  # said below, without the classes a guided pass marked absent
                warnings.simplefilter("ignore", MissingClassesWarning)
                result = label_image(data, strokes, classes=classes, **common)
            _warn_missing(result, facts.get("guided"))
            print("writing the outputs (the .mat, the mres figure, the report, the labels)...", file=sys.stderr,
                  flush=True)
            paths = export_all(result, data, outdir, stem, overwrite=overwrite, protect=[strokes_path], **facts)
            if places:
                points = suggest_points(result.probabilities, result.labels.shape, (strokes > 0) | ~data.valid,
                                        count=places)
                with atomic_path(places_path, overwrite) as tmp:  # whole or not at all
                    transform = data.transform if data.is_georeferenced else None
                    tmp.write_text(places_csv(points, result.labels, result.classes.names, transform),
                                   encoding="utf-8")
                paths["places"] = places_path
    print(_summary(image_path, result, compiled))
    for p in paths.values():
        print(p)
    return 0


@contextlib.contextmanager
def _warnings_to_stderr():
    """Print each warning raised in the block as one ``warning:`` line on stderr, as it comes.

    Not Python's form (the source file, its line, the code line under it),
    which a project run printed for every image (trial 27). A warning met
    again is counted, not printed again.
    """
    seen: dict[str, int] = {}

    def show(message: Warning | str, *_: object) -> None:
        # once each: a project run met the same missing class on every image (trial 28)
        text = str(message)
        seen[text] = seen.get(text, 0) + 1
        if seen[text] == 1:
            print(f"warning: {text}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield
    repeats = sum(count - 1 for count in seen.values())
    if repeats:
        print(f"warning: {repeats} repeat(s) of the warning(s) above not shown", file=sys.stderr, flush=True)


def _wants_stream(path: Path, strokes_path: Path, classes: ClassSet | None) -> bool:
    """Return True for a TIFF (with raster strokes) whose run in memory would need more than STREAM_BYTES.

    Or more than half the available memory. Says so on stderr, as the
    streamed run writes fewer files (the label GeoTIFF and a report).
    """
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file() or strokes_path.suffix.lower() == ".npz":
        return False
    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # not georeferenced: fine here
            with rasterio.open(path) as src:  # the header only
                height, width, bands, itemsize = src.height, src.width, src.count, np.dtype(src.dtypes[0]).itemsize
    except Exception:  # unreadable here: read_image gives the one-line reason
        return False
    n = len(classes) if classes is not None else 4
    needed = height * width * bands * itemsize + estimate_run_bytes((height, width), (height, width), 0, n, bands)
    limit = min(STREAM_BYTES, 0.5 * (available_memory() or float("inf")))
    if needed <= limit:
        return False
    print(f"streaming window by window: a run in memory would need about {needed / 1e9:.1f} GB "
          "(writes the label GeoTIFF and a report)", file=sys.stderr, flush=True)
    return True


def _run_streamed(image_path: Path, strokes_path: Path, classes: ClassSet | None, outdir: Path, common: dict,
                  overwrite: bool, compiled: float = 0.0) -> int:
    """Label a raster window by window; write the label GeoTIFF and a report."""
    from .io.atomic import Staging, check_targets
    from .io.export import raster_report_text
    from .pipeline import label_raster

    if image_path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError("--stream needs a TIFF or GeoTIFF image")
    if strokes_path.suffix.lower() == ".npz":
        raise InputError("--stream needs the strokes as a raster of the image's grid, not a session")
    out = outdir / f"{image_path.stem}_label.tif"
    report = outdir / f"{image_path.stem}_report.txt"
    inputs = [image_path, strokes_path]
    check_targets([out, report], overwrite, inputs)
    with _warnings_to_stderr(), created_folder(outdir), Staging(overwrite, inputs) as staging:
        result = label_raster(image_path, strokes_path, out, classes=classes, overwrite=overwrite,
                              staging=staging, **common)
        staging.path(report).write_text(raster_report_text(image_path, strokes_path, result), encoding="utf-8")
    print(_summary(image_path, result, compiled, streamed=True))
    print(out)
    print(report)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-crf-label`` console script."""
    args = _parser().parse_args(argv)
    try:
        with terminate_as_interrupt():  # SIGTERM/SIGHUP clean up like Ctrl-C
            return _command(args)
    except OutputExistsError as exc:
        said = f"output file(s) exist: {', '.join(exc.paths)}; add --overwrite to replace them" if exc.paths else exc
        print(f"napari-crf-label: error: {said}", file=sys.stderr)
        return 2
    except (InputError, OSError) as exc:
        print(f"napari-crf-label: error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"napari-crf-label: terminated ({exc}); nothing was written", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("napari-crf-label: interrupted", file=sys.stderr)
        return 130


def _demo_image(image: Path, outdir: Path) -> Path:
    """Return the demo's input: a copy of the bundled image in ``outdir`` when one can be made.

    The session the demo writes names its image; the installed package's copy
    goes away when the package is reinstalled, a copy beside the outputs does
    not. A different file of that name in ``outdir`` is left alone (the
    package's copy is used then).
    """
    import filecmp
    import shutil

    copy = outdir / image.name
    if copy.exists():
        return copy if copy.is_file() and filecmp.cmp(copy, image, shallow=False) else image
    with created_folder(outdir), atomic_path(copy) as part:
        shutil.copyfile(image, part)
    return copy


def _command(args: argparse.Namespace) -> int:
    """Run the parsed command."""
    if args.command == "project":
        # a missing project file is said at once, not after a first installation's compile
        running = args.project_command == "run" and Path(args.project).is_file()
        compiled = _prepare_engine(DEFAULT_ENGINE) if running else 0.0
        with _warnings_to_stderr():
            code = project_command(args)
        if compiled:
            print(f"(the engine's one-time compile before the run took {compiled:.1f} s)")
        return code
    if args.command == "demo":
        sample = sample_files()
        if args.outdir is None:
            args.outdir = Path(tempfile.mkdtemp(prefix="napari-crf-label-demo-"))
        image = _demo_image(sample.image, args.outdir)
        print(f"demo: {sample.image.name} with {sample.strokes.name}; outputs in {args.outdir}")
        return _run(image, sample.strokes, read_class_files(sample.labels, sample.colors), args)
    return _run(args.image, args.strokes, _classes(args), args)


if __name__ == "__main__":
    sys.exit(main())
