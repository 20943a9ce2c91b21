"""Engine "numba": mean-field inference (Kraehenbuehl & Koltun 2011) on our own permutohedral lattices.

Pure Python + numba (wheels on Linux, macOS and Windows): installs without
a compiler. Semantics as pydensecrf's ``DenseCRF`` with diagonal kernels,
``NORMALIZE_SYMMETRIC`` and Potts compatibility (see
:mod:`~napari_crf_label.crf.engine`). Marginals are kept pixel-major
(P, N) during the iterations, as in pydensecrf. One thread per CRF (see
:mod:`~napari_crf_label.crf.lattice`); tiles run in parallel as processes.

A pixel's update (both slices, the energy and the softmax) runs in vector
registers (:mod:`~.simd`), for up to 8 classes on blocks of 8 pixels with
the classes transposed across pixels; it rounds as pydensecrf does (Eigen's
``pexp`` for whole packets of four classes, glibc's ``expf`` for the rest,
Eigen's order of summation), so that the two engines' marginals are
bit-identical on Linux x86-64 on GrabCut and the benchmark photos
(tests/test_engines.py; some Dubai tiles differ by up to 2.8e-4, already
in the filtering: benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Generator, Sequence

import numpy as np
from numba import njit

from ..progress import checkpoint
from . import simd
from .engine import Engine, Kernel
from .lattice import PermutohedralLattice, padded, row_scale, slice_add

__all__ = ["NumbaEngine", "is_compiled", "prepare"]


@njit(cache=True, nogil=True, inline="always")
def _eigen_sum(e, n):  # pragma: no cover - compiled
    """Return ``sum(e[:n])`` in the order Eigen's vectorised ``sum()`` adds (pydensecrf's softmax).

    Four lanes of packets (two packets' lanes apart while 8 or more are left),
    then (l0 + l2) + (l1 + l3), then the values past the last whole packet.
    """
    if n < 4:
        total = e[0]
        for c in range(1, n):
            total += e[c]
        return total
    packets = n // 4 * 4
    pairs = n // 8 * 8
    r0, r1, r2, r3 = e[0], e[1], e[2], e[3]
    if packets > 4:
        s0, s1, s2, s3 = e[4], e[5], e[6], e[7]
        for c in range(8, pairs, 8):
            r0, r1, r2, r3 = r0 + e[c], r1 + e[c + 1], r2 + e[c + 2], r3 + e[c + 3]
            s0, s1, s2, s3 = s0 + e[c + 4], s1 + e[c + 5], s2 + e[c + 6], s3 + e[c + 7]
        r0, r1, r2, r3 = r0 + s0, r1 + s1, r2 + s2, r3 + s3
        if packets > pairs:
            r0, r1, r2, r3 = r0 + e[pairs], r1 + e[pairs + 1], r2 + e[pairs + 2], r3 + e[pairs + 3]
    total = (r0 + r2) + (r1 + r3)
    for c in range(packets, n):
        total += e[c]
    return total


@njit(cache=True, nogil=True, inline="always")
def _softmax_row(e, q, base, n, width):  # pragma: no cover - compiled
    """Write softmax(e[:n]) into ``q[base:base+width]`` (padding 0); ``e`` (width + 4 long) is overwritten.

    Rounded as pydensecrf's ``expAndNormalize`` (Eigen): whole packets of
    four classes through Eigen's ``pexp`` (:func:`~.simd.pexp4`), the rest
    through libm's ``expf`` (:func:`~.simd.expf4`, four lanes at a time),
    Eigen's summation order, then a division.
    """
    top = e[0]
    for c in range(1, n):
        top = max(top, e[c])
    packets = n // 4 * 4
    if packets < n:
        simd.expf4(e, packets, e, packets, top)  # the (up to 3) classes past the packets; lanes past n are reset below
    for c in range(0, packets, 4):
        simd.pexp4(e, c, e, c, top)
    for c in range(n, width):
        e[c] = 0.0
    total = _eigen_sum(e, n)
    if width == 2:
        simd.divide2(q, base, e, 0, total)
    elif width == 4:
        simd.divide4(q, base, e, 0, total)
    else:
        for c in range(0, width, 8):
            simd.divide8(q, base + c, e, c, total)


@njit(cache=True, nogil=True)
def _softmax(unary, q, n_classes, width):  # pragma: no cover - compiled
    """Write softmax(-unary) into ``q`` (flat rows of ``width`` <= 16, at least BLOCK rows): the start of inference."""
    n = q.size // width
    if n < simd.BLOCK or width > 16:
        raise ValueError("_softmax takes at least BLOCK pixels of at most 16 classes")
    for b in range(0, n, simd.BLOCK):
        i = min(b, n - simd.BLOCK)  # the last block may overlap the one before: its pixels get the same values
        if width == 2:
            simd.block2_0(q, unary, n_classes, i)
        elif width == 4:
            simd.block4_0(q, unary, n_classes, i)
        elif width == 8:
            simd.block8_0(q, unary, n_classes, i)
        else:
            simd.block16_0(q, unary, n_classes, i)


@njit(cache=True, nogil=True)
def _softmax_general(unary, q, n_classes, width):  # pragma: no cover - compiled
    """As :func:`_softmax` for any width and pixel count, a row at a time through memory (slower)."""
    e = np.zeros(width + 4, np.float32)  # + 4: expf4 reads and writes four lanes
    for i in range(q.size // width):
        base = np.int64(i) * width
        row_scale(e, 0, np.float32(-1.0), unary, base, width)
        _softmax_row(e, q, base, n_classes, width)


@njit(cache=True, nogil=True)
def _message2(unary, q, grid1, offsets1, bary1, alpha1, norm1, weight1, grid2, offsets2, bary2, alpha2, norm2,
              weight2, n_classes, width):  # pragma: no cover - compiled
    """Both kernels' messages and the softmax in one pass over the pixels (the usual two-kernel CRF).

    ``q[i] = softmax((-unary[i] + weight1 * (norm1_i * slice1_i)) + weight2 * (norm2_i * slice2_i))``,
    rounded in pydensecrf's order, in vector registers (width <= 16, at least BLOCK pixels; else
    :func:`_message` per kernel).
    """
    dp1, dp2 = offsets1.shape[1], offsets2.shape[1]
    o1, b1, o2, b2 = offsets1.reshape(-1), bary1.reshape(-1), offsets2.reshape(-1), bary2.reshape(-1)
    n = offsets1.shape[0]
    if n < simd.BLOCK or width > 16:
        raise ValueError("_message2 takes at least BLOCK pixels of at most 16 classes")
    for b in range(0, n, simd.BLOCK):
        i = min(b, n - simd.BLOCK)  # the last block may overlap the one before: its pixels get the same values
        if width == 2:
            simd.block2_2(q, unary, n_classes, i, grid1, o1, b1, dp1, alpha1, norm1, weight1,
                          grid2, o2, b2, dp2, alpha2, norm2, weight2)
        elif width == 4:
            simd.block4_2(q, unary, n_classes, i, grid1, o1, b1, dp1, alpha1, norm1, weight1,
                          grid2, o2, b2, dp2, alpha2, norm2, weight2)
        elif width == 8:
            simd.block8_2(q, unary, n_classes, i, grid1, o1, b1, dp1, alpha1, norm1, weight1,
                          grid2, o2, b2, dp2, alpha2, norm2, weight2)
        else:
            simd.block16_2(q, unary, n_classes, i, grid1, o1, b1, dp1, alpha1, norm1, weight1,
                           grid2, o2, b2, dp2, alpha2, norm2, weight2)


@njit(cache=True, nogil=True)
def _message1(unary, q, grid, offsets, bary, alpha, norm, weight, n_classes, width):  # pragma: no cover - compiled
    """One kernel's message and the softmax (a CRF with the other kernel switched off; width <= 16)."""
    dp1 = offsets.shape[1]
    o1, b1 = offsets.reshape(-1), bary.reshape(-1)
    if width == 2:
        for i in range(offsets.shape[0]):
            simd.message2_1(q, unary, n_classes, i, grid, o1, b1, dp1, alpha, norm[i], weight)
    elif width == 4:
        for i in range(offsets.shape[0]):
            simd.message4_1(q, unary, n_classes, i, grid, o1, b1, dp1, alpha, norm[i], weight)
    elif width == 8:
        for i in range(offsets.shape[0]):
            simd.message8_1(q, unary, n_classes, i, grid, o1, b1, dp1, alpha, norm[i], weight)
    else:
        for i in range(offsets.shape[0]):
            simd.message16_1(q, unary, n_classes, i, grid, o1, b1, dp1, alpha, norm[i], weight)


@njit(cache=True, nogil=True)
def _message(unary, energy, q, grid, offsets, bary, alpha, norm, weight, first, last, n_classes,
             width):  # pragma: no cover - compiled
    """Add one kernel's message to ``energy`` (from ``-unary`` if ``first``); if ``last``, write its softmax to ``q``.

    The general case (more than two kernels, more than 16 classes or fewer pixels than a block);
    :func:`_message2` and :func:`_message1` fuse one or two kernels.
    """
    alpha_last = n_classes <= 2
    dp1 = offsets.shape[1]
    flat_offsets, flat_bary = offsets.reshape(-1), bary.reshape(-1)
    e = np.zeros(width + 4, np.float32)  # + 4: expf4 reads and writes four lanes
    for i in range(offsets.shape[0]):
        base = np.int64(i) * width
        if first:
            row_scale(energy, base, np.float32(-1.0), unary, base, width)
        slice_add(energy, base, grid, flat_offsets, flat_bary, dp1, alpha, i, norm[i], weight, width, alpha_last)
        if last:
            row_scale(e, 0, np.float32(1.0), energy, base, width)
            _softmax_row(e, q, base, n_classes, width)


#: Bytes of the keyed lattices kept for later CRFs (a 1110 x 1110 tile's position lattice: about 35 MB).
SHARED_BYTES = 160_000_000
_shared: OrderedDict[tuple, tuple[PermutohedralLattice, np.ndarray]] = OrderedDict()  # key -> lattice, norm
_shared_lock = threading.Lock()


def _built(kernel: Kernel) -> tuple[PermutohedralLattice, np.ndarray]:
    """Return a kernel's lattice and symmetric normalisation, shared between CRFs whose kernels have its key.

    A streamed run's tiles mostly have one shape, so their position kernel
    is one lattice (a third of building a tile's CRF). The structure is the
    same bit for bit, so the marginals are too. Kept: the last keys used,
    within :data:`SHARED_BYTES`.
    """
    if kernel.key is None:
        lattice = PermutohedralLattice(kernel.features)
        return lattice, lattice.symmetric_norm()
    with _shared_lock:
        found = _shared.get(kernel.key)
        if found is not None:
            _shared.move_to_end(kernel.key)
    if found is None:  # built outside the lock: two threads may both build it, and one copy is kept
        lattice = PermutohedralLattice(kernel.features)
        found = lattice, lattice.symmetric_norm()
        with _shared_lock:
            _shared[kernel.key] = found
            _shared.move_to_end(kernel.key)
            while len(_shared) > 1 and sum(lat.nbytes() + n.nbytes for lat, n in _shared.values()) > SHARED_BYTES:
                _shared.popitem(last=False)
    lattice, norm = found
    return lattice.sharing(), norm


class NumbaEngine(Engine):
    """Mean field over one lattice (and its symmetric normalisation) per kernel.

    Marginals are kept pixel-major, in rows padded to a vector width
    (:func:`~.lattice.padded`; padding classes stay 0), as in pydensecrf.
    """

    name = "numba"

    def __init__(self, kernels: Sequence[Kernel], n_classes: int, n_pixels: int) -> None:
        super().__init__(kernels, n_classes, n_pixels)
        self._terms = []
        for k, kernel in enumerate(kernels):
            checkpoint("building the CRF", k / len(kernels))  # a cancel is heard between the lattices
            lattice, norm = _built(kernel)
            self._terms.append((lattice, norm, np.float32(kernel.weight)))

    def iter_infer(self, unary: np.ndarray, iterations: int, init: np.ndarray | None = None
                   ) -> Generator[None, None, np.ndarray]:
        """Run mean field, yielding after each iteration; return the (N, P) marginals."""
        n = self.n_classes
        width = padded(n)
        u = np.zeros((self.n_pixels, width), np.float32)  # pixel-major, classes padded with zeros
        u[:, :n] = np.asarray(unary, np.float32).T
        u = u.reshape(-1)
        q = np.zeros_like(u)
        # the fast kernels take up to 16 classes and at least a block of pixels
        fast = width <= 16 and self.n_pixels >= simd.BLOCK
        general = not fast or len(self._terms) > 2 or (len(self._terms) == 1 and width > 16)
        energy = np.empty_like(u) if general and self._terms else q
        if init is None:
            (_softmax if fast else _softmax_general)(u, q, n, width)
        else:
            q.reshape(self.n_pixels, width)[:, :n] = np.asarray(init, np.float32).T
        for _ in range(int(iterations)):
            self._step(u, energy, q, width, fast)
            yield
        return np.ascontiguousarray(q.reshape(self.n_pixels, width)[:, :n].T)

    def _step(self, u: np.ndarray, energy: np.ndarray, q: np.ndarray, width: int, fast: bool) -> None:
        """Run one mean-field iteration in place on ``q`` (flat rows of ``width``)."""
        # every kernel reads the old q: splat and blur all before the messages rewrite q
        grids = [lattice.splat_blur(q, norm, width) for lattice, norm, _ in self._terms]
        n = self.n_classes
        if not self._terms:
            (_softmax if fast else _softmax_general)(u, q, n, width)
        elif len(self._terms) == 2 and fast:
            (lat1, norm1, w1), (lat2, norm2, w2) = self._terms
            _message2(u, q, grids[0], *lat1.slicing(), norm1, w1, grids[1], *lat2.slicing(), norm2, w2, n, width)
        elif len(self._terms) == 1 and width <= 16:
            (lattice, norm, weight), = self._terms
            _message1(u, q, grids[0], *lattice.slicing(), norm, weight, n, width)
        else:
            for k, (grid, (lattice, norm, weight)) in enumerate(zip(grids, self._terms)):
                _message(u, energy, q, grid, *lattice.slicing(), norm, weight, k == 0, k == len(self._terms) - 1,
                         n, width)


def _kernels() -> tuple:
    """Return the compiled functions a default two-kernel CRF runs (what :func:`prepare` compiles).

    Compiled on first use instead: :func:`_message1` (a CRF with one kernel
    switched off, compat 0), and :func:`_message` and :func:`_softmax_general`
    (more than 16 classes, or a CRF of fewer than 8 pixels).
    """
    from . import lattice as lat

    return (lat._simplices, lat._vertices_packed, lat._neighbours_packed, lat._splat, lat._blur, lat._slice_add,
            _message2, _softmax)


def is_compiled() -> bool:
    """Return True when every kernel is compiled in this process or has an entry in numba's disk cache.

    False means the next CRF compiles first (about 10 s, once per machine and
    numba version); callers show that as a step of its own.
    """
    return all_cached(_kernels())


def all_cached(functions: Sequence) -> bool:
    """Return True when every numba function is compiled in this process or has an entry in the disk cache."""
    for fn in functions:
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
