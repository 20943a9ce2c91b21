"""A smoothed band's derivative features at each pixel, compiled by numba.

Gradient magnitude, Laplacian of Gaussian and the two Hessian eigenvalues
(scale-normalised by sigma and sigma squared) from finite differences of
the smoothed band, with ``np.gradient``'s rules: central differences
inside, one-sided at the ends, 0 along an axis shorter than two pixels.
The second derivatives are differences of the first. Computed per pixel
from its neighbours, the same float32 arithmetic as the numpy expressions
it replaced, without their eight full-size temporaries (0.56 of 0.79 s
of a 1.3 MP RGB tile's features went to them). The whole-image and the
at-points kernels share one per-pixel function, so the features of a
pixel are the same bit for bit whichever computed them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["FEATURES_PER_SCALE", "band_features", "band_features_at"]

#: Features per band and scale: gradient magnitude, LoG and the two Hessian eigenvalues (the smoothed
#: value itself is the caller's).
FEATURES_PER_SCALE = 4


@njit(cache=True, nogil=True)
def _ends(at: int, n: int) -> tuple[int, int]:
    """Return the two positions a derivative at ``at`` of an axis of ``n`` pixels differences (np.gradient's).

    The neighbours inside, the pixel and its one neighbour at an end, the
    one pixel twice on a 1-pixel axis (a difference of 0).
    """
    return max(at - 1, 0), min(at + 1, n - 1)


@njit(cache=True, nogil=True)
def _scaled(diff: np.float32, at: int, n: int) -> np.float32:
    """Return the difference over its distance: 2 pixels inside, 1 at an end."""
    return diff / np.float32(2.0) if 0 < at < n - 1 else diff


@njit(cache=True, nogil=True)
def _d_row(s: np.ndarray, i: int, j: int) -> np.float32:
    """Return ``np.gradient(s, axis=0)[i, j]`` (0 on a 1-row image)."""
    lo, hi = _ends(i, s.shape[0])
    return _scaled(s[hi, j] - s[lo, j], i, s.shape[0])


@njit(cache=True, nogil=True)
def _d_col(s: np.ndarray, i: int, j: int) -> np.float32:
    """Return ``np.gradient(s, axis=1)[i, j]`` (0 on a 1-column image)."""
    lo, hi = _ends(j, s.shape[1])
    return _scaled(s[i, hi] - s[i, lo], j, s.shape[1])


@njit(cache=True, nogil=True)
def _d_row_of_d_row(s: np.ndarray, i: int, j: int) -> np.float32:
    """Return the row derivative of the row derivative at (i, j)."""
    lo, hi = _ends(i, s.shape[0])
    return _scaled(_d_row(s, hi, j) - _d_row(s, lo, j), i, s.shape[0])


@njit(cache=True, nogil=True)
def _d_col_of_d_row(s: np.ndarray, i: int, j: int) -> np.float32:
    """Return the column derivative of the row derivative at (i, j)."""
    lo, hi = _ends(j, s.shape[1])
    return _scaled(_d_row(s, i, hi) - _d_row(s, i, lo), j, s.shape[1])


@njit(cache=True, nogil=True)
def _d_col_of_d_col(s: np.ndarray, i: int, j: int) -> np.float32:
    """Return the column derivative of the column derivative at (i, j)."""
    lo, hi = _ends(j, s.shape[1])
    return _scaled(_d_col(s, i, hi) - _d_col(s, i, lo), j, s.shape[1])


@njit(cache=True, nogil=True, inline="always")
def _write(gy: np.float32, gx: np.float32, hyy: np.float32, hyx: np.float32, hxx: np.float32, sigma: np.float32,
           sigma2: np.float32, out: np.ndarray, p: int) -> None:
    """Write a pixel's four features, from its first and second derivatives, to ``out[:, p]``."""
    half_trace = (hxx + hyy) / np.float32(2.0)
    half_diff = (hxx - hyy) / np.float32(2.0)
    root = np.sqrt(half_diff * half_diff + hyx * hyx)
    out[0, p] = np.float32(np.sqrt(np.float64(gx) * gx + np.float64(gy) * gy)) * sigma
    out[1, p] = (hxx + hyy) * sigma2
    out[2, p] = (half_trace + root) * sigma2
    out[3, p] = (half_trace - root) * sigma2


@njit(cache=True, nogil=True)
def _pixel(s: np.ndarray, i: int, j: int, sigma: np.float32, sigma2: np.float32, out: np.ndarray, p: int) -> None:
    """Write pixel (i, j)'s four features to ``out[:, p]`` (``out`` flattened over pixels)."""
    _write(_d_row(s, i, j), _d_col(s, i, j), _d_row_of_d_row(s, i, j), _d_col_of_d_row(s, i, j),
           _d_col_of_d_col(s, i, j), sigma, sigma2, out, p)


@njit(cache=True, nogil=True, inline="always")  # the hot path (twice as fast inlined); _pixel stays a call
def _inner(s: np.ndarray, i: int, j: int, sigma: np.float32, sigma2: np.float32, out: np.ndarray, p: int) -> None:
    """:func:`_pixel` for a pixel at least two pixels from every edge: central differences only, no branches."""
    two = np.float32(2.0)
    gy, gx = (s[i + 1, j] - s[i - 1, j]) / two, (s[i, j + 1] - s[i, j - 1]) / two
    hyy = ((s[i + 2, j] - s[i, j]) / two - (s[i, j] - s[i - 2, j]) / two) / two
    hyx = ((s[i + 1, j + 1] - s[i - 1, j + 1]) / two - (s[i + 1, j - 1] - s[i - 1, j - 1]) / two) / two
    hxx = ((s[i, j + 2] - s[i, j]) / two - (s[i, j] - s[i, j - 2]) / two) / two
    _write(gy, gx, hyy, hyx, hxx, sigma, sigma2, out, p)


@njit(cache=True, nogil=True)
def _grid(s: np.ndarray, step: int, sigma: np.float32, sigma2: np.float32,
          out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Fill ``out`` (four planes flattened to the kept pixels) for every ``step``-th pixel of ``s``."""
    height, width = s.shape
    cols = (width + step - 1) // step
    first = (2 + step - 1) // step  # the first kept column two pixels from the left edge
    last = (width - 3) // step if width >= 5 else -1  # the last kept column two pixels from the right edge
    for a in range((height + step - 1) // step):
        i = a * step
        if 2 <= i <= height - 3 and first <= last:
            for b in range(first):
                _pixel(s, i, b * step, sigma, sigma2, out, a * cols + b)
            for b in range(first, last + 1):  # the bulk: straight-line code the compiler vectorises
                _inner(s, i, b * step, sigma, sigma2, out, a * cols + b)
            for b in range(last + 1, cols):
                _pixel(s, i, b * step, sigma, sigma2, out, a * cols + b)
        else:
            for b in range(cols):
                _pixel(s, i, b * step, sigma, sigma2, out, a * cols + b)


@njit(cache=True, nogil=True)
def _points(s: np.ndarray, rows: np.ndarray, cols: np.ndarray, sigma: np.float32, sigma2: np.float32,
            out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Fill ``out[:, p]`` for pixel (rows[p], cols[p])."""
    for p in range(rows.size):
        _pixel(s, rows[p], cols[p], sigma, sigma2, out, p)


def band_features(smoothed: np.ndarray, sigma: float, out: np.ndarray, step: int = 1) -> None:
    """Write a smoothed band's four features at every ``step``-th pixel into ``out``.

    Parameters
    ----------
    smoothed : ndarray of float32, shape (H, W)
        The band after a Gaussian of ``sigma``.
    sigma : float
        The Gaussian's width, which scales the features.
    out : ndarray of float32, shape (4, ceil(H / step), ceil(W / step))
        Gradient magnitude * sigma, LoG * sigma**2 and the larger and smaller
        Hessian eigenvalue * sigma**2; C-contiguous planes.
    step : int
        Keep every ``step``-th pixel along each axis (the derivatives still
        see every pixel).
    """
    if not out.flags.c_contiguous:  # written through a flat view
        raise ValueError("out must be C-contiguous")
    flat = out.reshape(FEATURES_PER_SCALE, -1)
    _grid(np.ascontiguousarray(smoothed, np.float32), step, np.float32(sigma), np.float32(sigma**2), flat)


def band_features_at(smoothed: np.ndarray, rows: np.ndarray, cols: np.ndarray, sigma: float) -> np.ndarray:
    """Return the (4, P) features of :func:`band_features` at pixels (rows[p], cols[p])."""
    out = np.empty((FEATURES_PER_SCALE, len(rows)), np.float32)
    _points(np.ascontiguousarray(smoothed, np.float32), np.asarray(rows, np.intp), np.asarray(cols, np.intp),
            np.float32(sigma), np.float32(sigma**2), out)
    return out
