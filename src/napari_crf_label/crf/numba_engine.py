"""Engine "numba": mean-field inference (Kraehenbuehl & Koltun 2011) on our own permutohedral lattices.

Pure Python + numba (wheels on Linux, macOS and Windows): installs without
a compiler. Semantics as pydensecrf's ``DenseCRF`` with diagonal kernels,
``NORMALIZE_SYMMETRIC`` and Potts compatibility (see
:mod:`~napari_crf_label.crf.engine`). Marginals are kept pixel-major
(P, N) during the iterations, as in pydensecrf.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np
from numba import njit, prange

from .engine import Engine, Kernel
from .lattice import PermutohedralLattice

__all__ = ["NumbaEngine"]


@njit(cache=True, parallel=True)
def _softmax(energy, out):  # pragma: no cover - compiled
    """Write the per-row softmax of ``energy`` (P, N) into ``out`` (pydensecrf's expAndNormalize)."""
    n, m = energy.shape
    for i in prange(n):
        top = energy[i, 0]
        for c in range(1, m):
            top = max(top, energy[i, c])
        total = np.float32(0.0)
        for c in range(m):
            e = np.exp(energy[i, c] - top)
            out[i, c] = e
            total += e
        for c in range(m):
            out[i, c] = out[i, c] / total


@njit(cache=True, parallel=True)
def _negate(unary, out):  # pragma: no cover - compiled
    """Write ``-unary`` into ``out``."""
    n, m = unary.shape
    for i in prange(n):
        for c in range(m):
            out[i, c] = -unary[i, c]


class NumbaEngine(Engine):
    """Mean field over one lattice (and its symmetric normalisation) per kernel."""

    name = "numba"

    def __init__(self, kernels: Sequence[Kernel], n_classes: int) -> None:
        super().__init__(kernels, n_classes)
        self._terms = []
        for kernel in kernels:
            lattice = PermutohedralLattice(kernel.features)
            self._terms.append((lattice, lattice.symmetric_norm(), float(kernel.weight)))

    def iter_infer(self, unary: np.ndarray, iterations: int, init: np.ndarray | None = None
                   ) -> Generator[None, None, np.ndarray]:
        """Run mean field, yielding after each iteration; return the (N, P) marginals."""
        u = np.ascontiguousarray(np.asarray(unary, np.float32).T)
        energy = np.empty_like(u)
        q = np.empty_like(u)
        if init is None:
            _negate(u, energy)
            _softmax(energy, q)
        else:
            q[:] = np.asarray(init, np.float32).T
        for _ in range(int(iterations)):
            _negate(u, energy)
            for lattice, norm, weight in self._terms:
                lattice.filter_add(q, energy, norm, weight)
            _softmax(energy, q)
            yield
        return np.ascontiguousarray(q.T)
