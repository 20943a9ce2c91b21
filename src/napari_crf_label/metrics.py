"""Label quality metrics over integer label images (for benchmarks and tests)."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "iou_per_class", "mean_iou", "pixel_accuracy", "boundary_f_score"]


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, classes: list[int],
                     ignore: np.ndarray | None = None) -> np.ndarray:
    """Return the (K, K + 1) confusion matrix of non-negative integer label images.

    Rows are true classes, columns predicted classes in the order of
    ``classes``; the last column counts predictions that are none of them.
    Pixels where ``ignore`` is True, or whose truth is not in ``classes``,
    are skipped.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    k = len(classes)
    keep = np.isin(truth, classes) if ignore is None else np.isin(truth, classes) & ~ignore
    lut = np.full(max(int(pred.max(initial=0)), int(truth.max(initial=0)), max(classes)) + 1, k)
    lut[list(classes)] = np.arange(k)
    t, p = lut[truth[keep]], lut[pred[keep]]
    return np.bincount(t * (k + 1) + p, minlength=k * (k + 1)).reshape(k, k + 1)


def iou_per_class(pred: np.ndarray, truth: np.ndarray, classes: list[int],
                  ignore: np.ndarray | None = None) -> np.ndarray:
    """Return each class's intersection over union (0..1); NaN where a class is in neither image."""
    cm = confusion_matrix(pred, truth, classes, ignore)
    k = len(classes)
    tp = np.diag(cm[:, :k]).astype(float)
    union = cm.sum(axis=1) + cm[:, :k].sum(axis=0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(pred: np.ndarray, truth: np.ndarray, classes: list[int], ignore: np.ndarray | None = None) -> float:
    """Return the mean IoU over the classes present in truth or prediction."""
    return float(np.nanmean(iou_per_class(pred, truth, classes, ignore)))


def pixel_accuracy(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Return the share of (non-ignored) pixels whose prediction equals the truth."""
    keep = np.ones(truth.shape, bool) if ignore is None else ~ignore
    return float((pred[keep] == truth[keep]).mean())


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """Return pixels whose right or lower neighbour has another label."""
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def boundary_f_score(pred: np.ndarray, truth: np.ndarray, tolerance: float = 3.0,
                     ignore: np.ndarray | None = None) -> float:
    """Return the boundary F-score: boundary pixels matched within ``tolerance`` pixels.

    Precision is the share of predicted boundary pixels within ``tolerance``
    of a true boundary pixel, recall the converse; pixels where ``ignore``
    is True are left out. 1.0 when neither image has a boundary.
    """
    from scipy.ndimage import distance_transform_edt

    bp, bt = _boundaries(pred), _boundaries(truth)
    if ignore is not None:
        bt &= ~ignore
        bp &= ~ignore
    if not bp.any() and not bt.any():
        return 1.0
    if not bp.any() or not bt.any():
        return 0.0
    precision = float((distance_transform_edt(~bt)[bp] <= tolerance).mean())
    recall = float((distance_transform_edt(~bp)[bt] <= tolerance).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
