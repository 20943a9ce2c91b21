"""Writing the outputs users of the original tool rely on.

For an image ``<stem>.<ext>`` and an output folder:

- ``<stem>_mres.mat``: ``sparse`` (int32 H x W strokes, 0 = none),
  ``class`` (int32 H x W, 0-based class index, -1 where the image has no
  data), ``preds`` (float32 h x w x N CRF probabilities at CRF resolution),
  ``labels`` (class names as a MATLAB char array; strip padding on load);
- ``<stem>_mres.png``: image | strokes over image | dense label over image;
- ``<stem>_report.txt``: paths, pixel counts, class proportions, times, parameters;
- ``<stem>_label.png``: greyscale uint8, pixel value = class index (1..N, 0 = no data);
- ``<stem>_label.tif`` (georeferenced input only): the same values in the
  input's CRS and affine transform (or its transform alone, or its ground
  control points), uint8, nodata 0;
- ``<stem>_session.npz``: strokes, classes and parameters to resume or redo.

Every file is staged beside its target and placed with the others in one
commit (:mod:`napari_crf_label.io.atomic`), so a failure, an interrupt or
a concurrent export never leaves a half-written or mixed set of outputs;
existing files are only replaced when ``overwrite=True`` and input files
never.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..bands import default_bands
from ..errors import InputError, OutputExistsError
from ..guided import GuidedWalk, coverage_lines, guide_windows, window_coverage
from ..image_io import ImageData, to_crf_uint8
from ..progress import checkpoint
from ..strokes import downscale_strokes
from .atomic import Staging, atomic_path, check_targets, created_folder
from .raster import write_class_table
from .session import SESSION_SUFFIX, Session, save_session

if TYPE_CHECKING:  # labelling is not imported at run time: io/ depends on nothing above it
    from ..classes import ClassSet
    from ..pipeline import LabelResult

__all__ = ["output_paths", "check_export", "export_all", "atomic_path", "Staging", "write_mat", "write_figure",
           "write_report", "write_label_png", "write_label_geotiff", "OutputExistsError"]

#: Longest side of the images drawn in the mres figure (larger scenes are subsampled).
FIGURE_MAX_SIDE = 1600
#: Bounds of the mres figure's height in inches (width 15): very tall or wide images are fitted inside.
FIGURE_MIN_INCHES, FIGURE_MAX_INCHES = 2.5, 12.0


def output_paths(stem: str, outdir: str | Path, georeferenced: bool = False) -> dict[str, Path]:
    """Return the output files for an image stem, keyed by kind."""
    outdir = Path(outdir)
    paths = {
        "mat": outdir / f"{stem}_mres.mat",
        "figure": outdir / f"{stem}_mres.png",
        "report": outdir / f"{stem}_report.txt",
        "label_png": outdir / f"{stem}_label.png",
        "session": outdir / f"{stem}{SESSION_SUFFIX}",
    }
    if georeferenced:
        paths["label_tif"] = outdir / f"{stem}_label.tif"
    return paths


#: The ``.mat``'s probabilities are rounded to steps of 1 / PREDS_STEPS: zlib kept 80 % of float32 probabilities,
#: whose last bits are noise (a 9 MP GeoTIFF of 4 classes gave a 118 MB file, exported in 7.5 s; trial 29);
#: rounded, a 0.5 MP photo's 6.9 MB became 0.3 MB, written 7 times faster.
PREDS_STEPS = 4096


def probability_steps(probabilities: np.ndarray) -> np.ndarray:
    """Return probabilities (0..1) as uint16 counts of 1 / :data:`PREDS_STEPS` (what the ``.mat`` keeps)."""
    steps = np.asarray(probabilities, np.float32) * np.float32(PREDS_STEPS)
    np.round(steps, out=steps)
    return steps.astype(np.uint16)


def from_steps(steps: np.ndarray) -> np.ndarray:
    """Return float32 probabilities from :func:`probability_steps`' counts."""
    out = steps.astype(np.float32)
    out /= np.float32(PREDS_STEPS)
    return out


def write_mat(path: Path, result: LabelResult, overwrite: bool = False,
              staging: Staging | None = None) -> Path:
    """Write the ``.mat`` file the original tutorial reads with ``loadmat``.

    ``preds`` holds the class probabilities at CRF resolution, rounded to
    steps of 1 / :data:`PREDS_STEPS`.
    """
    from scipy.io import savemat

    klass = result.labels.astype(np.int32) - 1
    preds = np.moveaxis(from_steps(probability_steps(result.probabilities)), 0, -1)
    with atomic_path(path, overwrite, staging) as tmp:
        savemat(tmp, {"sparse": result.strokes.astype(np.int32), "class": klass, "preds": preds,
                      "labels": list(result.classes.names)}, do_compression=True)
    return path


def display_rgb(data: ImageData, bands: tuple[int, ...] | None = None) -> np.ndarray:
    """Return an (H, W, 3) uint8 picture of the image: ``bands`` as RGB (or grey), default as the panel shows it."""
    if bands is None:
        bands = default_bands(data)
    u8 = to_crf_uint8(data.array[..., list(bands)], data.valid)
    return np.repeat(u8[..., :1], 3, axis=2) if len(bands) < 3 else u8[..., :3]


def figure_strokes(strokes: np.ndarray, shape: tuple[int, int], shrink: float) -> np.ndarray:
    """Return strokes on a figure grid of ``shape``, widened for a figure shown ``shrink`` times smaller again.

    Plain subsampling would drop most pixels of a 1-3 px stroke: every
    stroke keeps its cells (:func:`~napari_crf_label.strokes.downscale_strokes`),
    then strokes are widened so they stay at least about 2 pixels wide on
    screen (painted cells keep their own class).
    """
    small = downscale_strokes(strokes, shape)
    radius = int(np.ceil(shrink))
    if radius < 1 or not small.any():
        return small
    from scipy.ndimage import grey_dilation

    wide = grey_dilation(small, size=(2 * radius + 1, 2 * radius + 1))
    return np.where(small > 0, small, wide)


def stroke_outlines(strokes: np.ndarray, colors: np.ndarray, width: int) -> np.ndarray:
    """Return an RGBA image of a ring ``width`` cells wide around the strokes, dark or light against each class.

    A stroke drawn half transparent in its class colour vanishes over what
    looks like it (white cloud strokes over clouds, navy strokes on deep
    water); the ring, black around light classes and white around dark
    ones, keeps every stroke visible. ``colors`` is the classes' (N, 3+)
    RGB in 0..1; ``strokes`` 0 = none, k = class k.
    """
    from scipy.ndimage import grey_dilation

    ring = np.zeros((*strokes.shape, 4))
    if width < 1 or not strokes.any():
        return ring
    near = grey_dilation(strokes, size=(2 * width + 1, 2 * width + 1))
    outside = (strokes == 0) & (near > 0)
    luminance = np.asarray(colors)[:, :3] @ np.array([0.299, 0.587, 0.114])
    shade = np.concatenate([[0.0], (luminance <= 0.5).astype(float)])  # 0 black, 1 white; index 0 unused
    ring[outside, :3] = shade[near[outside]][:, None]
    ring[outside, 3] = 1.0
    return ring


def write_figure(path: Path, data: ImageData, result: LabelResult, overwrite: bool = False,
                 staging: Staging | None = None, bands: tuple[int, ...] | None = None) -> Path:
    """Write the three-panel ``mres`` figure with class-name colour bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure

    step = max(1, int(np.ceil(max(result.labels.shape) / FIGURE_MAX_SIDE)))
    rgb = display_rgb(data, bands)[::step, ::step]
    n = len(result.classes)
    cmap = ListedColormap(result.classes.rgba()[:, :3])
    norm = BoundaryNorm(np.arange(0.5, n + 1.5), n)
    # about 1/3 of the figure's 2250 px width per panel: thinner strokes would vanish when drawn
    small = figure_strokes(result.strokes, rgb.shape[:2], rgb.shape[1] / 700)
    strokes = np.ma.masked_equal(small, 0)
    outlines = stroke_outlines(small, result.classes.rgba(), max(1, int(np.ceil(rgb.shape[1] / 1400))))
    labels = np.ma.masked_equal(result.labels[::step, ::step], 0)

    family = class_name_fonts(result.classes.names)
    h, w = rgb.shape[:2]
    # the height follows the aspect ratio within bounds: a 60 x 1 image must not make a 37000 px tall PNG
    height = min(max(4.1 * h / w + 0.6, FIGURE_MIN_INCHES), FIGURE_MAX_INCHES)
    fig = Figure(figsize=(15, height), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    titles = ("image", "strokes", "dense label")
    for ax, title, overlay in zip(axes, titles, (None, strokes, labels)):
        ax.imshow(rgb, interpolation="nearest")
        # every panel gets a colour bar slot so the three images have one size
        ax.imshow(labels if overlay is None else overlay, cmap=cmap, norm=norm,
                  alpha=0.0 if overlay is None else 0.5, interpolation="nearest")
        if overlay is strokes:
            ax.imshow(outlines, interpolation="nearest")
        # the bar shows each class's colour as its colour file gives it, not faded by the overlay's alpha
        cb = fig.colorbar(ScalarMappable(norm, cmap), ax=ax, ticks=np.arange(1, n + 1), fraction=0.046, pad=0.02)
        cb.ax.set_yticklabels(result.classes.names, fontsize=max(5, 9 - n // 5), family=family)
        cb.ax.set_visible(overlay is not None)
        ax.set_title(title)
        ax.set_axis_off()
    with atomic_path(path, overwrite, staging) as tmp, warnings.catch_warnings():
        # class_name_fonts has said, once and in one line, which glyphs no font has
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(tmp, format="png")
    return path


@functools.cache
def _charmap(font_file: str) -> frozenset[int]:
    """Return the code points a font file has glyphs for."""
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(font_file).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def class_name_fonts(names: Iterable[str]) -> list[str] | None:
    """Return the font families to draw class names with: the default plus one that has their glyphs.

    None when the default font has every glyph. When no installed font has
    some glyphs, warn once in one line (matplotlib would warn per glyph and
    draw boxes).
    """
    from matplotlib import font_manager, rcParams

    default = font_manager.findfont(font_manager.FontProperties(family=rcParams["font.family"]))
    wanted = {ord(c) for c in "".join(names) if not c.isspace()}
    missing = wanted - _charmap(default)
    if not missing:
        return None
    for entry in font_manager.fontManager.ttflist:
        if "Last Resort" not in entry.name and missing <= _charmap(entry.fname):  # Last Resort draws boxes
            return [*rcParams["font.family"], entry.name]
    shown = "".join(sorted(chr(c) for c in missing))[:20]
    warnings.warn(f"class names use characters no installed font has ({shown}): the mres figure shows them as "
                  "boxes; install a font that has them (e.g. Noto Sans CJK) to see them", stacklevel=3)
    return None


def report_text(data: ImageData, result: LabelResult, annotation_seconds: float | None = None,
                guided: GuidedWalk | None = None) -> str:
    """Return the text of the report: image, pixels, class proportions, coverage per window, times, parameters.

    ``guided`` (a guided annotation walk) adds the classes marked absent and the time spent per window.
    """
    height, width = result.labels.shape
    valid = int(data.valid.sum())
    lines = [
        "napari-crf-label report",
        f"image: {os.path.abspath(data.path) if data.path is not None else '(array)'}",  # the report may travel
        f"size: {width} x {height} pixels, {data.array.shape[2]} band(s), {data.array.dtype}",
        f"pixels: {height * width} total, {valid} with data",
        f"crs: {data.crs.to_string() if data.crs is not None else 'none'}",
        "",
        "class proportions (of pixels with data):",
    ]
    painted = np.bincount(result.strokes.ravel(), minlength=len(result.classes) + 1)[1:]
    taught = set(result.params.get("taught_by_other_images", ()))
    lines += _class_lines(result.proportions(), result.missing_classes,
                          [f", {int(c)} stroke pixels" + (" here, taught by the project's other images"
                                                          if name in taught else "")
                           for name, c in zip(result.classes.names, painted)])
    lines += ["", f"annotation time: {_seconds(annotation_seconds)}"]
    lines += _coverage_section(result, guided)
    lines += _tail_lines(result.seconds, result.params)
    return "\n".join(lines) + "\n"


def _coverage_section(result: LabelResult, guided: GuidedWalk | None) -> list[str]:
    """Return the report's stroke coverage per window (the guided walk's windows, else the CRF's tiles)."""
    shape = result.labels.shape
    if guided is not None and all(w.y1 <= shape[0] and w.x1 <= shape[1] for w in guided.windows):
        windows, skipped, seconds = guided.windows, guided.skipped, guided.seconds
    else:
        windows, skipped, seconds = guide_windows(shape, result.params.get("core")), set(), None
    coverage = window_coverage(result.strokes, windows, len(result.classes))
    empty = int((coverage.sum(axis=1) == 0).sum())
    head = f"stroke pixels per window ({len(windows)} window(s), {empty} without strokes"
    head += "; time spent in guided annotation):" if seconds is not None else "):"
    return ["", head, *coverage_lines(windows, coverage, result.classes.names, skipped, seconds)]


def _class_lines(proportions: dict[str, float], missing: list[str], extra: list[str] | None = None) -> list[str]:
    """Return the report's per-class lines (and the classes without strokes)."""
    extra = extra or [""] * len(proportions)
    lines = [f"  {k:3d} {name}: {share:.4f} ({share * 100:.2f}%){more}"
             for k, ((name, share), more) in enumerate(zip(proportions.items(), extra), start=1)]
    if missing:
        lines.append(f"classes without strokes (absent): {', '.join(missing)}")
    return lines


def _tail_lines(seconds: float, params: dict) -> list[str]:
    """Return the report's processing time and parameter lines."""
    # an unset window or overlap is the run's default: the core and halo lines give what it was
    shown = {k: "default" if v is None and k in ("window", "overlap") else v for k, v in params.items()}
    return ["", f"processing time: {_seconds(seconds)}", "", "parameters:",
            *(f"  {k}: {_param_text(v)}" for k, v in shown.items())]


def _param_text(value: object) -> str:
    """Return a parameter as the report shows it: a dict as ``name value, ...`` (not Python's repr)."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def raster_report_text(image_path: Path, strokes_path: Path, result) -> str:
    """Return the report of a streamed run (a RasterResult): paths, pixel counts, classes, time, parameters."""
    lines = ["napari-crf-label report (streamed)", f"image: {os.path.abspath(image_path)}",
             f"strokes: {os.path.abspath(strokes_path)}",
             f"pixels: {int(result.counts.sum())} total, {int(result.counts[1:].sum())} with data", "",
             "class proportions (of pixels with data):"]
    lines += _class_lines(result.proportions(), result.missing_classes)
    lines += _tail_lines(result.seconds, result.params)
    return "\n".join(lines) + "\n"


def _seconds(s: float | None) -> str:
    """Format seconds for the report ('not recorded' when unknown)."""
    return "not recorded" if s is None else f"{s:.1f} s"


def write_report(path: Path, data: ImageData, result: LabelResult, annotation_seconds: float | None = None,
                 overwrite: bool = False, staging: Staging | None = None, guided: GuidedWalk | None = None) -> Path:
    """Write the text report."""
    with atomic_path(path, overwrite, staging) as tmp:
        tmp.write_text(report_text(data, result, annotation_seconds, guided), encoding="utf-8")
    return path


def write_label_png(path: Path, labels: np.ndarray, overwrite: bool = False,
              staging: Staging | None = None) -> Path:
    """Write the greyscale label PNG: pixel value = class index, not stretched."""
    from PIL import Image

    with atomic_path(path, overwrite, staging) as tmp:
        Image.fromarray(labels.astype(np.uint8 if labels.max() < 256 else np.uint16)).save(tmp, format="PNG")
    return path


def write_label_geotiff(path: Path, labels: np.ndarray, crs, transform, overwrite: bool = False,
                        staging: Staging | None = None, gcps=None, classes: ClassSet | None = None) -> Path:
    """Write the label as a tiled, compressed uint8 GeoTIFF with nodata 0.

    It carries whatever georeferencing the image had: CRS and transform, a
    transform alone, or ground control points (``gcps``: (points, CRS)),
    and the ``classes``' colours and names
    (:func:`~napari_crf_label.io.raster.write_class_table`).
    """
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    height, width = labels.shape
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1, "dtype": "uint8",
               "crs": crs, "transform": transform, "nodata": 0, "compress": "deflate"}
    if gcps is not None:
        profile.update(crs=None, transform=None)
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with atomic_path(path, overwrite, staging) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # GCP-only files are georeferenced
        with rasterio.open(tmp, "w", **{k: v for k, v in profile.items() if v is not None or k == "crs"}) as dst:
            if gcps is not None:
                dst.gcps = gcps
            if classes is not None:
                write_class_table(dst, classes)
            dst.write(labels.astype(np.uint8), 1)
    return path


def check_export(outdir: str | Path, stem: str, georeferenced: bool = False, overwrite: bool = False,
                 protect: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Check before any work that an export can be written; return its paths.

    Raises
    ------
    OutputExistsError
        Outputs exist and ``overwrite`` is off.
    InputError
        An output would replace an input (``protect``), is a folder, or has
        a name too long for the file system.

    """
    paths = output_paths(stem, outdir, georeferenced)
    check_targets(paths.values(), overwrite, protect)
    return paths


def export_all(result: LabelResult, data: ImageData, outdir: str | Path, stem: str | None = None, *,
               annotation_seconds: float | None = None, overwrite: bool = False,
               protect: Iterable[str | Path] = (), bands: tuple[int, ...] | None = None,
               guided: GuidedWalk | None = None) -> dict[str, Path]:
    """Write every output for one labelled image into ``outdir``.

    Parameters
    ----------
    result : LabelResult
        From :func:`~napari_crf_label.label_image`.
    data : ImageData
        The image (its path gives the default stem; its CRS/transform the GeoTIFF).
    outdir : path
        A writable folder; created (with missing parents) if it does not
        exist, as the command line and the panel do, and removed again if
        the export fails.
    stem : str, optional
        Base of the file names; default the image file's stem.
    annotation_seconds : float, optional
        Time spent painting, for the report.
    overwrite : bool
        Replace existing outputs. When False and any output exists, nothing
        is written and OutputExistsError lists them.
    protect : paths
        Input files (the strokes file...) never to be written over, with or
        without ``overwrite``; the image file is always protected.
    bands : tuple of int, optional
        The bands (0-based) the figure shows as red, green, blue (one for
        grey); default those the panel shows the image in
        (:func:`~napari_crf_label.bands.default_bands`).
    guided : GuidedWalk, optional
        A guided annotation pass: the report's coverage per window then
        uses its windows and adds the classes marked absent and the time
        spent in each window.

    Returns
    -------
    dict of kind -> Path

    """
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"output folder {outdir} is a file, not a folder")
    if stem is None:
        stem = data.path.stem if data.path is not None else "image"
    protect = [*protect, *([data.path] if data.path is not None else [])]
    paths = check_export(outdir, stem, data.is_georeferenced, overwrite, protect)
    # all files appear together, or none on error (or when a checkpoint's reporter cancels)
    with created_folder(outdir), Staging(overwrite, protect) as staging:
        checkpoint("export", 0.0)
        write_mat(paths["mat"], result, overwrite, staging)
        checkpoint("export", 0.3)
        write_figure(paths["figure"], data, result, overwrite, staging, bands=bands)
        checkpoint("export", 0.7)
        write_report(paths["report"], data, result, annotation_seconds, overwrite, staging, guided=guided)
        write_label_png(paths["label_png"], result.labels, overwrite, staging)
        checkpoint("export", 0.8)
        if "label_tif" in paths:
            write_label_geotiff(paths["label_tif"], result.labels, data.crs, data.transform, overwrite, staging,
                                gcps=data.gcps, classes=result.classes)
        checkpoint("export", 0.9)
        params = {**result.params, "annotation_seconds": annotation_seconds}
        if guided is not None:  # the exported session resumes the pass, as the autosave does (trial 31)
            params["guided"] = guided.to_dict()
        if bands is not None:  # and shows the image in the figure's composite again
            params["bands"] = [int(b) for b in bands]
        save_session(paths["session"], Session(strokes=result.strokes, classes=result.classes, params=params,
                                               image_path=str(data.path) if data.path else ""), staging=staging)
    return paths
