"""Sparse annotation strokes: an integer H x W array, 0 = none, k = class k."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["StrokesError", "validate_strokes", "check_stroke_classes", "read_strokes", "downscale_strokes"]


class StrokesError(InputError):
    """Strokes are missing, of the wrong shape, or hold values that are not classes."""


def validate_strokes(strokes: np.ndarray, shape: tuple[int, int], n_classes: int | None = None) -> np.ndarray:
    """Check a stroke array and return it as int32.

    Parameters
    ----------
    strokes : array_like of int, shape (H, W)
        0 = not annotated, k = class k (1-based).
    shape : (int, int)
        Height and width of the image.
    n_classes : int, optional
        Number of classes; values above it are an error.

    Raises
    ------
    StrokesError
        Wrong number of dimensions or shape, non-integer values, negative
        values, values above ``n_classes``, or no strokes at all.

    """
    arr = np.asarray(strokes)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise StrokesError(f"strokes must be a 2-D label image (H x W), got shape {arr.shape}")
    if arr.shape != tuple(shape):
        raise StrokesError(f"strokes are {arr.shape[0]} x {arr.shape[1]} pixels but the image is "
                           f"{shape[0]} x {shape[1]}; they must match")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise StrokesError("strokes must hold whole class numbers (0 = none, 1..N)")
    elif arr.dtype.kind not in "uib":
        raise StrokesError(f"strokes dtype {arr.dtype} is not an integer type")
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo < 0:
        raise StrokesError(f"strokes hold negative values (min {lo}); use 0 for 'not annotated' and 1..N for classes")
    if n_classes is not None:
        check_stroke_classes(hi, n_classes)
    if hi == 0:
        raise StrokesError("no strokes: paint at least one stroke (label > 0) before running")
    return arr.astype(np.int32)


def check_stroke_classes(highest: int, n_classes: int) -> None:
    """Raise StrokesError if the highest stroke value names a class beyond the ``n_classes`` defined."""
    if highest > n_classes:
        raise StrokesError(f"strokes hold class {highest} but only {n_classes} classes are defined")


def read_strokes(path: str | Path) -> np.ndarray:
    """Read strokes from a PNG/TIFF label image (one band) or a saved session.

    Returns
    -------
    ndarray of int32, shape (H, W)

    """
    path = Path(path)
    if not path.is_file():
        raise StrokesError(f"{path}: strokes file not found")
    if path.suffix.lower() == ".npz":
        from .io.session import load_session

        return load_session(path).strokes.astype(np.int32)
    from .image_io import ImageReadError, read_image

    try:
        data = read_image(path)
    except ImageReadError as exc:
        raise StrokesError(f"cannot read strokes: {exc}") from None
    if data.array.shape[2] != 1:
        raise StrokesError(f"{path}: strokes must be a single-band label image (0 = none, k = class k), "
                           f"got {data.array.shape[2]} bands")
    return data.array[..., 0].astype(np.int32)


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
