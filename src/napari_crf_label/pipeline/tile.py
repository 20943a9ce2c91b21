"""One tile task: read its window, give the CRF its unary, keep the core's labels."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..crf import drain
from ..resample import upsample_argmax
from ..strokes import downscale_strokes
from ..tiling import TileTask
from .cache import CRFCache, cached_infer
from .classifier import classifier_probabilities, scene_extent
from .plan import RunSpec, read_tile
from .priors import CoarsePrior, feature_prior
from .settings import PRIOR_WEIGHT


@dataclass
class TileResult:
    """Labels of one tile's core at full resolution and its probabilities at CRF resolution."""

    task: TileTask
    labels: np.ndarray
    probabilities: np.ndarray


def iter_tile(source: Any, task: TileTask, spec: RunSpec, prior: CoarsePrior | None = None,
              cache: CRFCache | None = None, base: tuple = ()) -> Generator[None, None, TileResult]:
    """Label one tile task, yielding after every CRF iteration; return its TileResult."""
    valid, strokes, image_c = read_tile(source, task, spec)
    crf_shape = image_c.shape[:2]
    strokes_c = downscale_strokes(strokes, crf_shape)
    n = spec.n_classes
    if n == 1:
        q = np.ones((1, *crf_shape), np.float32)
    elif spec.classifier is not None:
        q = classifier_probabilities(spec, image_c, scene_extent(task.outer, source.shape), cache, base, task.index)
        if spec.method == "features+crf":
            params = spec.classifier.params
            if prior is not None:  # what a pixel looks like, times which strokes it is connected to
                q = feature_prior(q, prior.sample(task.outer, crf_shape), params.confidence_power,
                                  params.area_balance, shares=prior.shares)
            weight = params.prior_weight
            # no warm start: the last marginals pin a newly painted class down (a measured 67 % instead of
            # 99 % on tests/test_preview.py's scene); the unary changes with the classifier anyway
            q = yield from cached_infer(cache, base, task.index, image_c, strokes_c, spec,
                                        weight * q + (1 - weight) / n, warm=False)
    else:
        unary_prior = None
        if prior is not None:
            unary_prior = prior.sample(task.outer, crf_shape)
            if strokes_c.any():  # the tile's own strokes lead; the coarse pass fills in
                unary_prior = PRIOR_WEIGHT * unary_prior + (1 - PRIOR_WEIGHT) / n
        q = yield from cached_infer(cache, base, task.index, image_c, strokes_c, spec, unary_prior)
    rows, cols = task.core_in_outer
    labels = upsample_argmax(q, task.outer.shape, rows, cols)
    core_strokes, core_valid = strokes[rows, cols], valid[rows, cols]
    labels[core_strokes > 0] = core_strokes[core_strokes > 0]
    labels[~core_valid] = 0
    if not spec.keep_probabilities:
        return TileResult(task, labels, np.zeros((n, 0, 0), np.float32))
    # the core's share of the CRF grid, aligned with the scene's CRF grid
    r = np.arange(round(task.core.y0 * spec.scale), round(task.core.y1 * spec.scale)) - round(
        task.outer.y0 * spec.scale)
    c = np.arange(round(task.core.x0 * spec.scale), round(task.core.x1 * spec.scale)) - round(
        task.outer.x0 * spec.scale)
    return TileResult(task, labels, _take(q, r, c))


def _take(q: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Return ``q[:, rows][:, :, cols]``, rows and columns clipped to ``q``: a view when both are ranges inside it.

    At full resolution the core's rows and columns are a range of the
    tile's: a view then saves two copies of the tile's probabilities.
    """
    def inside_range(index: np.ndarray, n: int) -> bool:
        return index.size > 0 and 0 <= index[0] and index[-1] < n and bool(np.all(np.diff(index) == 1))

    if inside_range(rows, q.shape[1]) and inside_range(cols, q.shape[2]):
        return q[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return q[:, np.clip(rows, 0, q.shape[1] - 1)][:, :, np.clip(cols, 0, q.shape[2] - 1)]


def run_tile(source: Any, task: TileTask, spec: RunSpec, prior: CoarsePrior | None = None) -> TileResult:
    """Label one tile task to the end (the function worker processes run)."""
    return drain(iter_tile(source, task, spec, prior))
