"""The pipeline's compiled kernels besides the CRF engine's: are they ready, and compiling them ahead of use.

numba compiles each kernel on its first call, once per machine (the disk
cache keeps it): the derivative features, the forest's prediction, the
bilinear resampling and the geodesic sweeps take about 5 s together. A
front end compiles them with the engine, as a step it names, so that the
first run does not seem stuck. The Dijkstra that finishes a winding
geodesic path (:mod:`~napari_crf_label.grid_paths`) stays compiled on
first use: few images need it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kernels_ready", "prepare_kernels", "ready", "prepare"]


def _kernels() -> tuple:
    """Return the compiled functions :func:`prepare_kernels` compiles."""
    from . import derivatives, forest, grid_paths, resample

    return derivatives._grid, derivatives._points, forest._walk, grid_paths._sweep, resample._bilinear


def kernels_ready() -> bool:
    """Return False when a kernel of :func:`prepare_kernels` must compile before its first use."""
    from .crf.numba_engine import all_cached

    return all_cached(_kernels())


def ready(engine: str) -> bool:
    """Return True when CRF engine ``engine`` and these kernels run without compiling first."""
    from .crf import engine_ready

    return engine_ready(engine) and kernels_ready()


def prepare(engine: str) -> None:
    """Compile (or load from numba's disk cache) CRF engine ``engine`` and these kernels: what a first run needs."""
    from .crf import prepare_engine

    prepare_engine(engine)
    prepare_kernels()


def prepare_kernels() -> None:
    """Compile every kernel (or load it from numba's disk cache) by calling each on tiny inputs."""
    from .derivatives import FEATURES_PER_SCALE, band_features, band_features_at
    from .forest import one_leaf_forest
    from .grid_paths import grid_distances
    from .resample import bilinear, linear_axis

    plane = np.zeros((6, 6), np.float32)
    band_features(plane, 1.0, np.empty((FEATURES_PER_SCALE, 6, 6), np.float32))
    band_features_at(plane, np.array([0]), np.array([0]), 1.0)
    grid_distances(np.ones((3, 3)), np.array([[0, 0]]))
    bilinear(np.zeros((1, 3, 3), np.float32), linear_axis(4, 3), linear_axis(4, 3))
    one_leaf_forest().predict_proba(np.zeros((1, 2), np.float32))
