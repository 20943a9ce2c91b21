"""Checking what a caller gives a run: method, classes, CRF settings, geometry, strokes on no-data."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from ..checks import finite_number
from ..classes import ClassSet
from ..crf import CRFParams
from ..errors import InputError
from ..features import FeatureParams
from ..image_io import ImageData
from .settings import METHODS

#: Values of the ``proximity`` keyword: the held-out check decides, or the proximity is kept, or it fades fast.
PROXIMITY_CHOICES = ("auto", "kept", "faded")


def feature_params(method: str, reach: float, proximity: str = "auto") -> FeatureParams:
    """Check the method, the proximity's reach and its choice; return the feature settings of the run."""
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not finite_number("reach", reach) > 0:
        raise InputError(f"reach must be > 0 (pixels at CRF resolution), got {reach}")
    if proximity not in PROXIMITY_CHOICES:
        raise InputError(f"proximity must be one of {', '.join(PROXIMITY_CHOICES)}, got {proximity!r}")
    return FeatureParams(reach=float(reach), proximity=proximity)


def with_trees(features: FeatureParams, trees: int | None) -> FeatureParams:
    """Return ``features`` with ``trees`` trees in the pixel classifier's forest (None: as they are)."""
    if trees is None:
        return features
    if isinstance(trees, bool) or not isinstance(trees, (int, np.integer)) or trees < 1:
        raise InputError(f"trees must be a whole number of at least 1, got {trees!r}")
    return replace(features, n_trees=int(trees))


def method_crf_params(params: CRFParams, method: str, features: FeatureParams) -> CRFParams:
    """Return the CRF settings a method runs with.

    ``features+crf`` narrows the appearance kernel's spatial reach to
    ``features.bilateral_share`` of ``sxy_bilateral`` and weakens it to
    ``features.compat_share`` of ``compat_bilateral``: its prior already
    brings the long-range evidence, and the wide, strong kernel smoothed
    small regions of a class away (buildings and trees among land;
    ``benchmarks/quality/RESULTS.md``). It also runs
    ``features.iteration_share`` of the ``iterations`` (at least one):
    started from its prior, the mean field has settled by then.
    """
    if method != "features+crf":
        return params
    return replace(params, sxy_bilateral=params.sxy_bilateral * features.bilateral_share,
                   compat_bilateral=params.compat_bilateral * features.compat_share,
                   iterations=max(1, round(params.iterations * features.iteration_share)))


def method_settings(method: str, features: FeatureParams) -> dict[str, float]:
    """Return the method's own settings to record with a result (the reach of features+crf)."""
    return {"reach": features.reach} if method == "features+crf" else {}


def drop_strokes_on_nodata(strokes: np.ndarray, data: ImageData, classes: ClassSet) -> str | None:
    """Clear strokes on no-data pixels in place, saying per class how many were dropped and why (returned too).

    A nodata value that also occurs as real data (0 in a dark scene) can
    swallow a class's strokes; without this message the user only learns
    that the class "has no strokes".
    """
    message = nodata_strokes_message(strokes, data, classes)
    if message is not None:
        strokes[~data.valid] = 0
    return message


def nodata_strokes_message(strokes: np.ndarray, data: ImageData, classes: ClassSet) -> str | None:
    """Warn per class how many strokes lie on no-data pixels and return that message, changing nothing.

    None when none do; raises InputError when all do (:func:`report_dropped`).
    """
    on_nodata = strokes[~data.valid]
    if not on_nodata.any():
        return None
    n = len(classes)
    dropped = np.bincount(on_nodata, minlength=n + 1)[1:]
    total = np.bincount(strokes.ravel(), minlength=n + 1)[1:]
    return report_dropped(classes, dropped, total, data.profile.get("nodata"))


def report_dropped(classes: ClassSet, dropped: np.ndarray, total: np.ndarray, nodata: float | None) -> str | None:
    """Warn which stroke pixels per class fell on no-data, and return that message (raise InputError when all did)."""
    if not dropped.any():
        return None
    why = (f"pixels equal to the nodata value {nodata:g} in every band" if nodata is not None
           else "no-data pixels (NaN or transparent)")
    parts = [f"{name} {d} of {t}" for name, d, t in zip(classes.names, dropped, total) if d]
    message = f"stroke pixels on {why} were dropped: {', '.join(parts)}"
    if dropped.sum() == total.sum():
        raise InputError(f"all strokes lie on no-data: {message}; paint on the image or fix its nodata value")
    warnings.warn(message, stacklevel=4)
    return message


def resolve_classes(classes: ClassSet | list[str] | tuple[str, ...] | str | None, strokes_max: int) -> ClassSet:
    """Return a ClassSet from what the caller gave (None: one class per stroke value)."""
    if classes is None:
        return ClassSet.from_names([f"class{k}" for k in range(1, max(strokes_max, 2) + 1)])
    if isinstance(classes, ClassSet):
        return classes
    return ClassSet.from_names(classes)


def check_crf_params(values: dict) -> CRFParams:
    """Return CRFParams from keyword values, each a finite number (then range-checked by CRFParams)."""
    fields = CRFParams().as_dict()
    for name, value in values.items():
        if name in fields:
            finite_number(name, value, integer=isinstance(fields[name], int))
    try:
        return CRFParams(**values)
    except TypeError as exc:
        raise InputError(f"unknown CRF parameter: {exc}") from None


def check_geometry(scale: float, window: int | None, overlap: int | None,
                    shape: tuple[int, int] | None = None, workers: int = 1) -> None:
    """Raise InputError for a bad scale, window, overlap or worker count (for an image of ``shape``)."""
    finite_number("scale", scale)
    if not 0 < scale <= 1:
        raise InputError(f"scale must be > 0 and <= 1, got {scale}")
    if shape is not None and scale * max(shape) < 1:
        raise InputError(f"scale {scale:g} shrinks the {shape[1]} x {shape[0]} image below one pixel; "
                         f"use scale >= {1 / max(shape):.3g}")
    if window is not None and finite_number("window", window, integer=True) < 1:
        raise InputError(f"window must be >= 1 pixel, got {window}")
    if overlap is not None and finite_number("overlap", overlap, integer=True) < 0:
        raise InputError(f"overlap must be >= 0, got {overlap}")
    if finite_number("workers", workers, integer=True) < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
