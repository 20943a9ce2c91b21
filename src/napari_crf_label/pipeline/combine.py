"""The ``features+crf`` prior: the classifier's probabilities times the geodesic proximity to the strokes."""

from __future__ import annotations

import numpy as np

from .settings import CLASSIFIER_FLOOR


def feature_prior(probabilities: np.ndarray, near: np.ndarray, confidence_power: float, area_balance: float,
                  floor: float = CLASSIFIER_FLOOR, shares: np.ndarray | None = None) -> np.ndarray:
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
        Each class is divided by its mean probability over the tile (or its
        ``shares``) to this power, so that a class covering little of the
        image (buildings among land) is not smoothed away by the CRF; 0
        turns it off.
    floor : float
        Added to the classifier's probabilities, so that a class it rules out
        can still win where only it is near.
    shares : ndarray of float, shape (N,), optional
        Each class's share of the whole scene
        (:func:`~napari_crf_label.pipeline.balance.scene_shares`): the tiles
        of a scene then all weigh the classes alike, and meet without seams.

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
        share = q.reshape(n, -1).mean(axis=1) if shares is None else np.asarray(shares, np.float64)
        q *= np.where(share > 0, np.maximum(share, 1e-6) ** -area_balance, 0.0).astype(q.dtype)[:, None, None]
        q /= np.maximum(q.sum(axis=0, keepdims=True), 1e-30)
    return q.astype(np.float32)
