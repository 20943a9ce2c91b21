"""Whole-scene context for every tile: the geodesic proximity to the strokes, or a coarse CRF."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..geodesic import geodesic_distances, proximity
from ..progress import with_progress
from ..resample import bilinear
from ..tiling import Tile
from .cache import CRFCache, cached_infer, fingerprint
from .plan import Plan, crf_size
from .settings import CLASSIFIER_FLOOR, COARSE_PIXELS, GEODESIC_PIXELS


@dataclass(frozen=True)
class CoarsePrior:
    """Whole-scene class probabilities at coarse resolution (or a crop of them).

    Those of a coarse CRF (``crf`` runs) or the geodesic proximity (``features+crf``).
    """

    probabilities: np.ndarray  # (N, h, w) for the crop
    scene_shape: tuple[int, int]  # full-resolution scene size
    coarse_shape: tuple[int, int]  # size of the whole coarse grid
    origin: tuple[int, int] = (0, 0)  # coarse row/column of the crop's first cell

    def crop_for(self, window: Tile) -> CoarsePrior:
        """Return the part of the coarse grid a full-resolution window needs (one cell of margin)."""
        (h, w), (ch, cw) = self.scene_shape, self.coarse_shape
        r0 = max(0, int(np.floor(window.y0 * ch / h)) - 1)
        r1 = min(ch, int(np.ceil(window.y1 * ch / h)) + 1)
        c0 = max(0, int(np.floor(window.x0 * cw / w)) - 1)
        c1 = min(cw, int(np.ceil(window.x1 * cw / w)) + 1)
        oy, ox = self.origin
        crop = self.probabilities[:, r0 - oy:r1 - oy, c0 - ox:c1 - ox]
        return CoarsePrior(np.ascontiguousarray(crop), self.scene_shape, self.coarse_shape, (r0, c0))

    def sample(self, window: Tile, shape: tuple[int, int]) -> np.ndarray:
        """Return (N, *shape) probabilities on a grid of ``shape`` cells spanning ``window``."""
        (h, w), (ch, cw) = self.scene_shape, self.coarse_shape
        ys = window.y0 + (np.arange(shape[0]) + 0.5) * window.shape[0] / shape[0]
        xs = window.x0 + (np.arange(shape[1]) + 0.5) * window.shape[1] / shape[1]
        cy = np.clip(ys * ch / h - 0.5 - self.origin[0], 0, self.probabilities.shape[1] - 1)
        cx = np.clip(xs * cw / w - 0.5 - self.origin[1], 0, self.probabilities.shape[2] - 1)
        y0, x0 = np.floor(cy).astype(int), np.floor(cx).astype(int)
        y1 = np.minimum(y0 + 1, self.probabilities.shape[1] - 1)
        x1 = np.minimum(x0 + 1, self.probabilities.shape[2] - 1)
        wy, wx = (cy - y0).astype(np.float32), (cx - x0).astype(np.float32)
        return bilinear(self.probabilities, (y0, y1, wy), (x0, x1, wx)).astype(np.float32, copy=False)


def feature_prior(probabilities: np.ndarray, near: np.ndarray, confidence_power: float, area_balance: float,
                  floor: float = CLASSIFIER_FLOOR) -> np.ndarray:
    """Return the ``features+crf`` prior: the classifier's probabilities times the proximity, reach by confidence.

    Parameters
    ----------
    probabilities : ndarray of float, shape (N, H, W)
        The pixel classifier's class probabilities.
    near : ndarray of float, shape (N, H, W)
        The geodesic proximity to each class's strokes (:func:`~napari_crf_label.geodesic.proximity`).
    confidence_power : float
        The proximity is raised to ``(1 - c) ** confidence_power``, where c
        is the classifier's confidence (0 for uniform probabilities, 1 for a
        single class): where the classifier is sure, the proximity's pull
        fades, so a confidently recognised instance far from its class's
        strokes (a lone cloud, a roof among trees) is not handed to the
        nearest painted class. 0 keeps the proximity whole everywhere.
    area_balance : float
        Each class is divided by its mean probability over the tile to this
        power, so that a class covering little of the image (buildings among
        land) is not smoothed away by the CRF; 0 turns it off.
    floor : float
        Added to the classifier's probabilities, so that a class it rules out
        can still win where only it is near.

    Returns
    -------
    ndarray of float32, shape (N, H, W)
        Class probabilities summing to 1 per pixel.

    Notes
    -----
    Raising the proximity (a soft minimum of geodesic distances with reach
    R) to the power g is the same as a reach of R / g: the confidence sets
    a per-pixel reach. Tuned on the even half of the quality sets with the
    instance-skipping strokes (``benchmarks/quality/RESULTS.md``).
    """
    n = probabilities.shape[0]
    confidence = np.clip((probabilities.max(axis=0) - 1 / n) / (1 - 1 / n), 0.0, 1.0)
    q = (probabilities + floor) * near ** ((1 - confidence) ** confidence_power)[None]
    q /= np.maximum(q.sum(axis=0, keepdims=True), 1e-30)
    if area_balance:
        share = q.reshape(n, -1).mean(axis=1)  # each class's expected share of the tile
        q *= np.where(share > 0, np.maximum(share, 1e-6) ** -area_balance, 0.0).astype(q.dtype)[:, None, None]
        q /= np.maximum(q.sum(axis=0, keepdims=True), 1e-30)
    return q.astype(np.float32)


def scene_prior(source: Any, plan: Plan, cache: CRFCache | None = None, base: tuple = ()
                 ) -> Generator[tuple[int, int], None, CoarsePrior | None]:
    """Return the whole-scene context every tile takes: geodesic proximity or a coarse CRF (or None)."""
    if plan.spec.n_classes == 1:
        return None
    if plan.spec.method == "features+crf":
        return (yield from _geodesic_prior(source, plan, cache, base))
    return (yield from _coarse_prior(source, plan, cache, base))


def _geodesic_prior(source: Any, plan: Plan, cache: CRFCache | None = None, base: tuple = ()
                    ) -> Generator[tuple[int, int], None, CoarsePrior]:
    """Compute the geodesic proximity to the strokes over the whole scene (at most GEODESIC_PIXELS).

    One scene-wide grid, so that a tile also knows the strokes of its
    neighbours; the reach is kept in CRF pixels on a coarser grid. A
    ``cache`` keeps each class's distances: a re-run recomputes only the
    classes whose strokes changed on this grid.
    """
    height, width = source.shape
    f = min(plan.spec.scale, (GEODESIC_PIXELS / (height * width)) ** 0.5)
    shape = crf_size((height, width), f)
    image, strokes = source.overview(shape, plan.spec.stretch)
    params = plan.spec.classifier.params
    n = plan.spec.n_classes
    if cache is None:
        distances = geodesic_distances(image, strokes, n, params.edge_weight, params.edge_sigma)
    else:
        image_key = (fingerprint(image), params.edge_weight, params.edge_sigma)
        keys = {k: (image_key, fingerprint(strokes == k)) for k in range(1, n + 1)}
        kept = {k: cache.recall(base, ("proximity", k), key) for k, key in keys.items()}
        distances = geodesic_distances(image, strokes, n, params.edge_weight, params.edge_sigma,
                                       classes=[k for k, d in kept.items() if d is None])
        for k, key in keys.items():
            if kept[k] is None:
                cache.keep(base, ("proximity", k), key, distances[k - 1].copy())
            else:
                distances[k - 1] = kept[k]
    if plan.spec.carried:  # taught by other images, not painted here: as near as the nearest painted class
        painted = np.isfinite(distances).any(axis=(1, 2))
        nearest = distances[painted].min(axis=0) if painted.any() else np.zeros(distances.shape[1:], np.float32)
        for k in plan.spec.carried:
            distances[k - 1] = nearest
    yield 0, len(plan.tasks)
    near = proximity(distances, params.reach * f / plan.spec.scale, params.reach_growth)
    return CoarsePrior(near, (height, width), shape)


def _coarse_prior(source: Any, plan: Plan, cache: CRFCache | None = None, base: tuple = ()
                  ) -> Generator[tuple[int, int], None, CoarsePrior | None]:
    """Run a CRF over the whole scene shrunk to about COARSE_PIXELS (tiled CRF-only runs)."""
    if len(plan.tasks) == 1 or plan.spec.method != "crf":
        return None
    height, width = source.shape
    f = min(1.0, (COARSE_PIXELS / (height * width)) ** 0.5)
    shape = crf_size((height, width), f)
    image, strokes = source.overview(shape, plan.spec.stretch)
    q = yield from with_progress(cached_infer(cache, base, "coarse", image, strokes, plan.spec), 0, len(plan.tasks))
    return CoarsePrior(q, (height, width), shape)


def task_prior(plan: Plan, prior: CoarsePrior | None, i: int) -> CoarsePrior | None:
    """Return the coarse prior crop task ``i`` needs."""
    if prior is None:
        return None
    return prior.crop_for(plan.tasks[i].outer)
