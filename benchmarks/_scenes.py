"""Synthetic and real-image scenes shared by the benchmarks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def synthetic_scene(mp: float, n_classes: int = 4, seed: int = 0, strokes_per_mp: int = 250):
    """Return (image uint8 HxWx3, truth, strokes) of about ``mp`` megapixels.

    Smooth random regions of ``n_classes`` classes, each its own colour plus
    noise; strokes are short horizontal lines inside the true class.
    """
    side = int(round((mp * 1e6) ** 0.5))
    rng = np.random.default_rng(seed)
    field = ndimage.zoom(rng.random((n_classes, 12, 12)), (1, side / 12, side / 12), order=1)[:, :side, :side]
    truth = (field.argmax(0) + 1).astype(np.int32)
    del field
    palette = rng.integers(30, 225, (n_classes + 1, 3))
    image = np.clip(palette[truth] + rng.normal(0, 15, (side, side, 3)), 0, 255).astype(np.uint8)
    strokes = np.zeros_like(truth)
    n = max(50, int(strokes_per_mp * mp))
    ys, xs = rng.integers(0, side, n), rng.integers(0, max(1, side - 30), n)
    for y, x in zip(ys, xs):
        strokes[y, x:x + 30] = truth[y, x:x + 30]
    return image, truth, strokes


def edit_strokes(strokes: np.ndarray, truth: np.ndarray, seed: int = 1) -> np.ndarray:
    """Return a copy of strokes with one more short stroke, as a user's edit."""
    rng = np.random.default_rng(seed)
    out = strokes.copy()
    y, x = rng.integers(0, strokes.shape[0]), rng.integers(0, strokes.shape[1] - 60)
    out[y, x:x + 60] = truth[y, x:x + 60]
    return out
