"""The fully connected CRF (Kraehenbuehl & Koltun, 2011) over one image tile, on any engine.

Pairwise energies come from explicit feature arrays, so that 1-band, RGB
and N-band images all work the same way: a Gaussian smoothness kernel over
pixel position and a bilateral appearance kernel over position and every
band. Which engine runs them (see :mod:`~napari_crf_label.crf.engine`) is
the caller's choice; the tile code does not depend on it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from . import params as _params
from .engine import DEFAULT_ENGINE, Kernel, engine_class
from .params import CRFParams, CRFSizeError, unary_from_strokes

__all__ = ["TileCRF", "crf_probabilities", "drain", "tile_kernels"]


def _position_features(height: int, width: int, sxy: float) -> np.ndarray:
    """Return (2, H*W) float32 pixel coordinates (x, y) divided by ``sxy``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xx.ravel() / sxy, yy.ravel() / sxy])


def tile_kernels(image: np.ndarray, params: CRFParams) -> list[Kernel]:
    """Return the tile's pairwise kernels: position (smoothness), then position + bands (appearance).

    A kernel with zero weight is left out.
    """
    height, width = image.shape[:2]
    kernels = []
    if params.compat_gaussian > 0:
        # every tile of one shape has the same position kernel: an engine builds its lattice once
        kernels.append(Kernel(np.ascontiguousarray(_position_features(height, width, params.sxy_gaussian)),
                              float(params.compat_gaussian), ("position", height, width, float(params.sxy_gaussian))))
    if params.compat_bilateral > 0:
        bands = image.reshape(height * width, -1).T.astype(np.float32) / np.float32(params.schan)
        feats = np.concatenate([_position_features(height, width, params.sxy_bilateral), bands])
        kernels.append(Kernel(np.ascontiguousarray(feats), float(params.compat_bilateral)))
    return kernels


def drain(gen: Generator) -> Any:
    """Run a generator to its end and return its return value (its yields only mark progress)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


class TileCRF:
    """A dense CRF whose pairwise kernels are built for one image tile.

    The kernels (the permutohedral lattices, the costly part) depend only on
    the image and the kernel parameters, not on the strokes: keep the object
    and call :meth:`infer` again when only the strokes change.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C)
        Any number of bands; all enter the appearance kernel.
    n_classes : int
        Number of classes N (>= 2).
    params : CRFParams, optional
        Kernel widths and weights (default: ``CRFParams()``; ``gt_prob`` and ``iterations`` are
        used by :meth:`infer`, not here).
    engine : str
        Name of the engine (:data:`~napari_crf_label.crf.engine.ENGINES`).

    Raises
    ------
    CRFSizeError
        If H * W exceeds :data:`~napari_crf_label.crf.params.MAX_CRF_PIXELS`.
    InputError
        For an unknown engine or one whose package is missing.
    """

    def __init__(self, image: np.ndarray, n_classes: int, params: CRFParams | None = None,
                 engine: str = DEFAULT_ENGINE) -> None:
        if image.ndim != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be H x W x C uint8, got {image.dtype} {image.shape}")
        if n_classes < 2:
            raise ValueError(f"the CRF needs at least 2 classes, got {n_classes}")
        height, width = image.shape[:2]
        n_pixels = height * width
        if n_pixels > _params.MAX_CRF_PIXELS:
            raise CRFSizeError(
                f"one CRF call on {n_pixels / 1e6:.0f} MP exceeds the safe limit of "
                f"{_params.MAX_CRF_PIXELS / 1e6:.0f} MP; use a smaller window or a smaller scale"
            )
        params = CRFParams() if params is None else params
        self.shape = (height, width)
        self.n_classes = n_classes
        self.params = params
        self.engine = engine
        self._engine = engine_class(engine)(tile_kernels(image, params), n_classes, n_pixels)

    def iter_infer(self, strokes: np.ndarray, prior: np.ndarray | None = None,
                   gt_prob: float | None = None, iterations: int | None = None,
                   init: np.ndarray | None = None) -> Generator[None, None, np.ndarray]:
        """Run mean-field inference, yielding after each iteration (so callers can cancel).

        Returns (as the generator's value) the (N, H, W) float32 marginals;
        see :meth:`infer`. ``init`` (N, H, W) starts the iterations from
        earlier marginals instead of from the unary (a warm start).
        """
        if strokes.shape != self.shape:
            raise ValueError(f"strokes shape {strokes.shape} differs from image shape {self.shape}")
        gt_prob = self.params.gt_prob if gt_prob is None else gt_prob
        iterations = self.params.iterations if iterations is None else iterations
        unary = unary_from_strokes(strokes, self.n_classes, gt_prob, prior)
        start = None if init is None else np.asarray(init, np.float32).reshape(self.n_classes, -1)
        q = yield from self._engine.iter_infer(unary, int(iterations), start)
        return q.reshape(self.n_classes, *self.shape)

    def infer(self, strokes: np.ndarray, prior: np.ndarray | None = None,
              gt_prob: float | None = None, iterations: int | None = None) -> np.ndarray:
        """Return the (N, H, W) float32 class marginals for these strokes.

        Parameters
        ----------
        strokes : ndarray of int, shape (H, W)
            0 = not annotated, k = class k (1-based).
        prior : ndarray, shape (N, H, W), optional
            Class probabilities for unpainted pixels (default: uniform).
        gt_prob, iterations : optional
            Override the values in ``params``.
        """
        return drain(self.iter_infer(strokes, prior, gt_prob, iterations))


def crf_probabilities(image: np.ndarray, strokes: np.ndarray, n_classes: int,
                      params: CRFParams | None = None, prior: np.ndarray | None = None,
                      engine: str = DEFAULT_ENGINE) -> np.ndarray:
    """Run the dense CRF on one tile and return class probabilities.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C)
        Any number of bands; all enter the appearance kernel.
    strokes : ndarray of int, shape (H, W)
        0 = not annotated, k = class k (1-based).
    n_classes : int
        Number of classes N (>= 2).
    params : CRFParams, optional
        Kernel widths, weights and iterations (default: ``CRFParams()``).
    prior : ndarray, shape (N, H, W), optional
        Class probabilities for unpainted pixels (default: uniform).
    engine : str
        Name of the engine (:data:`~napari_crf_label.crf.engine.ENGINES`).

    Returns
    -------
    ndarray of float32, shape (N, H, W)
        Marginal class probabilities; channel k-1 belongs to class k.

    Raises
    ------
    CRFSizeError
        If H * W exceeds :data:`~napari_crf_label.crf.params.MAX_CRF_PIXELS`.
    """
    if strokes.shape != image.shape[:2]:
        raise ValueError(f"strokes shape {strokes.shape} differs from image shape {image.shape[:2]}")
    return TileCRF(image, n_classes, params, engine).infer(strokes, prior)
