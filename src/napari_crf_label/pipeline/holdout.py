"""Choosing the proximity's fading per image by holding out pieces of the user's own strokes.

The proximity to the strokes is what makes a street scene work (its
classifier alone is poor) and what loses the unpainted roofs and gardens of
an aerial scene (its classifier alone is better). Nothing in the settings
knows which image is which; the strokes do. Each class's stroke pieces
(connected, after joining pieces closer than a few pixels) are split into
two folds, largest first, alternating; a class painted in one piece always
trains. Per fold the classifier is trained on the other fold's pieces and
the proximity computed from them; the held-out pieces then stand for
instances the user did not paint, and the prior with the proximity and
without it are scored by how many of their pixels they label right
(balanced over classes). The run lets the proximity fade fast only when
the classifier alone is clearly ahead (:func:`check_proximity`); unless
two classes have two pieces each there is nothing to compare and the
proximity stays as it is.

Everything runs on a small grid (:data:`HOLDOUT_PIXELS`), with a smaller
forest, and is seeded: the same image and strokes give the same choice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from ..features import FeatureParams, PixelClassifier, pixel_features
from ..geodesic import proximity
from ..progress import as_stage, checkpoint
from ..resample import resize_bands
from ..strokes import downscale_strokes
from .cache import CRFCache, fingerprint, memo
from .combine import feature_prior
from .distances import kept_costs, kept_distances
from .plan import crf_size

#: Pixel budget of the grid the held-out check runs on.
HOLDOUT_PIXELS = 250_000
#: Trees of the check's forests (the run's own forest keeps ``FeatureParams.n_trees``).
HOLDOUT_TREES = 20
#: Stroke pieces of one class closer than this (pixels of the check's grid) count as one piece:
#: the dabs of one scribble, cut by the downscaling, are not separate instances.
JOIN_PIXELS = 3


@dataclass(frozen=True)
class HoldoutResult:
    """The held-out scores (balanced accuracy, 0..1; NaN without a check) and whether the proximity fades fast.

    ``scores`` are those of the prior with the default proximity and without one.
    """

    scores: np.ndarray
    fade: bool
    margin: float = float("nan")  # the lead the classifier alone needs for the proximity to fade

    def record(self) -> dict[str, object]:
        """Return what a result records of the check: the proximity kept or faded, the two scores, the margin."""
        held = [None if not np.isfinite(v) else round(float(v), 4) for v in self.scores]
        # named, so that the report says which score is which; the margin says why a lead of the classifier
        # alone still kept the proximity (a new user could not tell, trial 25)
        return {"proximity": "faded" if self.fade else "kept",
                "holdout_scores": {"with_proximity": held[0], "classifier_alone": held[1]},
                **({"holdout_margin": self.margin} if np.isfinite(self.margin) else {})}


def check_grid(image: np.ndarray, strokes: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Return a scene and its strokes on the check's grid (at most :data:`HOLDOUT_PIXELS`), and its scale.

    The held-out check and the scene's class shares
    (:mod:`~napari_crf_label.pipeline.balance`) both work there.
    """
    g = min(1.0, (HOLDOUT_PIXELS / (image.shape[0] * image.shape[1])) ** 0.5)
    shape = crf_size(image.shape[:2], g)
    small = image if shape == image.shape[:2] else resize_bands(image, shape)
    return small, downscale_strokes(strokes, shape), g


def grid_features(image: np.ndarray, params: FeatureParams, cache: CRFCache | None = None,
                  base: tuple = ()) -> np.ndarray:
    """Return the features of a scene on the check's grid, kept in ``cache`` for every user of that grid."""
    return memo(cache, base, ("holdout", "features"), (fingerprint(image), params.sigmas, params.texture),
                lambda: pixel_features(image, params.sigmas, texture=params.texture))


def stroke_folds(strokes: np.ndarray, join: int = JOIN_PIXELS) -> np.ndarray:
    """Return per pixel the fold of its stroke piece: 0 or 1, 2 (always trains) or -1 (not painted).

    Each class's pieces (8-connected after a dilation of ``join`` pixels)
    alternate between folds 0 and 1, largest first; a class of one piece is
    fold 2. Deterministic: no random draw.
    """
    fold = np.full(strokes.shape, -1, np.int8)
    structure = np.ones((3, 3), bool)
    for k in np.unique(strokes[strokes > 0]):
        mask = strokes == k
        grown = ndimage.binary_dilation(mask, structure, iterations=join) if join else mask
        comps, n = ndimage.label(grown, structure)
        comps = np.where(mask, comps, 0)
        if n < 2:
            fold[mask] = 2
            continue
        sizes = np.bincount(comps.ravel(), minlength=n + 1)[1:]
        order = np.argsort(-sizes, kind="stable")
        f = np.zeros(n + 1, np.int8)
        f[order + 1] = np.arange(n) % 2
        fold[mask] = f[comps[mask]]
    return fold


def holdout_scores(image: np.ndarray, strokes: np.ndarray, n: int, params: FeatureParams, reach: float,
                   growths: tuple[float, ...], cache: CRFCache | None = None, base: tuple = ()) -> np.ndarray:
    """Return each candidate growth's balanced accuracy on the held-out stroke pieces.

    NaN for every candidate when fewer than two classes have two pieces
    (an object painted in one stroke, its background in several: the
    background's held-out pieces alone cannot tell a good prior from one
    that calls everything background).

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C)
        The scene on the check's grid.
    strokes : ndarray of int, shape (H, W)
        The strokes on the same grid (0 = none, k = class k).
    n : int
        Number of classes.
    params : FeatureParams
        The run's feature settings (sigmas, texture, seed, edge costs,
        confidence power, balance); the forest has at most
        :data:`HOLDOUT_TREES` trees.
    reach : float
        The proximity's reach in pixels of this grid.
    growths : tuple of float
        The proximity's candidate growths (:func:`~napari_crf_label.geodesic.proximity`;
        ``inf``: no proximity, the classifier decides).
    cache : CRFCache, optional
        Keeps the grid's features and each fold's distances per class, so
        that a re-run after an edit recomputes only the edited class's; the
        scores are the same.
    base : tuple
        The run's configuration the cache keeps them for.
    """
    fold = stroke_folds(strokes)
    tested = [k for k in range(1, n + 1) if ((strokes == k) & (fold == 0)).any()]
    if len(tested) < 2:
        # over one class, a prior that calls everything that class scores 1: no evidence either way
        return np.full(len(growths), np.nan)
    small = replace(params, n_trees=min(params.n_trees, HOLDOUT_TREES))
    features = grid_features(image, params, cache, base)
    # per class, the distances to its fold-0 pieces, its fold-1 pieces and its single piece (fold 2)
    costs = kept_costs(image, params.edge_weight, params.edge_sigma, cache, base, ("holdout", "costs"))
    per_fold = []
    for f in (0, 1, 2):  # the proximity stage's progress: five parts, three folds' distances and two forests
        with as_stage("proximity", f / 5, (f + 1) / 5):
            per_fold.append(kept_distances(image, np.where(fold == f, strokes, 0), n, params.edge_weight,
                                           params.edge_sigma, cache, base, ("holdout", f), costs))
    correct = np.zeros((len(growths), n + 1))
    count = np.zeros(n + 1)
    for test in (0, 1):
        train = np.where((fold >= 0) & (fold != test), strokes, 0)
        held = fold == test
        with as_stage("proximity", (3 + test) / 5, (4 + test) / 5):
            p = fold_probabilities(features, train, n, small)
            checkpoint("proximity", 1.0)
        d = np.minimum(per_fold[1 - test], per_fold[2])
        truth = strokes[held]
        count += np.bincount(truth, minlength=n + 1)
        for j, growth in enumerate(growths):
            q = feature_prior(p, proximity(d, reach, growth), params.confidence_power, params.area_balance)
            right = q[:, held].argmax(axis=0) + 1 == truth
            correct[j] += np.bincount(truth[right], minlength=n + 1)
    return (correct[:, tested] / count[tested]).mean(axis=1)


def fold_probabilities(features: np.ndarray, train: np.ndarray, n: int, params: FeatureParams) -> np.ndarray:
    """Return (N, H, W) probabilities of a forest trained on the ``train`` strokes' pixels."""
    rows, cols = np.nonzero(train)
    classifier = PixelClassifier(n, params)
    classifier.add_samples(features[rows, cols], train[rows, cols])
    return classifier.fit().predict_proba(features)


def check_proximity(image: np.ndarray, strokes: np.ndarray, n: int, params: FeatureParams,
                    reach: float, cache: CRFCache | None = None, base: tuple = ()) -> HoldoutResult:
    """Return whether a scene's proximity should fade fast, by the held-out check of its strokes.

    The prior with the default proximity (``params.reach_growth``) and
    without one (the classifier decides) are scored on the held-out pieces
    (:func:`holdout_scores`, which keeps what it can in ``cache``); the proximity fades fast
    (``params.holdout_growth``) when the classifier alone is ahead by more
    than ``params.holdout_margin``. The margin is there because held-out
    pieces are all unpainted instances, where the proximity is weakest,
    while most of a scene lies in painted regions, where it is strongest:
    on the tuning half a street frame whose classifier was 0.1 ahead on its
    held-out pieces still lost 11 mean IoU points without the proximity
    (``benchmarks/quality/RESULTS.md``).
    """
    scores = holdout_scores(image, strokes, n, params, reach, (params.reach_growth, np.inf), cache, base)
    fade = bool(np.isfinite(scores).all() and scores[1] - scores[0] > params.holdout_margin)
    return HoldoutResult(scores, fade, params.holdout_margin)
