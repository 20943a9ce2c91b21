"""Per-pixel multi-scale features and a stroke-trained pixel classifier.

As in ilastik and Doodler: every band is smoothed with Gaussians of several
widths and described by its intensity, gradient magnitude, Laplacian of
Gaussian and the two Hessian eigenvalues at each scale; each band's local
standard deviation and each pair of bands' normalised difference at the
same scales add texture and brightness-free colour (they raised the
classifier alone by 2-8 mean IoU points on the held-out quality sets); then the
pixel's position in the scene. A random forest (as in ilastik) trained on the
stroke pixels predicts class probabilities for every pixel; multiplied
with the geodesic proximity to the strokes (:mod:`~napari_crf_label.geodesic`)
they become the CRF's unary prior
(:func:`~napari_crf_label.crf.unary_from_strokes`); on their own they are
the "classifier only" result.

The forest replaced gradient-boosted trees by measurement (CamVid, 1 %
strokes, tuning half; ``benchmarks/quality/RESULTS.md``): the same mean
IoU after the CRF, and prediction about 30 times faster (with 11 classes,
60 boosting iterations meant 660 trees, about 25 s/MP). Classes are
weighted to balance: a small object with a few strokes would otherwise
lose every doubtful pixel to the class painted most.

Derivatives are finite differences of the smoothed band (scale-normalised
by sigma and sigma squared), which costs one Gaussian filter per band and
scale instead of six.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .derivatives import FEATURES_PER_SCALE, band_features, band_features_at
from .filters import gaussian
from .forest import PackedForest, pack_forest
from .progress import checkpoint

#: Trees of the first training round; later rounds are sized to take about :data:`SECONDS_PER_STEP`.
TREES_PER_STEP = 5
#: Seconds between two cancel checkpoints of the training: each round of trees is a separate fit,
#: whose thread pool and polling cost about 50 ms, half of a small training set's time in rounds of 5.
SECONDS_PER_STEP = 0.25

__all__ = ["FeatureParams", "pixel_features", "pixel_features_at", "smooth_bands", "PixelClassifier",
           "gradient_2d", "cap_per_class", "stroke_samples", "texture_planes",
           "feature_count"]


@dataclass(frozen=True)
class FeatureParams:
    """Feature and classifier settings.

    Attributes
    ----------
    sigmas : tuple of float
        Gaussian scales in pixels at CRF resolution.
    max_samples_per_class : int
        Stroke pixels used for training, per class (random, seeded).
    n_trees : int
        Trees of the random forest.
    tree_samples_per_class : int
        Most samples each tree draws (its bootstrap), per class present: a
        training set up to that size is drawn in full, as a plain random
        forest does; a larger one (thick strokes) is subsampled per tree.
        A tree's time grows with its draw: thick strokes on 4 MP (14 000
        samples of three classes) train in half the time at 2000, within
        0.22 mean IoU of every row of the quality harness
        (``benchmarks/RESULTS.md``, stop 20).
    prior_weight : float
        How much the prior (classifier times geodesic proximity) counts in
        the CRF unary of unpainted pixels (0 = ignore it, 1 = trust it fully).
    edge_weight : float
        Cost of crossing a colour edge in the geodesic distance
        (:func:`~napari_crf_label.geodesic.geodesic_distances`).
    edge_sigma : float
        Gaussian (pixels of the geodesic grid) applied before that colour
        gradient: wide enough that texture inside an object stays cheap.
    reach : float
        Softness of the geodesic proximity
        (:func:`~napari_crf_label.geodesic.proximity`), in CRF pixels.
    reach_growth : float
        How much the proximity's reach grows with the distance to the
        nearest strokes (:func:`~napari_crf_label.geodesic.proximity`; 0 =
        the same reach everywhere).
    confidence_power : float
        How fast the proximity's pull fades where the classifier is sure
        (:func:`~napari_crf_label.pipeline.priors.feature_prior`; 0 = never).
    area_balance : float
        Power of the per-class area balance of the prior (0 = none).
    bilateral_share : float
        Share of the CRF's ``sxy_bilateral`` that ``features+crf`` uses
        (:func:`~napari_crf_label.pipeline.inputs.method_crf_params`).
    compat_share : float
        Share of the CRF's ``compat_bilateral`` that ``features+crf`` uses.
    iteration_share : float
        Share of the CRF's ``iterations`` that ``features+crf`` runs (at
        least one): started from its prior, the mean field has settled
        after half of them (``benchmarks/RESULTS.md``, stop 14).
    holdout_margin : float
        ``features+crf`` lets the proximity fade fast for a scene (growth
        ``holdout_growth`` instead of ``reach_growth``) when, with some of
        each class's stroke pieces held out, the classifier alone labels
        those pieces better than with the proximity by more than this
        balanced accuracy (0..1; :mod:`~napari_crf_label.pipeline.holdout`);
        ``inf`` never checks.
    holdout_growth : float
        The proximity's growth for such a scene (``inf``: no proximity).
    proximity : {"auto", "kept", "faded"}
        "auto" lets the held-out check decide; "kept" and "faded" skip it
        and use ``reach_growth`` or ``holdout_growth`` (what the check chose
        for the scene before: the panel's preview does this).
    texture : bool
        Also the texture and colour features (:func:`texture_planes`):
        each band's local standard deviation and each pair of bands'
        normalised difference, at every scale.
    seed : int
        Seed of the training-sample draw and the classifier.
    """

    sigmas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    max_samples_per_class: int = 5000
    n_trees: int = 50
    tree_samples_per_class: int = 2000
    prior_weight: float = 0.97
    edge_weight: float = 120000.0
    edge_sigma: float = 2.0
    reach: float = 100.0
    reach_growth: float = 0.1
    confidence_power: float = 1.0
    area_balance: float = 0.5
    bilateral_share: float = 1 / 3
    compat_share: float = 0.5
    iteration_share: float = 0.5
    holdout_margin: float = 0.12
    holdout_growth: float = 1.0
    proximity: str = "auto"
    texture: bool = True
    seed: int = 0


def gradient_2d(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the (row, column) finite-difference derivatives of a 2-D array.

    Like ``np.gradient``, but an axis shorter than two pixels (a one-pixel
    wide image) has derivative 0 instead of raising.
    """
    return tuple(np.gradient(a, axis=ax) if a.shape[ax] > 1 else np.zeros_like(a) for ax in (0, 1))


def _positions(height: int, width: int, extent: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Return the scene position (0..1) of each row and of each column of an image lying at ``extent``."""
    top, bottom, left, right = extent
    return ((np.arange(height, dtype=np.float32) + 0.5) / height * (bottom - top) + top,
            (np.arange(width, dtype=np.float32) + 0.5) / width * (right - left) + left)


def smooth_bands(image: np.ndarray, sigmas: tuple[float, ...] = FeatureParams.sigmas) -> np.ndarray:
    """Return the (C, len(sigmas), H, W) float32 Gaussian-smoothed bands (0..1) the features start from.

    Training and prediction both need them: computed once, they can be
    handed to :func:`pixel_features` and :func:`pixel_features_at`.
    """
    height, width, bands = image.shape
    out = np.empty((bands, len(sigmas), height, width), np.float32)
    for b in range(bands):
        band = image[..., b].astype(np.float32) / 255.0
        for j, sigma in enumerate(sigmas):
            out[b, j] = gaussian(band, sigma)
    return out


#: Images with at most this many bands get the normalised difference of every pair of bands; more
#: bands get the pairs of neighbouring bands only (pairs grow as C^2: 12 bands would add 66 planes per scale).
ALL_PAIRS_MAX_BANDS = 6


def _band_pairs(bands: int) -> list[tuple[int, int]]:
    """Return the pairs of bands whose normalised difference is a feature (see :data:`ALL_PAIRS_MAX_BANDS`)."""
    if bands <= ALL_PAIRS_MAX_BANDS:
        return [(a, b) for a in range(bands) for b in range(a + 1, bands)]
    return [(a, a + 1) for a in range(bands - 1)]


def _texture_iter(image: np.ndarray, sigmas: tuple[float, ...], smoothed: np.ndarray,
                  take: Callable[[np.ndarray], np.ndarray] = lambda a: a) -> Iterator[np.ndarray]:
    """Yield the planes of :func:`texture_planes` one at a time (memory: one plane), at the pixels ``take`` picks.

    ``take`` (a subsampling or the stroke pixels) is applied before the
    per-pixel arithmetic, which then runs on those pixels only; the values
    are those of the full planes at the same pixels.
    """
    pairs = _band_pairs(image.shape[2])
    squares = []  # each band's square, made once for all scales
    for b in range(image.shape[2]):
        band = image[..., b].astype(np.float32) / 255.0
        squares.append(band * band)
    for j, sigma in enumerate(sigmas):
        for b, square in enumerate(squares):
            mean_sq = take(gaussian(square, sigma))
            yield np.sqrt(np.maximum(mean_sq - take(smoothed[b, j]) ** 2, 0.0))
        for a, b in pairs:
            sa, sb = take(smoothed[a, j]), take(smoothed[b, j])
            yield (sa - sb) / (sa + sb + np.float32(0.02))


def texture_planes(image: np.ndarray, sigmas: tuple[float, ...] = FeatureParams.sigmas,
                   smoothed: np.ndarray | None = None) -> np.ndarray:
    """Return the (T, H, W) float32 texture and colour features of an (H, W, C) uint8 image.

    Per scale: each band's local standard deviation (the Gaussian-weighted
    spread of its values: rough roofs and gardens against smooth sand and
    asphalt) and, for pairs of bands, the normalised difference of the
    smoothed bands ``(a - b) / (a + b)`` (a brightness-free colour: grey
    road against yellow-grey sand, as NDVI-like ratios do for more bands):
    every pair up to :data:`ALL_PAIRS_MAX_BANDS` bands, neighbouring bands
    above. T = len(sigmas) * (C + pairs). ``smoothed`` as for
    :func:`pixel_features`.
    """
    smoothed = smooth_bands(image, sigmas) if smoothed is None else smoothed
    return np.stack(list(_texture_iter(image, sigmas, smoothed)))


def feature_count(bands: int, sigmas: tuple[float, ...], texture: bool) -> int:
    """Return the number of features F of an image with ``bands`` bands (:func:`pixel_features`)."""
    extra = len(sigmas) * (bands + len(_band_pairs(bands))) if texture else 0
    return bands * (5 * len(sigmas) + 1) + extra + 2


def pixel_features(image: np.ndarray, sigmas: tuple[float, ...] = FeatureParams.sigmas,
                   extent: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0), step: int = 1,
                   smoothed: np.ndarray | None = None, texture: bool = FeatureParams.texture) -> np.ndarray:
    """Return (H, W, F) float32 features of an (H, W, C) uint8 image.

    Per band and sigma: smoothed intensity, gradient magnitude, Laplacian
    of Gaussian and the two Hessian eigenvalues; then the raw bands and
    with ``texture`` the planes of :func:`texture_planes`; then the row
    and column position in the scene, 0..1. ``extent`` (top,
    bottom, left, right, as fractions of the scene) says where the image
    lies in the scene, so that a tile's pixels get scene positions.
    F = :func:`feature_count`. The result is a view of F
    contiguous planes (writing one interleaved array took longer than
    computing the features); :meth:`PixelClassifier.predict_proba` reads
    them block by block. With ``step`` > 1 the result is
    ``pixel_features(image, ...)[::step, ::step]``, bit for bit, at a
    fraction of the cost: the Gaussians still cover the image, the
    derivatives only the kept pixels. ``smoothed`` (from
    :func:`smooth_bands` of the same image and sigmas) saves the Gaussians.
    """
    height, width, bands = image.shape
    n_feat = feature_count(bands, sigmas, texture)
    if texture and smoothed is None:  # the texture planes need every smoothed band too: smooth each once
        smoothed = smooth_bands(image, sigmas)
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    kept = np.s_[::step, ::step]
    rows, cols = -(-height // step), -(-width // step)
    out = np.empty((n_feat, rows, cols), np.float32)  # planes: each feature written as one block
    k = 0
    for b in range(bands):
        band = image[..., b].astype(np.float32) / 255.0
        out[k] = band[kept]
        k += 1
        for j, sigma in enumerate(sigmas):
            s = gaussian(band, sigma) if smoothed is None else smoothed[b, j]
            out[k] = s[kept]
            band_features(s, sigma, out[k + 1:k + 1 + FEATURES_PER_SCALE], step)
            k += 1 + FEATURES_PER_SCALE
            checkpoint("features", k / n_feat)
    if texture:
        for plane in _texture_iter(image, sigmas, smoothed, lambda a: a[kept]):
            out[k] = plane
            k += 1
    row_pos, col_pos = _positions(height, width, extent)
    out[k], out[k + 1] = row_pos[::step, None], col_pos[None, ::step]
    return out.transpose(1, 2, 0)


def pixel_features_at(image: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                      sigmas: tuple[float, ...] = FeatureParams.sigmas,
                      extent: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0),
                      smoothed: np.ndarray | None = None, texture: bool = FeatureParams.texture) -> np.ndarray:
    """Return (P, F) float32 features of P pixels: ``pixel_features(image, ...)[rows, cols]``.

    Training needs the features of the stroke pixels only: the Gaussians
    still cover the image, but the derivatives and texture planes are
    taken at the P pixels alone (:mod:`~napari_crf_label.derivatives`
    computes a pixel's derivatives the same way in both). ``smoothed``
    as for :func:`pixel_features`.
    """
    height, width, bands = image.shape
    rows, cols = np.asarray(rows, np.intp), np.asarray(cols, np.intp)
    out = np.empty((rows.size, feature_count(bands, sigmas, texture)), np.float32)
    if texture and smoothed is None:  # as in pixel_features
        smoothed = smooth_bands(image, sigmas)
    k = 0
    for b in range(bands):
        band = image[..., b].astype(np.float32) / 255.0
        out[:, k] = band[rows, cols]
        k += 1
        for j, sigma in enumerate(sigmas):
            s = gaussian(band, sigma) if smoothed is None else smoothed[b, j]
            out[:, k] = s[rows, cols]
            out[:, k + 1:k + 1 + FEATURES_PER_SCALE] = band_features_at(s, rows, cols, sigma).T
            k += 1 + FEATURES_PER_SCALE
    if texture:
        for plane in _texture_iter(image, sigmas, smoothed, lambda a: a[rows, cols]):
            out[:, k] = plane
            k += 1
    row_pos, col_pos = _positions(height, width, extent)
    out[:, k], out[:, k + 1] = row_pos[rows], col_pos[cols]
    return out


def cap_per_class(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Return the sorted indices of at most ``cap`` entries of each label value (a seeded random draw)."""
    rng = np.random.default_rng(seed)
    keep = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        if idx.size > cap:
            idx = rng.choice(idx, cap, replace=False)
        keep.append(idx)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.intp)


def stroke_samples(strokes: np.ndarray, cap: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (rows, cols, classes) of the painted pixels training uses: at most ``cap`` per class, seeded."""
    flat = strokes.ravel()
    points = np.flatnonzero(flat)
    points = points[cap_per_class(flat[points], cap, seed)]
    rows, cols = np.unravel_index(points, strokes.shape)
    return rows, cols, flat[points]


class PixelClassifier:
    """A random forest trained on stroke pixels, predicting every pixel's class.

    Parameters
    ----------
    n_classes : int
        Number of classes N; classes without strokes get probability 0.
    params : FeatureParams
        Sample cap, trees and seed.
    """

    def __init__(self, n_classes: int, params: FeatureParams = FeatureParams()) -> None:
        self.n_classes = n_classes
        self.params = params
        self._model = None
        self._packed: PackedForest | None = None  # the trees in numba's arrays, made by fit
        self._constant: int | None = None
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._w: list[np.ndarray] = []

    def add_samples(self, features: np.ndarray, labels: np.ndarray, weight: float | np.ndarray = 1.0) -> None:
        """Collect training samples: (P, F) features of painted pixels, their (P,) classes 1..N and weights."""
        if labels.size:
            self._x.append(np.asarray(features, np.float32))
            self._y.append(np.asarray(labels, np.int32))
            self._w.append(np.broadcast_to(np.asarray(weight, np.float64), labels.shape).copy())

    def fit(self) -> PixelClassifier:
        """Train on the collected samples (at most ``max_samples_per_class`` per class)."""
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.utils.class_weight import compute_class_weight

        if not self._y:
            raise ValueError("no stroke samples to train the pixel classifier")
        x, y, w = np.concatenate(self._x), np.concatenate(self._y), np.concatenate(self._w)
        self._x, self._y, self._w = [], [], []
        keep = cap_per_class(y, self.params.max_samples_per_class, self.params.seed)
        x, y, w = x[keep], y[keep], w[keep]
        if np.unique(y).size == 1:
            self._constant = int(y[0])
            return self
        # "balanced" weights, given as numbers: the forest grows in rounds (warm_start) on the same samples,
        # for which scikit-learn warns about the preset (and catching warnings is not thread-safe)
        present = np.unique(y)
        # thick strokes give thousands of near-copies per class: a subsample per tree sees as much
        per_tree = self.params.tree_samples_per_class * present.size
        balanced = compute_class_weight("balanced", classes=present, y=y)
        self._model = RandomForestClassifier(0, min_samples_leaf=2, max_features="sqrt",
                                             class_weight=dict(zip(present.tolist(), balanced)),
                                             n_jobs=-1, random_state=self.params.seed, warm_start=True,
                                             max_samples=None if y.size <= per_tree else per_tree)
        step = TREES_PER_STEP
        while self._model.n_estimators < self.params.n_trees:
            checkpoint("training", self._model.n_estimators / self.params.n_trees)
            # a few trees at a time, so a cancel is heard; sklearn draws each tree's seed as one fit would,
            # so the forest does not depend on the rounds
            started = time.perf_counter()
            self._model.n_estimators = min(self._model.n_estimators + step, self.params.n_trees)
            # trees are built on every core; they do not depend on it
            self._model.fit(x, y, sample_weight=None if np.all(w == 1) else w)
            took = max(time.perf_counter() - started, 1e-3)
            step = max(TREES_PER_STEP, int(step * SECONDS_PER_STEP / took))
        # threads add the trees' votes in whatever order they finish: predict in one, so that the
        # probabilities (not only the labels) are the same serially, in worker processes and on a cluster
        self._model.n_jobs = 1
        self._packed = pack_forest(self._model)
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return (N, H, W) float32 class probabilities for (H, W, F) features."""
        height, width = features.shape[:2]
        out = np.zeros((self.n_classes, height, width), np.float32)
        if self._constant is not None:
            out[self._constant - 1] = 1.0
            return out
        if self._model is None:
            raise RuntimeError("fit the classifier first")
        planes = np.moveaxis(features, 2, 0).reshape(features.shape[2], -1)  # free for pixel_features' output
        out_flat = out.reshape(self.n_classes, -1)
        rows = max(1, 2_000_000 // max(planes.shape[0], 1))  # bounds the classifier's temporary arrays
        for start in range(0, planes.shape[1], rows):
            block = np.ascontiguousarray(planes[:, start:start + rows].T)  # (pixels, F), as the trees read it
            out_flat[self._model.classes_ - 1, start:start + rows] = self._forest_proba(block).T
            checkpoint("classifier", (start + rows) / planes.shape[1])
        return out

    def _forest_proba(self, block: np.ndarray) -> np.ndarray:
        """Return the forest's (P, classes) probabilities of a float32 block, as its ``predict_proba`` does.

        The same sum over the trees in the same order, bit for bit
        (:mod:`~napari_crf_label.forest`), faster (its nodes packed, eight pixels at a time), without joblib's
        per-tree dispatch (which also warned when called from a worker thread).
        """
        return self._packed.predict_proba(block)
