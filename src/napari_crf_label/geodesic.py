"""Geodesic proximity of every pixel to each class's strokes.

A pixel belongs more likely to a class whose strokes it can reach without
crossing an edge. The geodesic distance to class k is the cheapest path
from k's stroke pixels, where a step costs ``1 + edge_weight * |grad I|**2``
(colour gradient after a Gaussian of 2 px): cheap inside uniform
regions, dear across boundaries (Criminisi et al., "GeoS: Geodesic image
segmentation", ECCV 2008; Bai & Sapiro, ICCV 2007). The distances become
class probabilities by a soft minimum, which the labelling multiplies with
the pixel classifier's probabilities to form the CRF's prior: the
classifier says what a pixel looks like, the distance says which painted
regions it is connected to.

The gradient is squared so that noise and texture stay cheap while real
edges stay dear: with ``|grad I|`` itself, a path through a noisy region
cost as much per pixel as a fraction of an edge, and the distance to a
far stroke of the right class grew past that of a near stroke of another
class across one edge (a measured failure on a noisy synthetic scene).
The Gaussian of 2 px (rather than 1) keeps fine texture inside an object
(a marbled book cover, fur) from walling its parts off from the stroke
painted on it; a higher edge weight keeps the real edges dear
(``benchmarks/quality/RESULTS.md``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .features import FeatureParams, gradient_2d
from .grid_paths import grid_distances
from .parallel import default_threads, imap_threads
from .progress import checkpoint

__all__ = ["edge_costs", "geodesic_distances", "proximity"]


def edge_costs(image: np.ndarray, edge_weight: float, sigma: float = FeatureParams.edge_sigma) -> np.ndarray:
    """Return the (H, W) float64 cost of stepping onto each pixel.

    ``1 + edge_weight * g**2``, where g is the colour gradient magnitude
    (all bands, values scaled to 0..1) after a Gaussian of ``sigma`` pixels.
    """
    from scipy.ndimage import gaussian_filter

    squared = np.zeros(image.shape[:2], np.float64)
    for b in range(image.shape[2]):
        band = gaussian_filter(image[..., b].astype(np.float32) / 255.0, sigma)
        gy, gx = gradient_2d(band)
        squared += gy.astype(np.float64) ** 2 + gx**2
    return 1.0 + edge_weight * squared


def geodesic_distances(image: np.ndarray, strokes: np.ndarray, n_classes: int,
                       edge_weight: float = FeatureParams.edge_weight,
                       edge_sigma: float = FeatureParams.edge_sigma,
                       classes: Iterable[int] | None = None, costs: np.ndarray | None = None) -> np.ndarray:
    """Return (N, H, W) float32 geodesic distances from each class's stroke pixels.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C)
        Any number of bands; all enter the colour gradient.
    strokes : ndarray of int, shape (H, W)
        0 = not painted, k = class k (1-based).
    n_classes : int
        Number of classes N.
    edge_weight : float
        Extra cost of a step per unit of squared colour gradient.
    edge_sigma : float
        Gaussian (pixels) applied to each band before the gradient.
    classes : iterable of int, optional
        Compute only these classes (1-based; the others are left ``inf``):
        a re-run after an edit recomputes the edited classes only.
    costs : ndarray, optional
        ``edge_costs(image, edge_weight, edge_sigma)``, when the caller has
        it already (several sets of strokes on one image).

    Returns
    -------
    ndarray of float32
        Channel k-1 holds the distance to class k; ``inf`` everywhere for
        a class without strokes.
    """
    if strokes.shape != image.shape[:2]:
        raise ValueError(f"strokes shape {strokes.shape} differs from image shape {image.shape[:2]}")
    out = np.full((n_classes, *strokes.shape), np.inf, np.float32)
    wanted = range(1, n_classes + 1) if classes is None else sorted(classes)
    if not wanted:
        return out
    costs = edge_costs(image, edge_weight, edge_sigma) if costs is None else costs
    starts = [(k, at) for k in wanted if len(at := np.argwhere(strokes == k))]
    # one class per core: the sweeps release the GIL
    for done, (i, distances) in enumerate(imap_threads(lambda ks: grid_distances(costs, ks[1]), starts,
                                                       default_threads()), 1):
        out[starts[i][0] - 1] = distances
        checkpoint("proximity", done / len(starts))
    return out


def proximity(distances: np.ndarray, reach: float = FeatureParams.reach,
              growth: float = 0.0) -> np.ndarray:
    """Return (N, H, W) float32 class probabilities from geodesic distances (a soft minimum).

    A class whose distance exceeds the nearest class's by the pixel's reach
    gets 1/e of its weight. The reach is ``reach + growth * nearest``,
    where ``nearest`` is the pixel's distance to the nearest strokes: next
    to the strokes the proximity decides sharply, far from every stroke it
    fades, so the classifier decides what an unpainted instance is rather
    than whichever class happens to be painted a little nearer.
    Classes at infinite distance get 0; a pixel no class reaches gets the
    uniform distribution. An infinite ``growth`` keeps only that: every
    class reaching the pixel gets the same weight (the classifier decides).
    """
    if np.isinf(growth):
        weights = np.isfinite(distances).astype(np.float32)
        weights[:, ~weights.any(axis=0)] = 1.0
        return weights / weights.sum(axis=0, keepdims=True)
    nearest = distances.min(axis=0, keepdims=True)
    per_pixel = np.float32(reach)
    if growth:
        per_pixel = (reach + growth * np.where(np.isfinite(nearest), nearest, 0.0)).astype(np.float32)
    with np.errstate(invalid="ignore"):
        weights = np.exp(-(distances - nearest) / per_pixel)
    weights[~np.isfinite(distances)] = 0.0
    total = weights.sum(axis=0, keepdims=True)
    unreached = total[0] == 0
    weights[:, unreached] = 1.0
    total[0, unreached] = distances.shape[0]
    return (weights / total).astype(np.float32)
