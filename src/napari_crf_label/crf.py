"""The fully connected CRF (Kraehenbuehl & Koltun, 2011) over one tile.

Built on pydensecrf's generic :class:`~pydensecrf.densecrf.DenseCRF` with
pairwise energies from explicit feature arrays, so that 1-band, RGB and
N-band images all work the same way: a Gaussian smoothness kernel over pixel
position and a bilateral appearance kernel over position and every band.

pydensecrf pitfalls handled here: unaries are float32 C-contiguous
(n_labels, n_pixels); labels are int32 (uint8 wraps); features float32
C-contiguous; no more than :data:`MAX_CRF_PIXELS` pixels in one call (its
C++ index arithmetic overflows and aborts the whole process above ~358 MP).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["CRFParams", "CRFSizeError", "MAX_CRF_PIXELS", "TileCRF", "unary_from_strokes", "crf_probabilities"]

#: Largest pixel count passed to one pydensecrf call. Its abort starts near
#: 358 MP; stay far below so memory (~0.2-0.35 GB/MP) also stays sane.
MAX_CRF_PIXELS = 64_000_000


class CRFSizeError(InputError):
    """A single CRF call would exceed :data:`MAX_CRF_PIXELS`."""


@dataclass(frozen=True)
class CRFParams:
    """CRF settings; widths are in pixels at CRF resolution, colours in 0..255.

    The defaults were chosen by measurement on the GrabCut images with real
    human strokes (``benchmarks/grabcut_quality.py``), not copied from the
    original tool (whose settings measured far worse).

    Attributes
    ----------
    gt_prob : float
        Confidence of a stroke pixel in its class (0 < gt_prob < 1).
    sxy_gaussian, compat_gaussian : float
        Width and weight of the smoothness kernel (position only).
    sxy_bilateral, schan, compat_bilateral : float
        Spatial width, colour width and weight of the appearance kernel.
    iterations : int
        Mean-field iterations.

    """

    gt_prob: float = 0.9
    sxy_gaussian: float = 3.0
    compat_gaussian: float = 3.0
    sxy_bilateral: float = 60.0
    schan: float = 10.0
    compat_bilateral: float = 10.0
    iterations: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.gt_prob < 1.0:
            raise InputError(f"gt_prob must be between 0 and 1 (exclusive), got {self.gt_prob}")
        for name in ("sxy_gaussian", "sxy_bilateral", "schan"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("compat_gaussian", "compat_bilateral"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if int(self.iterations) != self.iterations or self.iterations < 1:
            raise InputError(f"iterations must be a positive integer, got {self.iterations}")

    def as_dict(self) -> dict:
        """Return the parameters as a plain dict (for reports and sessions)."""
        return asdict(self)

    def kernel_key(self) -> tuple:
        """Return the parameters the pairwise kernels depend on (not gt_prob, iterations)."""
        return (self.sxy_gaussian, self.compat_gaussian, self.sxy_bilateral, self.schan, self.compat_bilateral)


def unary_from_strokes(strokes: np.ndarray, n_classes: int, gt_prob: float,
                       prior: np.ndarray | None = None) -> np.ndarray:
    """Return the negative-log unary (n_classes, H*W) float32 from strokes.

    A stroke pixel of class k has probability ``gt_prob`` for k and the rest
    spread evenly. An unpainted pixel takes ``prior`` (n_classes, H, W) if
    given, else the uniform distribution (it carries no evidence).
    """
    n = strokes.size
    flat = strokes.reshape(-1).astype(np.int32)
    if prior is None:
        probs = np.full((n_classes, n), 1.0 / n_classes, np.float32)
    else:
        probs = np.array(prior, dtype=np.float32).reshape(n_classes, n)
    painted = np.flatnonzero(flat)
    if painted.size:
        other = (1.0 - gt_prob) / max(n_classes - 1, 1)
        probs[:, painted] = other
        probs[flat[painted] - 1, painted] = gt_prob
    np.clip(probs, 1e-6, 1.0, out=probs)
    return np.ascontiguousarray(-np.log(probs), dtype=np.float32)


def _position_features(height: int, width: int, sxy: float) -> np.ndarray:
    """Return (2, H*W) float32 pixel coordinates (x, y) divided by ``sxy``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xx.ravel() / sxy, yy.ravel() / sxy])


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
    params : CRFParams
        Kernel widths and weights (``gt_prob`` and ``iterations`` are used
        by :meth:`infer`, not here).

    Raises
    ------
    CRFSizeError
        If H * W exceeds :data:`MAX_CRF_PIXELS`.
    """

    def __init__(self, image: np.ndarray, n_classes: int, params: CRFParams = CRFParams()) -> None:
        import pydensecrf.densecrf as dcrf

        if image.ndim != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be H x W x C uint8, got {image.dtype} {image.shape}")
        if n_classes < 2:
            raise ValueError(f"the CRF needs at least 2 classes, got {n_classes}")
        height, width = image.shape[:2]
        n_pixels = height * width
        if n_pixels > MAX_CRF_PIXELS:
            raise CRFSizeError(
                f"one CRF call on {n_pixels / 1e6:.0f} MP exceeds the safe limit of {MAX_CRF_PIXELS / 1e6:.0f} MP; "
                "use a smaller window or a smaller scale"
            )
        self.shape = (height, width)
        self.n_classes = n_classes
        self.params = params
        self._crf = dcrf.DenseCRF(n_pixels, n_classes)
        if params.compat_gaussian > 0:
            self._crf.addPairwiseEnergy(
                np.ascontiguousarray(_position_features(height, width, params.sxy_gaussian)),
                compat=float(params.compat_gaussian), kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)
        if params.compat_bilateral > 0:
            bands = image.reshape(n_pixels, -1).T.astype(np.float32) / np.float32(params.schan)
            feats = np.concatenate([_position_features(height, width, params.sxy_bilateral), bands])
            self._crf.addPairwiseEnergy(np.ascontiguousarray(feats), compat=float(params.compat_bilateral),
                                        kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)

    def iter_infer(self, strokes: np.ndarray, prior: np.ndarray | None = None,
                   gt_prob: float | None = None, iterations: int | None = None,
                   init: np.ndarray | None = None) -> Generator[None, None, np.ndarray]:
        """Run mean-field inference, yielding after each iteration (so callers can cancel).

        Returns (as the generator's value) the (N, H, W) float32 marginals;
        see :meth:`infer`. ``init`` (N, H, W) starts the iterations from
        earlier marginals instead of from the unary (a warm start).
        """
        from pydensecrf import eigen

        if strokes.shape != self.shape:
            raise ValueError(f"strokes shape {strokes.shape} differs from image shape {self.shape}")
        gt_prob = self.params.gt_prob if gt_prob is None else gt_prob
        iterations = self.params.iterations if iterations is None else iterations
        self._crf.setUnaryEnergy(unary_from_strokes(strokes, self.n_classes, gt_prob, prior))
        q, tmp1, tmp2 = self._crf.startInference()
        if init is not None:
            q = eigen.matrixXf(np.ascontiguousarray(init.reshape(self.n_classes, -1), dtype=np.float32))
        for _ in range(int(iterations)):
            self._crf.stepInference(q, tmp1, tmp2)
            yield
        return np.array(q, dtype=np.float32).reshape(self.n_classes, *self.shape)

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
                      params: CRFParams = CRFParams(), prior: np.ndarray | None = None) -> np.ndarray:
    """Run the dense CRF on one tile and return class probabilities.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, C)
        Any number of bands; all enter the appearance kernel.
    strokes : ndarray of int, shape (H, W)
        0 = not annotated, k = class k (1-based).
    n_classes : int
        Number of classes N (>= 2).
    params : CRFParams
        Kernel widths, weights and iterations.
    prior : ndarray, shape (N, H, W), optional
        Class probabilities for unpainted pixels (default: uniform).

    Returns
    -------
    ndarray of float32, shape (N, H, W)
        Marginal class probabilities; channel k-1 belongs to class k.

    Raises
    ------
    CRFSizeError
        If H * W exceeds :data:`MAX_CRF_PIXELS`.
    """
    if strokes.shape != image.shape[:2]:
        raise ValueError(f"strokes shape {strokes.shape} differs from image shape {image.shape[:2]}")
    return TileCRF(image, n_classes, params).infer(strokes, prior)
