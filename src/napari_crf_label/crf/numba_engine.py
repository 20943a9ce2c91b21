"""Engine "numba": mean-field inference (Kraehenbuehl & Koltun 2011) on our own permutohedral lattices.

Pure Python + numba (wheels on Linux, macOS and Windows): installs without
a compiler. Semantics as pydensecrf's ``DenseCRF`` with diagonal kernels,
``NORMALIZE_SYMMETRIC`` and Potts compatibility (see
:mod:`~napari_crf_label.crf.engine`). Marginals are kept pixel-major
(P, N) during the iterations, as in pydensecrf.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

from .engine import Engine, Kernel
from .lattice import _BLOCK, PermutohedralLattice, padded, slice_point

__all__ = ["NumbaEngine", "engine_threads", "is_compiled", "prepare"]


def engine_threads() -> int:
    """Return the threads one CRF uses: ``NAPARI_CRF_LABEL_THREADS``, else 1.

    One thread by default: tiles run in parallel as processes (``workers``),
    and on a loaded machine (napari drawing, another run) a second thread
    mostly waits for its share of the cores (benchmarks/RESULTS.md).
    """
    try:
        wanted = int(os.environ.get("NAPARI_CRF_LABEL_THREADS", "1"))
    except ValueError:
        wanted = 1
    return max(1, min(wanted, numba.config.NUMBA_NUM_THREADS))


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run numba's parallel loops of this thread with ``n`` threads, restoring the previous count."""
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@njit(cache=True, parallel=True)
def _message(unary, energy, q, grid, offsets, bary, alpha, norm, weight, first, last, n_classes):  # pragma: no cover
    """Add one kernel's message to the energy; on the last kernel, write the softmax into ``q``.

    ``energy[i] = (-unary[i] if first else energy[i]) + weight * norm_i * slice_i(grid)``;
    then, if ``last``, ``q[i] = softmax(energy[i])`` (pydensecrf's expAndNormalize) over the
    first ``n_classes`` columns (the rest pad the value axis to a multiple of LANES and stay 0).
    """
    n, m = q.shape
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
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


@njit(cache=True, parallel=True)
def _message2(unary, energy, grid1, offsets1, bary1, alpha1, norm1, weight1, grid2, offsets2, bary2, alpha2, norm2,
              weight2, n_classes):  # pragma: no cover - compiled
    """Both kernels' messages in one pass over the pixels (the usual two-kernel CRF), negated.

    ``energy[i] = unary[i] - weight1 * norm1_i * slice1_i - weight2 * norm2_i * slice2_i``, summed in
    pydensecrf's order; :func:`_softmax` of it gives the new marginals (a separate pass: measured
    faster than the softmax inside this loop).
    """
    n, m = energy.shape
    alpha_last = n_classes <= 2
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        acc1 = np.empty(m, np.float32)
        acc2 = np.empty(m, np.float32)
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            slice_point(grid1, offsets1, bary1, alpha1, i, acc1, alpha_last)
            slice_point(grid2, offsets2, bary2, alpha2, i, acc2, alpha_last)
            s1 = norm1[i]
            s2 = norm2[i]
            for c in range(m):
                e = -unary[i, c] + weight1 * (acc1[c] * s1)
                energy[i, c] = -(e + weight2 * (acc2[c] * s2))  # negation is exact: softmax(-energy) as before


@njit(cache=True, inline="always")
def _softmax_row(e, q, i, m):  # pragma: no cover - compiled
    """Write softmax(e[:m]) into q[i, :m]."""
    top = e[0]
    for c in range(1, m):
        top = max(top, e[c])
    total = np.float32(0.0)
    for c in range(m):
        v = np.exp(e[c] - top)
        q[i, c] = v
        total += v
    for c in range(m):
        q[i, c] = q[i, c] / total


@njit(cache=True, parallel=True)
def _softmax(unary, q, n_classes):  # pragma: no cover - compiled
    """Write softmax(-unary) into ``q`` (the start of inference, and the end of each two-kernel step)."""
    n, m = q.shape
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        e = np.empty(m, np.float32)
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            for c in range(m):
                e[c] = -unary[i, c]
            _softmax_row(e, q, i, n_classes)


class NumbaEngine(Engine):
    """Mean field over one lattice (and its symmetric normalisation) per kernel."""

    name = "numba"

    def __init__(self, kernels: Sequence[Kernel], n_classes: int, threads: int | None = None) -> None:
        super().__init__(kernels, n_classes)
        self.threads = engine_threads() if threads is None else max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
        self._terms = []
        with _threads(self.threads):
            for kernel in kernels:
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
            with _threads(self.threads):
                _softmax(u, q, n)
        else:
            q[:, :n] = np.asarray(init, np.float32).T
        for _ in range(int(iterations)):
            with _threads(self.threads):  # per step: the generator may be resumed from another thread
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
    """Return every compiled function the engine runs."""
    from . import lattice as lat

    return (lat._simplices, lat._vertices_packed, lat._neighbours_packed, lat._splat, lat._blur, lat._slice_add,
            _message, _message2, _softmax)


def is_compiled() -> bool:
    """Return True when every kernel is compiled in this process or has an entry in numba's disk cache.

    False means the next CRF compiles first (10-20 s, once per machine and
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
