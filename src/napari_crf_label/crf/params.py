"""CRF settings, the size guard and the unary energy from strokes (shared by every engine)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..checks import finite_number
from ..errors import InputError

__all__ = ["CRFParams", "CRFSizeError", "MAX_CRF_PIXELS", "unary_from_strokes"]

#: Largest pixel count passed to one CRF call. pydensecrf's C++ index
#: arithmetic aborts the whole process near 358 MP; stay far below so memory
#: (~0.2-0.35 GB/MP) also stays sane. Tiled runs never come near it.
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
        for name, value in self.as_dict().items():  # NaN and infinity pass every range check below
            finite_number(name, value, integer=name == "iterations")
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
