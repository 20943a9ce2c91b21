"""Each class's geodesic distances on one grid, kept in a run's cache so that an edit recomputes only its class."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from ..geodesic import edge_costs, geodesic_distances
from .cache import CRFCache, fingerprint, memo


def kept_distances(image: np.ndarray, strokes: np.ndarray, n: int, edge_weight: float, edge_sigma: float,
                   cache: CRFCache | None = None, base: tuple = (), slot: Hashable = "proximity",
                   costs: np.ndarray | None = None) -> np.ndarray:
    """Return :func:`~napari_crf_label.geodesic.geodesic_distances` of ``strokes``, re-using what ``cache`` kept.

    Each class's distances are kept under ``(slot, k)``, keyed by the image
    and that class's stroke pixels: a re-run computes only the classes whose
    strokes changed. The image's step costs are ``costs`` when given (one
    image, several sets of strokes: :func:`kept_costs` once), else kept
    under ``(slot, "costs")``. Without a cache, everything is computed.
    """
    painted = [int(k) for k in np.unique(strokes[strokes > 0]) if k <= n]
    if costs is None:
        costs = kept_costs(image, edge_weight, edge_sigma, cache, base, (slot, "costs"))
    if cache is None:
        return geodesic_distances(image, strokes, n, classes=painted, costs=costs)
    image_key = (fingerprint(image), edge_weight, edge_sigma)
    keys = {k: (image_key, fingerprint(strokes == k)) for k in painted}
    kept = {k: cache.recall(base, (slot, k), key) for k, key in keys.items()}
    distances = geodesic_distances(image, strokes, n, classes=[k for k, d in kept.items() if d is None],
                                   costs=costs)
    for k, key in keys.items():
        if kept[k] is None:
            cache.keep(base, (slot, k), key, distances[k - 1].copy())
        else:
            distances[k - 1] = kept[k]
    return distances


def kept_costs(image: np.ndarray, edge_weight: float, edge_sigma: float, cache: CRFCache | None = None,
               base: tuple = (), slot: Hashable = "costs") -> np.ndarray:
    """Return :func:`~napari_crf_label.geodesic.edge_costs` of ``image``, kept in ``cache`` under ``slot``."""
    return memo(cache, base, slot, (fingerprint(image), edge_weight, edge_sigma),
                lambda: edge_costs(image, edge_weight, edge_sigma))
