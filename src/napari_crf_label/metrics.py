"""Label quality metrics over integer label images (for benchmarks and tests)."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "iou_per_class", "mean_iou", "pixel_accuracy"]


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
