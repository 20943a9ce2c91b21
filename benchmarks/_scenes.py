"""Synthetic and real-image scenes shared by the benchmarks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from _shared import SHARED as SHARED_DIR


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


def photo_scene(name: str = "orthomosaic.jpg", side: int = 2048, n_classes: int = 4, strokes_per_class: int = 60,
                seed: int = 0):
    """Return (image uint8 side x side x 3, colour classes, strokes) from a real photo of ../shared/data/images.

    Classes are k-means colour clusters (a stand-in truth); strokes are
    40-pixel lines inside uniform parts of each class, as a user paints.
    Raises FileNotFoundError when ../shared is absent.
    """

    from PIL import Image
    from scipy.cluster.vq import kmeans2

    path = SHARED_DIR / "data" / "images" / name
    rgb = np.array(Image.open(path).convert("RGB").resize((side, side), Image.Resampling.BICUBIC))
    centroids, _ = kmeans2(rgb[::8, ::8].reshape(-1, 3).astype(float), n_classes, seed=seed, minit="++")
    dist = ((rgb[..., None, :].astype(np.float32) - centroids[None, None].astype(np.float32)) ** 2).sum(-1)
    classes = (dist.argmin(-1) + 1).astype(np.int32)
    strokes = np.zeros((side, side), np.int32)
    rng = np.random.default_rng(seed)
    for k in range(1, n_classes + 1):
        inside = ndimage.binary_erosion(classes == k, iterations=3)
        ys, xs = np.nonzero(inside[:, :-40])
        for i in rng.choice(len(ys), min(strokes_per_class, len(ys)), replace=False) if len(ys) else []:
            y, x = ys[i], xs[i]
            strokes[y, x:x + 40] = np.where(inside[y, x:x + 40], k, strokes[y, x:x + 40])
    return rgb, classes, strokes
