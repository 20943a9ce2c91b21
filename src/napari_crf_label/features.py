"""Per-pixel multi-scale features and a stroke-trained pixel classifier.

As in ilastik and Doodler: every band is smoothed with Gaussians of several
widths and described by its intensity, gradient magnitude, Laplacian of
Gaussian and the two Hessian eigenvalues at each scale, plus the pixel's
position in the scene. A random forest (as in ilastik) trained on the
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

from dataclasses import dataclass

import numpy as np

__all__ = ["FeatureParams", "pixel_features", "PixelClassifier", "gradient_2d"]


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
    prior_weight : float
        How much the prior (classifier times geodesic proximity) counts in
        the CRF unary of unpainted pixels (0 = ignore it, 1 = trust it fully).
    edge_weight : float
        Cost of crossing a colour edge in the geodesic distance
        (:func:`~napari_crf_label.geodesic.geodesic_distances`).
    reach : float
        Softness of the geodesic proximity
        (:func:`~napari_crf_label.geodesic.proximity`), in CRF pixels.
    seed : int
        Seed of the training-sample draw and the classifier.
    """

    sigmas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    max_samples_per_class: int = 5000
    n_trees: int = 50
    prior_weight: float = 0.9
    edge_weight: float = 30000.0
    reach: float = 100.0
    seed: int = 0


def gradient_2d(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the (row, column) finite-difference derivatives of a 2-D array.

    Like ``np.gradient``, but an axis shorter than two pixels (a one-pixel
    wide image) has derivative 0 instead of raising.
    """
    return tuple(np.gradient(a, axis=ax) if a.shape[ax] > 1 else np.zeros_like(a) for ax in (0, 1))


def pixel_features(image: np.ndarray, sigmas: tuple[float, ...] = FeatureParams.sigmas,
                   extent: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)) -> np.ndarray:
    """Return (H, W, F) float32 features of an (H, W, C) uint8 image.

    Per band and sigma: smoothed intensity, gradient magnitude, Laplacian
    of Gaussian and the two Hessian eigenvalues; then the raw bands and
    the row and column position in the scene, 0..1. ``extent`` (top,
    bottom, left, right, as fractions of the scene) says where the image
    lies in the scene, so that a tile's pixels get scene positions.
    F = C * (5 * len(sigmas) + 1) + 2.
    """
    from scipy.ndimage import gaussian_filter

    height, width, bands = image.shape
    n_feat = bands * (5 * len(sigmas) + 1) + 2
    out = np.empty((height, width, n_feat), np.float32)
    k = 0
    for b in range(bands):
        band = image[..., b].astype(np.float32) / 255.0
        out[..., k] = band
        k += 1
        for sigma in sigmas:
            s = gaussian_filter(band, sigma, mode="reflect", truncate=3.0)
            gy, gx = gradient_2d(s)
            hyy, hyx = gradient_2d(gy)
            _, hxx = gradient_2d(gx)
            half_trace = (hxx + hyy) / 2
            root = np.sqrt(((hxx - hyy) / 2) ** 2 + hyx ** 2)
            out[..., k] = s
            out[..., k + 1] = np.hypot(gx, gy) * sigma
            out[..., k + 2] = (hxx + hyy) * sigma**2
            out[..., k + 3] = (half_trace + root) * sigma**2
            out[..., k + 4] = (half_trace - root) * sigma**2
            k += 5
    top, bottom, left, right = extent
    out[..., k] = ((np.arange(height, dtype=np.float32) + 0.5) / height * (bottom - top) + top)[:, None]
    out[..., k + 1] = ((np.arange(width, dtype=np.float32) + 0.5) / width * (right - left) + left)[None, :]
    return out


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
        self._constant: int | None = None
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []

    def add_samples(self, features: np.ndarray, strokes: np.ndarray) -> None:
        """Collect the features of painted pixels ((H, W, F) features, (H, W) strokes)."""
        painted = strokes > 0
        if painted.any():
            self._x.append(features[painted])
            self._y.append(strokes[painted].astype(np.int32))

    def fit(self) -> PixelClassifier:
        """Train on the collected samples (at most ``max_samples_per_class`` per class)."""
        from sklearn.ensemble import RandomForestClassifier

        if not self._y:
            raise ValueError("no stroke samples to train the pixel classifier")
        x, y = np.concatenate(self._x), np.concatenate(self._y)
        self._x, self._y = [], []
        rng = np.random.default_rng(self.params.seed)
        keep = []
        for k in np.unique(y):
            idx = np.flatnonzero(y == k)
            if idx.size > self.params.max_samples_per_class:
                idx = rng.choice(idx, self.params.max_samples_per_class, replace=False)
            keep.append(idx)
        keep = np.sort(np.concatenate(keep))
        x, y = x[keep], y[keep]
        if np.unique(y).size == 1:
            self._constant = int(y[0])
            return self
        self._model = RandomForestClassifier(self.params.n_trees, min_samples_leaf=2, max_features="sqrt",
                                             class_weight="balanced", n_jobs=-1, random_state=self.params.seed)
        self._model.fit(x, y)  # trees are built on every core; they do not depend on it
        # threads add the trees' votes in whatever order they finish: predict in one, so that the
        # probabilities (not only the labels) are the same serially, in worker processes and on a cluster
        self._model.n_jobs = 1
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
        flat, out_flat = features.reshape(-1, features.shape[2]), out.reshape(self.n_classes, -1)
        rows = max(1, 2_000_000 // max(flat.shape[1], 1))  # bounds the classifier's temporary arrays
        for start in range(0, flat.shape[0], rows):
            out_flat[self._model.classes_ - 1, start:start + rows] = self._model.predict_proba(
                flat[start:start + rows]).T
        return out
