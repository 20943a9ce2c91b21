"""Sparse annotation strokes: an integer H x W array, 0 = none, k = class k."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .classes import MAX_CLASSES
from .errors import InputError

__all__ = ["StrokesError", "validate_strokes", "stroke_classes", "check_stroke_classes", "check_stroke_bands",
           "check_same_grid", "read_strokes", "downscale_strokes", "LOSSY_SUFFIXES"]

#: Stroke files in a lossy format: compression noise turns into extra classes and moved borders.
LOSSY_SUFFIXES = (".jpg", ".jpeg")


class StrokesError(InputError):
    """Strokes are missing, of the wrong shape, or hold values that are not classes."""


def size_mismatch(strokes_shape: tuple[int, ...], image_shape: tuple[int, ...]) -> str:
    """Return the message for strokes of another size than the image: width x height, as the report gives sizes."""
    return (f"strokes are {strokes_shape[1]} x {strokes_shape[0]} pixels (width x height) but the image is "
            f"{image_shape[1]} x {image_shape[0]}; they must match")


def validate_strokes(strokes: np.ndarray, shape: tuple[int, int], n_classes: int | None = None,
                     allow_empty: bool = False) -> np.ndarray:
    """Check a stroke array and return it as int32.

    Parameters
    ----------
    strokes : array_like of int, shape (H, W)
        0 = not annotated, k = class k (1-based).
    shape : (int, int)
        Height and width of the image.
    n_classes : int, optional
        Number of classes; values above it are an error.
    allow_empty : bool
        Accept strokes without any stroke (a draft from other images' samples).

    Raises
    ------
    StrokesError
        Wrong number of dimensions or shape, non-integer values, negative
        values, values above ``n_classes``, or no strokes at all (unless
        ``allow_empty``).

    """
    arr = np.asarray(strokes)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise StrokesError(f"strokes must be a 2-D label image (H x W), got shape {arr.shape}")
    if arr.shape != tuple(shape):
        raise StrokesError(size_mismatch(arr.shape, shape))
    arr = stroke_classes(arr)
    hi = int(arr.max()) if arr.size else 0
    if n_classes is not None:
        check_stroke_classes(hi, n_classes)
    if hi == 0 and not allow_empty:
        raise StrokesError("no strokes: paint at least one stroke (label > 0) before running")
    return arr


def stroke_classes(values: np.ndarray, where: str = "strokes") -> np.ndarray:
    """Check stroke values in their own dtype, then return them as int32.

    The one check every way strokes come in (arrays, files, sessions,
    streamed windows) goes through: values are checked before any cast, so
    1.5 is not read as 1, NaN not as -2147483648 and 4294967295 not as -1.

    Raises
    ------
    StrokesError
        Non-numeric dtype, NaN or infinite values, fractions, negative
        values, or values above :data:`~napari_crf_label.classes.MAX_CLASSES`.

    """
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr.astype(np.int32)
    if arr.dtype.kind not in "uif":
        raise StrokesError(f"{where}: dtype {arr.dtype} is not a number type; use whole class numbers "
                           "(0 = none, 1..N)")
    if arr.size == 0:
        return arr.astype(np.int32)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            raise StrokesError(f"{where}: {int(bad.sum())} pixel(s) are NaN or infinite; use 0 for "
                               "'not annotated' and 1..N for classes")
        frac = arr != np.round(arr)
        if frac.any():
            raise StrokesError(f"{where}: values must be whole class numbers (0 = none, 1..N), found "
                               f"{arr[frac].flat[0]:g} in {int(frac.sum())} pixel(s)")
    lo, hi = arr.min(), arr.max()
    if lo < 0:
        raise StrokesError(f"{where}: negative values (min {lo:.0f}); use 0 for 'not annotated' and 1..N for "
                           "classes")
    if hi > MAX_CLASSES:
        raise StrokesError(f"{where}: value {hi:.0f} is not a class; at most {MAX_CLASSES} classes (1..{MAX_CLASSES}) "
                           "are supported")
    return arr.astype(np.int32)


def check_stroke_bands(bands: int, path: str | Path) -> None:
    """Raise StrokesError unless a stroke file has exactly one band."""
    if bands != 1:
        raise StrokesError(f"{path}: strokes must be a single-band label image (0 = none, k = class k), "
                           f"got {bands} bands")


def check_same_grid(image: tuple, strokes: tuple, strokes_path: str | Path) -> None:
    """Raise StrokesError when a georeferenced stroke raster lies on another map grid than the image.

    Parameters
    ----------
    image, strokes : (crs, transform)
        CRS (or None) and affine transform (or None) of each; a stroke file
        without georeferencing (identity transform, no CRS) is taken to be
        on the image's pixel grid.
    strokes_path : path
        For the message.

    """
    (icrs, itr), (scrs, str_) = image, strokes
    if scrs is None and (str_ is None or str_.is_identity):
        return
    if icrs is not None and scrs is not None and icrs != scrs:
        raise StrokesError(f"{strokes_path}: strokes are in {scrs.to_string()} but the image in "
                           f"{icrs.to_string()}; reproject the strokes onto the image's grid")
    if itr is None or str_ is None:
        return
    pixel = max(abs(itr.a), abs(itr.b), abs(itr.d), abs(itr.e)) or 1.0
    if not itr.almost_equals(str_, precision=1e-3 * pixel):
        raise StrokesError(f"{strokes_path}: strokes lie on another map grid than the image (origin "
                           f"{str_.c:g}, {str_.f:g} vs {itr.c:g}, {itr.f:g}; pixel {str_.a:g} x {str_.e:g} vs "
                           f"{itr.a:g} x {itr.e:g}); resample them onto the image's grid")


def check_stroke_classes(highest: int, n_classes: int) -> None:
    """Raise StrokesError if the highest stroke value names a class beyond the ``n_classes`` defined."""
    if highest > n_classes:
        raise StrokesError(f"strokes hold class {highest} but only {n_classes} classes are defined")


def read_strokes(path: str | Path, like=None) -> np.ndarray:
    """Read strokes from a PNG/TIFF label image (one band) or a saved session.

    Parameters
    ----------
    path : path
        A single-band PNG or TIFF (palette PNGs: the palette indices are
        the classes) or a ``*_session.npz``. JPEG is refused: its
        compression noise invents classes.
    like : ImageData, optional
        The image the strokes belong to: a georeferenced stroke raster must
        then lie on its map grid (same CRS and transform).

    Returns
    -------
    ndarray of int32, shape (H, W)

    """
    path = Path(path)
    if not path.is_file():
        raise StrokesError(f"{path}: strokes file not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        from .io.session import load_session

        return stroke_classes(load_session(path).strokes, str(path))
    if suffix in LOSSY_SUFFIXES:
        raise StrokesError(f"{path}: JPEG strokes are refused: lossy compression adds false classes and moves "
                           "stroke edges; save the strokes as PNG or TIFF")
    if suffix == ".png":
        values = _read_png_values(path)
    else:
        from .image_io import ImageReadError, read_image

        try:
            data = read_image(path)
        except ImageReadError as exc:
            raise StrokesError(f"cannot read strokes: {exc}") from None
        if str(data.profile.get("compress", "")).lower() in ("jpeg", "webp", "lerc"):
            raise StrokesError(f"{path}: the TIFF is {data.profile['compress']}-compressed (lossy), which adds "
                               "false classes; save the strokes without lossy compression")
        check_stroke_bands(data.array.shape[2], path)
        if like is not None:
            check_same_grid((like.crs, like.transform), (data.crs, data.transform), path)
        values = data.array[..., 0]
    return stroke_classes(values, str(path))


def _read_png_values(path: Path) -> np.ndarray:
    """Return the pixel values of a one-band PNG; a palette PNG gives its indices (the classes)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("P", "PA", "LA"):
                im = im.getchannel(0)  # palette indices (or grey), not the colours they show
            mode = im.mode
            values = np.array(im)
    except Exception as exc:  # decoders raise many types; the user needs one message
        raise StrokesError(f"cannot read strokes: {path}: {type(exc).__name__}: {exc}") from None
    check_stroke_bands(1 if values.ndim == 2 else values.shape[2], f"{path} ({mode})")
    return values


def downscale_strokes(strokes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Map strokes onto a coarser grid of ``shape`` keeping every stroke.

    Nearest-neighbour resampling would drop thin strokes; instead each
    painted pixel votes for the coarse cell it falls in (the last class
    written wins where classes meet in one cell).
    """
    height, width = strokes.shape
    if (height, width) == tuple(shape):
        return strokes.astype(np.int32, copy=True)
    out = np.zeros(shape, np.int32)
    ys, xs = np.nonzero(strokes)
    cy = np.minimum(ys * shape[0] // height, shape[0] - 1)
    cx = np.minimum(xs * shape[1] // width, shape[1] - 1)
    out[cy, cx] = strokes[ys, xs]
    return out
