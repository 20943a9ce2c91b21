"""Cross-validated accuracy of the pixel classifier on the strokes (a per-image reliability signal, tried).

Used by prior_sweep.py to print, per image, how well a forest trained on
half of the strokes (a class's stroke pieces alternate, largest first; a
single piece is cut in halves) predicts the other half, balanced over
classes. It did not separate the images where the proximity helps (CamVid)
from those where it hurts (Dubai): RESULTS.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_crf_label.features import FeatureParams, PixelClassifier, cap_per_class, pixel_features_at


def stroke_folds(strokes: np.ndarray) -> np.ndarray:
    """Fold 0/1 per stroke pixel: a class's stroke pieces alternate (largest first); one piece is cut in halves."""
    fold = np.full(strokes.shape, -1, np.int8)
    for k in np.unique(strokes[strokes > 0]):
        comps, n = ndimage.label(strokes == k, np.ones((3, 3)))
        if n >= 2:
            sizes = np.bincount(comps.ravel())[1:]
            order = np.argsort(-sizes)
            f = np.zeros(n + 1, np.int8)
            f[order + 1] = np.arange(n) % 2
            fold[comps > 0] = f[comps[comps > 0]]
        else:
            r, c = np.nonzero(comps)
            axis = r if np.ptp(r) >= np.ptp(c) else c
            fold[r, c] = (axis > np.median(axis)).astype(np.int8)
    return fold


def cv_score(image: np.ndarray, strokes: np.ndarray, n: int, cap: int = 1000) -> float:
    """Return the balanced two-fold accuracy (0..1) of the classifier on the stroke pixels, or NaN."""
    params = FeatureParams()
    fold = stroke_folds(strokes)
    r, c = np.nonzero(strokes > 0)
    y = strokes[r, c]
    f = fold[r, c]
    keep = cap_per_class(y, 2 * cap, 0)
    r, c, y, f = r[keep], c[keep], y[keep], f[keep]
    x = pixel_features_at(image, r, c, params.sigmas)
    correct = np.zeros(len(y), bool)
    for test in (0, 1):
        tr, te = f != test, f == test
        if len(np.unique(y[tr])) < 2:
            return np.nan
        clf = PixelClassifier(n, params)
        clf.add_samples(x[tr], y[tr])
        clf.fit()
        p = clf.predict_proba(x[te][:, None, :])[:, :, 0]
        correct[te] = p.argmax(0) + 1 == y[te]
    accs = [correct[y == k].mean() for k in np.unique(y)]
    return float(np.mean(accs))
