"""What a run returns: labels, probabilities and the facts of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classes import ClassSet


def _proportions(classes: ClassSet, counts: np.ndarray) -> dict[str, float]:
    """Return each class's share of labelled pixels from label counts (index 0 = no data)."""
    total = max(int(counts[1:].sum()), 1)
    return {name: float(c) / total for name, c in zip(classes.names, counts[1:])}


@dataclass
class LabelResult:
    """The dense labelling of one image.

    Attributes
    ----------
    labels : ndarray of uint8, shape (H, W)
        Class k (1..N) per pixel at full resolution; 0 only where the image
        has no data.
    probabilities : ndarray of float32, shape (N, h, w)
        CRF class probabilities at CRF resolution
        (``h, w = round(H * scale), round(W * scale)``), assembled from the
        tile cores; channel k-1 is class k.
    classes : ClassSet
        The classes, in label order.
    strokes : ndarray of int32, shape (H, W)
        The strokes used (0 where the image has no data).
    missing_classes : list of str
        Classes that had no strokes anywhere (absent from ``labels``).
    params : dict
        Everything that produced the result (scale, window, overlap, CRF).
    seconds : float
        Processing time.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    classes: ClassSet
    strokes: np.ndarray
    missing_classes: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    seconds: float = 0.0

    def proportions(self) -> dict[str, float]:
        """Return each class's share of the labelled (valid) pixels."""
        return _proportions(self.classes, np.bincount(self.labels.ravel(), minlength=len(self.classes) + 1))


@dataclass
class RasterResult:
    """What :func:`label_raster` wrote: the label GeoTIFF, class pixel counts and run facts."""

    path: Path
    classes: ClassSet
    counts: np.ndarray
    missing_classes: list[str]
    params: dict
    seconds: float

    def proportions(self) -> dict[str, float]:
        """Return each class's share of the labelled (valid) pixels."""
        return _proportions(self.classes, self.counts)
