"""Per-pixel multi-scale features and a stroke-trained pixel classifier.

As in ilastik and Doodler: every band is smoothed with Gaussians of several
widths and described by its intensity, gradient magnitude, Laplacian of
Gaussian and the two Hessian eigenvalues at each scale, plus the pixel's
relative position. A classifier trained on the stroke pixels predicts class
probabilities for every pixel; they become the CRF's unary prior
(:func:`~napari_crf_label.crf.unary_from_strokes`) or, on their own, the
"classifier only" result.

Derivatives are finite differences of the smoothed band (scale-normalised
by sigma and sigma squared), which costs one Gaussian filter per band and
scale instead of six.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FeatureParams", "pixel_features", "PixelClassifier"]


@dataclass(frozen=True)
class FeatureParams:
    """Feature and classifier settings.

    Attributes
    ----------
    sigmas : tuple of float
        Gaussian scales in pixels at CRF resolution.
    max_samples_per_class : int
        Stroke pixels used for training, per class (random, seeded).
    max_iter : int
        Boosting iterations of the gradient-boosted trees.
    prior_weight : float
        How much the classifier's probabilities count in the CRF unary of
        unpainted pixels (0 = ignore them, 1 = trust them fully).
    seed : int
        Seed of the training-sample draw and the classifier.
    """

    sigmas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    max_samples_per_class: int = 5000
    max_iter: int = 60
    prior_weight: float = 0.6
    seed: int = 0


def pixel_features(image: np.ndarray, sigmas: tuple[float, ...] = FeatureParams.sigmas) -> np.ndarray:
    """Return (H, W, F) float32 features of an (H, W, C) uint8 image.

    Per band and sigma: smoothed intensity, gradient magnitude, Laplacian
    of Gaussian and the two Hessian eigenvalues; then the raw bands and
    the relative row and column position. F = C * (5 * len(sigmas) + 1) + 2.
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
            gy, gx = np.gradient(s)
            hyy, hyx = np.gradient(gy)
            _, hxx = np.gradient(gx)
            half_trace = (hxx + hyy) / 2
            root = np.sqrt(((hxx - hyy) / 2) ** 2 + hyx ** 2)
            out[..., k] = s
            out[..., k + 1] = np.hypot(gx, gy) * sigma
            out[..., k + 2] = (hxx + hyy) * sigma**2
            out[..., k + 3] = (half_trace + root) * sigma**2
            out[..., k + 4] = (half_trace - root) * sigma**2
            k += 5
    out[..., k] = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    out[..., k + 1] = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    return out


class PixelClassifier:
    """Gradient-boosted trees trained on stroke pixels, predicting every pixel's class.

    Parameters
    ----------
    n_classes : int
        Number of classes N; classes without strokes get probability 0.
    params : FeatureParams
        Sample cap, iterations and seed.
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
        from sklearn.ensemble import HistGradientBoostingClassifier

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
        self._model = HistGradientBoostingClassifier(
            max_iter=self.params.max_iter, learning_rate=0.2, max_leaf_nodes=31, early_stopping=False,
            l2_regularization=1.0, random_state=self.params.seed)
        self._model.fit(x, y)
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
        flat = features.reshape(-1, features.shape[2])
        rows = max(1, 2_000_000 // max(flat.shape[1], 1))
        for start in range(0, flat.shape[0], rows):
            p = self._model.predict_proba(flat[start:start + rows])
            sl = np.unravel_index(np.arange(start, min(start + rows, flat.shape[0])), (height, width))
            for j, k in enumerate(self._model.classes_):
                out[k - 1][sl] = p[:, j]
        return out
