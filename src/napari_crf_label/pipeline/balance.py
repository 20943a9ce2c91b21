"""The scene's class shares that the ``features+crf`` prior's area balance divides by, for tiled runs.

The area balance (:func:`~napari_crf_label.pipeline.combine.feature_prior`)
divides each class by its expected share, so that a class covering little
of the image is not smoothed away. Measured per tile, neighbouring tiles
weigh the classes differently and their labels meet in a straight seam
where two classes are close (a 4 MP photo: 263 pixels of column 1023
differed from column 1024, against 6 in one tile). A tiled run therefore
takes one share per class for the whole scene, estimated before the tiles
on the held-out check's small grid by the same prior made there: a small
forest trained on all the strokes, times the proximity to them. When
classes are taught by other images' samples (a project), that small forest
knows none of them: the run's own classifier, trained on both, estimates
the shares instead once it is trained (:func:`carried_shares`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..features import FeatureParams
from ..geodesic import proximity
from ..tiling import Tile
from .cache import CRFCache, fingerprint, memo
from .classifier import classifier_probabilities, scene_extent
from .combine import feature_prior
from .distances import kept_costs, kept_distances
from .holdout import HOLDOUT_PIXELS, HOLDOUT_TREES, check_grid, fold_probabilities, grid_features
from .plan import Plan, crf_size


def scene_shares(image: np.ndarray, strokes: np.ndarray, n: int, params: FeatureParams, reach: float,
                 growth: float, cache: CRFCache | None = None, base: tuple = ()) -> np.ndarray:
    """Return each class's expected share of the scene under the ``features+crf`` prior, before its area balance.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C)
        The whole scene on a coarse grid (the proximity's).
    strokes : ndarray of int, shape (H, W)
        The strokes on the same grid (0 = none, k = class k).
    n : int
        Number of classes.
    params : FeatureParams
        The run's feature settings; the forest has at most
        :data:`~napari_crf_label.pipeline.holdout.HOLDOUT_TREES` trees, on
        the check's grid (:func:`~napari_crf_label.pipeline.holdout.check_grid`).
    reach : float
        The proximity's reach in pixels of ``image``'s grid.
    growth : float
        The proximity's growth the run uses (the held-out check's choice).
    cache, base
        Keep the result (and the check's features and edge costs, which the
        same grid shares) for a re-run.

    Returns
    -------
    ndarray of float, shape (N,)
        The mean of each class's prior over the scene, as the tile of a
        one-tile run measures it over itself.
    """
    small, marks, g = check_grid(image, strokes)
    reach_small = reach * g

    def compute() -> np.ndarray:
        features = grid_features(small, params, cache, base)
        costs = kept_costs(small, params.edge_weight, params.edge_sigma, cache, base, ("holdout", "costs"))
        d = kept_distances(small, marks, n, params.edge_weight, params.edge_sigma, cache, base, "shares", costs)
        p = fold_probabilities(features, marks, n, replace(params, n_trees=min(params.n_trees, HOLDOUT_TREES)))
        q = feature_prior(p, proximity(d, reach_small, growth), params.confidence_power, 0.0)
        return q.reshape(n, -1).mean(axis=1)

    return memo(cache, base, "shares", (fingerprint(small, marks), params, reach_small, growth), compute)


def carried_shares(source: Any, plan: Plan, near: Any, params: FeatureParams) -> np.ndarray:
    """Return each class's expected share of the scene for a tiled run with classes carried from other images.

    The run's classifier (``plan.spec.classifier``, trained on this image's
    strokes and the samples of the project's other images) labels the whole
    scene on the held-out check's grid, times the scene's proximity
    ``near`` (a :class:`~napari_crf_label.pipeline.priors.CoarsePrior`):
    without these shares each tile divided by its own, and a project's tiled
    images met in seams (the bundled sample in four tiles, drafted from its
    own samples: 45 label changes across the tile borders against 23 in one
    tile).
    """
    height, width = source.shape
    g = min(1.0, (HOLDOUT_PIXELS / (height * width)) ** 0.5)
    shape = crf_size((height, width), g)
    image, _ = source.overview(shape, plan.spec.stretch)
    whole = Tile(0, height, 0, width)
    p = classifier_probabilities(plan.spec, image, scene_extent(whole, (height, width)))
    q = feature_prior(p, near.sample(whole, shape), params.confidence_power, 0.0)
    return q.reshape(len(q), -1).mean(axis=1)
