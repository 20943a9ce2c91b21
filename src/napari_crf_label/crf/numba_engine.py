"""Engine "numba": mean-field inference (Kraehenbuehl & Koltun 2011) on our own permutohedral lattices.

Pure Python + numba (wheels on Linux, macOS and Windows): installs without
a compiler. Semantics as pydensecrf's ``DenseCRF`` with diagonal kernels,
``NORMALIZE_SYMMETRIC`` and Potts compatibility (see
:mod:`~napari_crf_label.crf.engine`). Marginals are kept pixel-major
(P, N) during the iterations, as in pydensecrf. One thread per CRF (see
:mod:`~napari_crf_label.crf.lattice`); tiles run in parallel as processes.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence

import numpy as np
from numba import njit

from ..progress import checkpoint
from .engine import Engine, Kernel
from .lattice import _BLOCK, LANES, PermutohedralLattice, padded, slice2, slice_point

__all__ = ["NumbaEngine", "is_compiled", "prepare"]


@njit(cache=True, nogil=True)
def _message(unary, energy, q, grid, offsets, bary, alpha, norm, weight, first, last, n_classes):  # pragma: no cover
    """Add one kernel's message to the energy; on the last kernel, write the softmax into ``q``.

    ``energy[i] = (-unary[i] if first else energy[i]) + weight * norm_i * slice_i(grid)``;
    then, if ``last``, ``q[i] = softmax(energy[i])`` (pydensecrf's expAndNormalize) over the
    first ``n_classes`` columns (the rest pad the value axis to a multiple of LANES and stay 0).
    """
    n, m = q.shape
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in range(n_blocks):
        acc = np.empty(m, np.float32)
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            slice_point(grid, offsets, bary, alpha, i, acc, n_classes <= 2)
            s = norm[i]
            for c in range(m):
                e = -unary[i, c] if first else energy[i, c]
                acc[c] = e + weight * (acc[c] * s)
            if not last:
                for c in range(m):
                    energy[i, c] = acc[c]
                continue
            _softmax_row(acc, q, i, n_classes)


@njit(cache=True, nogil=True, inline="always")
def _slice4(grid, offsets, bary, alpha, i, c, alpha_last):  # pragma: no cover - compiled
    """Return point ``i``'s sliced values of columns c..c+3 (see :func:`~.lattice.slice_point`), in registers."""
    a0 = np.float32(0.0)
    a1 = np.float32(0.0)
    a2 = np.float32(0.0)
    a3 = np.float32(0.0)
    for j in range(offsets.shape[1]):
        o = offsets[i, j]
        if alpha_last:
            w = bary[i, j]
            a0 += w * grid[o, c] * alpha
            a1 += w * grid[o, c + 1] * alpha
            a2 += w * grid[o, c + 2] * alpha
            a3 += w * grid[o, c + 3] * alpha
        else:
            w = bary[i, j] * alpha
            a0 += w * grid[o, c]
            a1 += w * grid[o, c + 1]
            a2 += w * grid[o, c + 2]
            a3 += w * grid[o, c + 3]
    return a0, a1, a2, a3


@njit(cache=True, nogil=True)
def _message2(unary, energy, grid1, offsets1, bary1, alpha1, norm1, weight1, grid2, offsets2, bary2, alpha2, norm2,
              weight2, n_classes):  # pragma: no cover - compiled
    """Both kernels' messages in one pass over the pixels (the usual two-kernel CRF), negated.

    ``energy[i] = unary[i] - weight1 * norm1_i * slice1_i - weight2 * norm2_i * slice2_i``, summed in
    pydensecrf's order; :func:`_softmax` of it gives the new marginals (a separate pass: measured
    faster than the softmax inside this loop). Sliced values stay in registers, four columns at a time.
    """
    n, m = energy.shape
    alpha_last = n_classes <= 2
    if m == 2:
        for i in range(n):
            a = slice2(grid1, offsets1, bary1, alpha1, i, alpha_last)
            b = slice2(grid2, offsets2, bary2, alpha2, i, alpha_last)
            energy[i, 0] = -((-unary[i, 0] + weight1 * (a[0] * norm1[i])) + weight2 * (b[0] * norm2[i]))
            energy[i, 1] = -((-unary[i, 1] + weight1 * (a[1] * norm1[i])) + weight2 * (b[1] * norm2[i]))
        return
    for i in range(n):
        s1 = norm1[i]
        s2 = norm2[i]
        for c in range(0, m, LANES):
            a = _slice4(grid1, offsets1, bary1, alpha1, i, c, alpha_last)
            b = _slice4(grid2, offsets2, bary2, alpha2, i, c, alpha_last)
            # negation is exact: softmax(-energy) is pydensecrf's expAndNormalize of the sum
            energy[i, c] = -((-unary[i, c] + weight1 * (a[0] * s1)) + weight2 * (b[0] * s2))
            energy[i, c + 1] = -((-unary[i, c + 1] + weight1 * (a[1] * s1)) + weight2 * (b[1] * s2))
            energy[i, c + 2] = -((-unary[i, c + 2] + weight1 * (a[2] * s1)) + weight2 * (b[2] * s2))
            energy[i, c + 3] = -((-unary[i, c + 3] + weight1 * (a[3] * s1)) + weight2 * (b[3] * s2))


@njit(cache=True, nogil=True)
def _softmax_row(e, q, i, m):  # pragma: no cover - compiled
    """Write softmax(e[:m]) into q[i, :m] (``e`` is overwritten; q is written once: measured faster)."""
    top = e[0]
    for c in range(1, m):
        top = max(top, e[c])
    total = np.float32(0.0)
    for c in range(m):
        v = np.exp(e[c] - top)
        e[c] = v
        total += v
    for c in range(m):
        q[i, c] = e[c] / total


@njit(cache=True, nogil=True)
def _softmax(unary, q, n_classes):  # pragma: no cover - compiled
    """Write softmax(-unary) into ``q`` (the start of inference, and the end of each two-kernel step).

    Written out rather than calling :func:`_softmax_row` per pixel: a call
    passing arrays costs reference counting, measured 1.6x slower.
    """
    n = q.shape[0]
    e = np.empty(q.shape[1], np.float32)
    for i in range(n):
        top = -unary[i, 0]
        for c in range(n_classes):
            e[c] = -unary[i, c]
            top = max(top, e[c])
        total = np.float32(0.0)
        for c in range(n_classes):
            v = np.exp(e[c] - top)
            e[c] = v
            total += v
        for c in range(n_classes):
            q[i, c] = e[c] / total


class NumbaEngine(Engine):
    """Mean field over one lattice (and its symmetric normalisation) per kernel."""

    name = "numba"

    def __init__(self, kernels: Sequence[Kernel], n_classes: int, n_pixels: int) -> None:
        super().__init__(kernels, n_classes, n_pixels)
        self._terms = []
        for k, kernel in enumerate(kernels):
            checkpoint("building the CRF", k / len(kernels))  # a cancel is heard between the lattices
            lattice = PermutohedralLattice(kernel.features)
            self._terms.append((lattice, lattice.symmetric_norm(), float(kernel.weight)))

    def iter_infer(self, unary: np.ndarray, iterations: int, init: np.ndarray | None = None
                   ) -> Generator[None, None, np.ndarray]:
        """Run mean field, yielding after each iteration; return the (N, P) marginals."""
        n = self.n_classes
        u = np.zeros((self.n_pixels, padded(n)), np.float32)  # pixel-major, classes padded with zeros
        u[:, :n] = np.asarray(unary, np.float32).T
        q = np.zeros_like(u)
        energy = np.empty_like(u) if len(self._terms) > 1 else q  # a second kernel needs it
        if init is None:
            _softmax(u, q, n)
        else:
            q[:, :n] = np.asarray(init, np.float32).T
        for _ in range(int(iterations)):
            self._step(u, energy, q)
            yield
        return np.ascontiguousarray(q[:, :n].T)

    def _step(self, u: np.ndarray, energy: np.ndarray, q: np.ndarray) -> None:
        """Run one mean-field iteration in place on ``q``."""
        # every kernel reads the old q: splat and blur all before the last message rewrites q
        grids = [lattice.splat_blur(q, norm) for lattice, norm, _ in self._terms]
        if not self._terms:
            _softmax(u, q, self.n_classes)
        if len(self._terms) == 2:
            (lat1, norm1, w1), (lat2, norm2, w2) = self._terms
            _message2(u, energy, grids[0], *lat1.slicing(), norm1, np.float32(w1), grids[1], *lat2.slicing(), norm2,
                      np.float32(w2), self.n_classes)
            _softmax(energy, q, self.n_classes)
            return
        for k, (grid, (lattice, norm, weight)) in enumerate(zip(grids, self._terms)):
            _message(u, energy, q, grid, *lattice.slicing(), norm, np.float32(weight), k == 0,
                     k == len(self._terms) - 1, self.n_classes)


def _kernels() -> tuple:
    """Return the compiled functions a default two-kernel CRF runs (what :func:`prepare` compiles).

    A CRF with one kernel switched off (a compat of 0) also needs :func:`_message`,
    compiled on its first use.
    """
    from . import lattice as lat

    return (lat._simplices, lat._vertices_packed, lat._neighbours_packed, lat._splat, lat._blur, lat._slice_add,
            _message2, _softmax)


def is_compiled() -> bool:
    """Return True when every kernel is compiled in this process or has an entry in numba's disk cache.

    False means the next CRF compiles first (about 10 s, once per machine and
    numba version); callers show that as a step of its own.
    """
    for fn in _kernels():
        if fn.signatures:
            continue
        try:  # numba's cache internals: anything unexpected counts as "not cached"
            index = fn._cache._cache_file._index_path
        except AttributeError:
            return False
        if not os.path.exists(index):
            return False
    return True


def prepare() -> None:
    """Compile every kernel (or load it from the disk cache) by running a tiny CRF."""
    from .tile import TileCRF

    TileCRF(np.zeros((8, 8, 3), np.uint8), 2, engine="numba").infer(np.ones((8, 8), np.int32))
