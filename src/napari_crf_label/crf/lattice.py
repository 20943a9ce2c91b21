"""The permutohedral lattice (Adams, Baek & Davis 2010) for fast high-dimensional Gaussian filtering, in numba.

Filtering a signal ``v`` over P points with features ``f`` (D, P) gives
approximately ``sum_j exp(-|f_i - f_j|^2 / 2) v_j`` in O(P D^2): splat
each value onto the D + 1 vertices of its enclosing simplex (barycentric
weights), blur along the D + 1 lattice axes with [1/2, 1, 1/2], slice back
with the same weights. This follows the variant in Kraehenbuehl's dense CRF
code (pydensecrf): the same embedding, rounding (to nearest, ties to even),
blur weights and final scale, in float32, and every value goes through the
same float operations in the same order, so that both engines agree to the
bit on the tested images (the mean field amplifies any rounding difference,
about 3.5x per iteration on GrabCut).

Values are rows of 2, 4 or 8k floats (:func:`padded`: the classes) that
splat, blur and slice handle as one vector each (:mod:`~.simd`); the
simplices and the vertex keys are computed for blocks of points at a time,
in loops that LLVM vectorises.

The lattice is built once, then :meth:`PermutohedralLattice.filter` runs
many times. Everything runs on one thread: tiles run in parallel as
threads (the compiled functions release the GIL) or processes, numba compiles serial code in a third less time than its
parallel loops, and on a loaded 2-core machine a second thread made the
mean-field step 3x slower (benchmarks/RESULTS.md). Kernels are compiled on first use and cached on disk by numba
(next to the package, or in the user's cache folder when the package
folder is read-only).
"""

from __future__ import annotations

import copy

import numpy as np
from numba import njit

from . import simd

__all__ = ["PermutohedralLattice", "padded", "row_axpy", "row_axpy_scaled", "row_scale", "slice_add"]

_BLOCK = 4096  # points per block of the loops that need scratch arrays (allocated per block)


@njit(cache=True, nogil=True)
def _simplices(features):  # pragma: no cover - compiled
    """Return rem0 and rank (D + 1, P) and the barycentric weights (P, D + 1) of every point's simplex; features (D, P).

    Blocks of points at a time, each step a loop over the block's points
    (class-major scratch rows) that LLVM vectorises; every point still
    computes the same float operations in the same order as pydensecrf.
    """
    d, n = features.shape
    dp1 = d + 1
    inv_std_dev = np.float32(np.sqrt(2.0 / 3.0) * dp1)
    scale = np.empty(d, np.float32)
    for i in range(d):
        scale[i] = np.float32(1.0 / np.sqrt(np.float64((i + 2) * (i + 1))) * np.float64(inv_std_dev))
    down = np.float32(1.0) / np.float32(dp1)
    up = np.float32(dp1)
    rem0 = np.empty((dp1, n), np.int32)  # coordinate-major: the vertex keys are computed many points at a time
    rank = np.empty((dp1, n), np.int8)  # 0..D: one byte (D < 128) keeps the build's peak memory down
    bary = np.empty((n, dp1), np.float32)
    block = 256
    el = np.empty((dp1, block), np.float32)
    r0 = np.empty((dp1, block), np.float32)
    rk = np.empty((dp1, block), np.int32)
    bc = np.empty((dp1 + 1, block), np.float32)
    sm = np.empty(block, np.float32)
    total = np.empty(block, np.float32)
    for start in range(0, n, block):
        m = min(block, n - start)
        # elevate onto the hyperplane x_0 + ... + x_d = 0 (y = E f)
        for k in range(m):
            sm[k] = 0.0
        for j in range(d, 0, -1):
            s = scale[j - 1]
            fj = np.float32(j)
            for k in range(m):
                cf = features[j - 1, start + k] * s
                el[j, k] = sm[k] - fj * cf
                sm[k] += cf
        for k in range(m):
            el[0, k] = sm[k]
        # the nearest remainder-0 point, then the simplex (rank of each coordinate's remainder)
        for k in range(m):
            total[k] = 0.0
        for i in range(dp1):
            for k in range(m):
                v = np.rint(down * el[i, k])
                r0[i, k] = v * up
                total[k] += v
        rk[:, :m] = 0
        for i in range(d):
            for j in range(i + 1, dp1):
                for k in range(m):
                    smaller = np.int32(el[i, k] - r0[i, k] < el[j, k] - r0[j, k])
                    rk[i, k] += smaller
                    rk[j, k] += 1 - smaller
        for i in range(dp1):
            for k in range(m):
                r = rk[i, k] + np.int32(total[k])
                below = r < 0
                above = r >= dp1
                rk[i, k] = r + dp1 if below else (r - dp1 if above else r)
                r0[i, k] = r0[i, k] + up if below else (r0[i, k] - up if above else r0[i, k])
        for k in range(m):  # the barycentric weights: per point, indexed by rank
            for i in range(dp1 + 1):
                bc[i, k] = 0.0
            for i in range(dp1):
                v = (el[i, k] - r0[i, k]) * down
                p = d - rk[i, k]
                bc[p, k] += v
                bc[p + 1, k] -= v
            bc[0, k] += np.float32(1.0) + bc[dp1, k]
            for i in range(dp1):
                bary[start + k, i] = bc[i, k]
        for i in range(dp1):
            for k in range(m):
                rem0[i, start + k] = np.int32(r0[i, k])
                rank[i, start + k] = rk[i, k]
    return rem0, rank, bary


@njit(cache=True, nogil=True, inline="always")
def _hash(keys, row, key, d):  # pragma: no cover - compiled
    """Hash of ``keys[row]`` (row >= 0) or of ``key`` (row < 0)."""
    h = np.uint64(0)
    for i in range(d):
        c = keys[row, i] if row >= 0 else key[i]
        h = (h + np.uint64(c & 0xFFFFFFFF)) * np.uint64(1664525)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True, nogil=True, inline="always")
def _find(table, keys, key, d):  # pragma: no cover - compiled
    """Return the slot of ``key`` in ``table``: its entry, or the empty slot where it would go."""
    mask = np.uint64(table.size - 1)
    h = _hash(keys, -1, key, d) & mask
    while True:
        e = table[h]
        if e < 0:
            return h
        same = True
        for i in range(d):
            if keys[e, i] != key[i]:
                same = False
                break
        if same:
            return h
        h = (h + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def _vertices(rem0, rank):  # pragma: no cover - compiled
    """Insert every simplex vertex into a hash table; return (offsets (P, D+1), keys (M, D), table).

    Neighbouring points mostly share their simplex: a vertex equal to the
    previous point's vertex of the same remainder skips the hash lookup. The
    table starts small (lattices often have far fewer vertices than points,
    and a small table stays in cache) and doubles when half full.
    """
    dp1, n = rem0.shape
    d = dp1 - 1
    capacity = 4096
    table = np.full(capacity, -1, np.int32)
    keys = np.empty((capacity // 2 + 1, d), np.int32)
    offsets = np.empty((n, dp1), np.int32)
    last = np.full((dp1, d), np.iinfo(np.int32).min, np.int32)  # previous point's vertex keys, per remainder
    last_entry = np.zeros(dp1, np.int32)
    key = np.empty(d, np.int32)
    filled = 0
    for k in range(n):
        for r in range(dp1):
            same = True
            for i in range(d):
                # the canonical simplex's vertex r, permuted by the rank of each coordinate
                key[i] = rem0[i, k] + r - dp1 * np.int32(rank[i, k] > d - r)  # branch-free: ranks are random
                same &= key[i] == last[r, i]
            if same:
                offsets[k, r] = last_entry[r] + 1
                continue
            h = _find(table, keys, key, d)
            e = table[h]
            if e < 0:
                e = filled
                for i in range(d):
                    keys[e, i] = key[i]
                table[h] = e
                filled += 1
                if 2 * filled >= capacity:  # keep the table at most half full
                    capacity *= 2
                    table = np.full(capacity, -1, np.int32)
                    grown = np.empty((capacity // 2 + 1, d), np.int32)
                    for m in range(filled):
                        grown[m] = keys[m]
                    keys = grown
                    for m in range(filled):
                        h = _hash(keys, m, key, d) & np.uint64(capacity - 1)
                        while table[h] >= 0:
                            h = (h + np.uint64(1)) & np.uint64(capacity - 1)
                        table[h] = m
            for i in range(d):
                last[r, i] = key[i]
            last_entry[r] = e
            offsets[k, r] = e + 1  # row 0 of the value arrays stands for "no vertex"
    return offsets, keys[:filled], table


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: Packed keys hold at most this many bits; wider lattices (huge feature ranges) use the generic hash.
_PACK_BITS = 63
#: log2 of the entries of the recent-vertex cache of the packed hash (12 bytes each: 96 KB, stays in L2).
_RECENT_BITS = 13


@njit(cache=True, nogil=True, inline="always")
def _slot(code, table_codes, table, bits):  # pragma: no cover - compiled
    """Return the slot of ``code`` in the packed table: its entry, or the empty slot where it would go."""
    mask = np.uint64(table.size - 1)
    h = (np.uint64(code) * _GOLDEN) >> np.uint64(64 - bits)
    while table[h] >= 0 and table_codes[h] != code:
        h = (h + np.uint64(1)) & mask
    return h


@njit(cache=True, nogil=True)
def _vertices_packed(rem0, rank, low, shifts):  # pragma: no cover - compiled
    """As :func:`_vertices` with each vertex key packed into one int64 (``sum (key_i - low_i) << shift_i``).

    Returns (offsets (P, D+1), codes (M,), table codes, table entries).
    """
    dp1, n = rem0.shape
    d = dp1 - 1
    bits = 12
    table = np.full(1 << bits, -1, np.int32)
    table_codes = np.zeros(1 << bits, np.int64)
    codes = np.empty((1 << bits) // 2 + 1, np.int64)
    offsets = np.empty((n, dp1), np.int32)
    last = np.full(dp1, -1, np.int64)
    last_entry = np.zeros(dp1, np.int32)
    recent_codes = np.full(1 << _RECENT_BITS, -1, np.int64)  # codes are >= 0: -1 is empty
    recent_entries = np.zeros(1 << _RECENT_BITS, np.int32)
    filled = 0
    block = np.empty((dp1, _BLOCK), np.int64)
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        # the block's vertex codes first: loops over its points, which LLVM vectorises
        for r in range(dp1):
            for k in range(stop - start):
                block[r, k] = 0
            for i in range(d):
                base = np.int64(r) - low[i]
                for k in range(stop - start):
                    key = rem0[i, start + k] + base - dp1 * np.int64(rank[i, start + k] > d - r)
                    block[r, k] += key << shifts[i]
        for k in range(start, stop):
            for r in range(dp1):
                code = block[r, k - start]
                if code == last[r]:
                    offsets[k, r] = last_entry[r] + 1
                    continue
                # a small direct-mapped cache (L1-sized) of recent vertices: nearby points share them
                ci = (np.uint64(code) * _GOLDEN) >> np.uint64(64 - _RECENT_BITS)
                if recent_codes[ci] == code:
                    e = recent_entries[ci]
                    last[r] = code
                    last_entry[r] = e
                    offsets[k, r] = e + 1
                    continue
                h = _slot(code, table_codes, table, bits)
                e = table[h]
                if e < 0:
                    e = filled
                    codes[e] = code
                    table[h] = e
                    table_codes[h] = code
                    filled += 1
                    if 2 * filled >= table.size:  # keep the table at most half full
                        bits += 1
                        table = np.full(1 << bits, -1, np.int32)
                        table_codes = np.zeros(1 << bits, np.int64)
                        grown = np.empty((1 << bits) // 2 + 1, np.int64)
                        for m in range(filled):  # a loop, not a slice copy: numba compiles that one's error message
                            grown[m] = codes[m]
                        codes = grown
                        for m in range(filled):
                            h = _slot(codes[m], table_codes, table, bits)
                            table[h] = m
                            table_codes[h] = codes[m]
                recent_codes[ci] = code
                recent_entries[ci] = e
                last[r] = code
                last_entry[r] = e
                offsets[k, r] = e + 1  # row 0 of the value arrays stands for "no vertex"
    return offsets, codes[:filled], table_codes, table


@njit(cache=True, nogil=True)
def _neighbours_packed(codes, table_codes, table, deltas):  # pragma: no cover - compiled
    """As :func:`_neighbours` for packed keys: a neighbour's code is the vertex's code plus ``deltas[j, side]``."""
    m = codes.size
    dp1 = deltas.shape[0]
    bits = 0
    while (1 << bits) < table.size:
        bits += 1
    out = np.zeros((dp1, m + 1, 2), np.int32)
    for i in range(m):
        for j in range(dp1):
            for side in range(2):
                out[j, i + 1, side] = table[_slot(codes[i] + deltas[j, side], table_codes, table, bits)] + 1
    return out


@njit(cache=True, nogil=True)
def _key_range(rem0):  # pragma: no cover - compiled
    """Return the per-coordinate (min, max) of ``rem0[:D]`` (D + 1, P) as int64."""
    dp1, n = rem0.shape
    lowest = np.full(dp1 - 1, np.iinfo(np.int64).max, np.int64)
    highest = np.full(dp1 - 1, np.iinfo(np.int64).min, np.int64)
    for i in range(dp1 - 1):
        low, high = lowest[i], highest[i]
        for k in range(n):
            low = min(low, np.int64(rem0[i, k]))
            high = max(high, np.int64(rem0[i, k]))
        lowest[i], highest[i] = low, high
    return lowest, highest


def _build(rem0: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (offsets, neighbours) of the lattice of these simplices: packed keys when they fit in 63 bits."""
    d = rem0.shape[0] - 1
    if d > 0:
        # keys are rem0 + [-d, d] and their blur neighbours another d + 1 away: 2d + 2 of margin
        lowest, highest = _key_range(rem0)
        low = lowest - 2 * d - 2
        span = highest + 2 * d + 2 - low + 1
        widths = np.ceil(np.log2(span.astype(np.float64) + 1)).astype(np.int64)
        if widths.sum() <= _PACK_BITS:
            shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
            offsets, codes, table_codes, table = _vertices_packed(rem0, rank, low, shifts)
            unit = np.int64(1) << shifts
            deltas = np.empty((d + 1, 2), np.int64)
            for j in range(d + 1):  # n1 = key - 1 (key_j + d on axis j), n2 = key + 1 (key_j - d on axis j)
                deltas[j, 0] = -unit.sum() + (unit[j] * (d + 1) if j < d else 0)
                deltas[j, 1] = unit.sum() - (unit[j] * (d + 1) if j < d else 0)
            return offsets, _neighbours_packed(codes, table_codes, table, deltas)
    offsets, keys, table = _vertices(rem0, rank)
    return offsets, _neighbours(keys, table)


@njit(cache=True, nogil=True)
def _neighbours(keys, table):  # pragma: no cover - compiled
    """Return (D+1, M+1, 2) value rows of each vertex's two neighbours along each lattice axis (0 = none)."""
    m, d = keys.shape
    dp1 = d + 1
    out = np.zeros((dp1, m + 1, 2), np.int32)
    n_blocks = (m + _BLOCK - 1) // _BLOCK
    for b in range(n_blocks):
        n1 = np.empty(d, np.int32)
        n2 = np.empty(d, np.int32)
        for i in range(b * _BLOCK, min(m, (b + 1) * _BLOCK)):
            for j in range(dp1):
                for c in range(d):
                    n1[c] = keys[i, c] - 1
                    n2[c] = keys[i, c] + 1
                if j < d:
                    n1[j] = keys[i, j] + d
                    n2[j] = keys[i, j] - d
                e1 = table[_find(table, keys, n1, d)]
                e2 = table[_find(table, keys, n2, d)]
                out[j, i + 1, 0] = e1 + 1
                out[j, i + 1, 1] = e2 + 1
    return out


@njit(cache=True, nogil=True, inline="always")
def row_axpy(dst, d, a, src, s, width):  # pragma: no cover - compiled
    """``dst[d:d+width] += a * src[s:s+width]`` (width 2, 4 or a multiple of 8; see :func:`padded`)."""
    if width == 2:
        simd.axpy2(dst, d, a, src, s)
    elif width == 4:
        simd.axpy4(dst, d, a, src, s)
    else:
        for c in range(0, width, 8):
            simd.axpy8(dst, d + c, a, src, s + c)


@njit(cache=True, nogil=True, inline="always")
def row_axpy_scaled(dst, d, a, src, s, b, width):  # pragma: no cover - compiled
    """``dst[d:d+width] += (a * src[s:s+width]) * b``."""
    if width == 2:
        simd.axpy_scaled2(dst, d, a, src, s, b)
    elif width == 4:
        simd.axpy_scaled4(dst, d, a, src, s, b)
    else:
        for c in range(0, width, 8):
            simd.axpy_scaled8(dst, d + c, a, src, s + c, b)


@njit(cache=True, nogil=True, inline="always")
def row_scale(dst, d, a, src, s, width):  # pragma: no cover - compiled
    """``dst[d:d+width] = a * src[s:s+width]``."""
    if width == 2:
        simd.scale2(dst, d, a, src, s)
    elif width == 4:
        simd.scale4(dst, d, a, src, s)
    else:
        for c in range(0, width, 8):
            simd.scale8(dst, d + c, a, src, s + c)


@njit(cache=True, nogil=True)
def _splat(values, scale, offsets, bary, grid, width):  # pragma: no cover - compiled
    """Zero ``grid`` and add each point's ``values * scale`` to its simplex vertices.

    Flat arrays of rows of ``width`` values: ``values`` (P * width,), ``grid`` ((M+1) * width,).
    Points in order, as pydensecrf does, so every vertex sums in the same
    order (and rounds the same way).
    """
    n, dp1 = offsets.shape
    grid[:] = 0.0
    v = np.empty(width, np.float32)
    for i in range(n):
        row_scale(v, 0, scale[i], values, np.int64(i) * width, width)
        for j in range(dp1):
            row_axpy(grid, np.int64(offsets[i, j]) * width, bary[i, j], v, 0, width)


@njit(cache=True, nogil=True)
def _blur(grid, spare, neighbours, width):  # pragma: no cover - compiled
    """Blur ``grid`` along every lattice axis with [1/2, 1, 1/2]; return the array holding the result (flat rows)."""
    dp1, rows = neighbours.shape[0], neighbours.shape[1]
    for j in range(dp1):
        for i in range(1, rows):
            r = np.int64(i) * width
            a = np.int64(neighbours[j, i, 0]) * width
            b = np.int64(neighbours[j, i, 1]) * width
            if width == 2:
                simd.blur2(spare, r, grid, r, a, b)
            elif width == 4:
                simd.blur4(spare, r, grid, r, a, b)
            else:
                for c in range(0, width, 8):
                    simd.blur8(spare, r + c, grid, r + c, a + c, b + c)
        grid, spare = spare, grid
    return grid


@njit(cache=True, nogil=True, inline="always")
def slice_add(dst, d, grid, offsets, bary, dp1, alpha, i, s, w, width, alpha_last):  # pragma: no cover - compiled
    """``dst[d:d+width] += (s * slice_i) * w``, slice_i = alpha * sum_j bary_ij grid[offset_ij] (point i's row).

    ``offsets`` and ``bary`` are flat (P * dp1,). ``alpha_last`` multiplies
    by alpha after each product, as pydensecrf does for at most two values
    (its vectorised path scales the weight first): the same float rounding
    keeps the two engines' marginals together. The sum stays in registers.
    """
    if alpha_last:
        if width == 2:
            simd.slice_add_last2(dst, d, grid, offsets, bary, dp1, i, width, 0, alpha, s, w)
        elif width == 4:
            simd.slice_add_last4(dst, d, grid, offsets, bary, dp1, i, width, 0, alpha, s, w)
        else:
            for c in range(0, width, 8):
                simd.slice_add_last8(dst, d + c, grid, offsets, bary, dp1, i, width, c, alpha, s, w)
    elif width == 2:
        simd.slice_add2(dst, d, grid, offsets, bary, dp1, i, width, 0, alpha, s, w)
    elif width == 4:
        simd.slice_add4(dst, d, grid, offsets, bary, dp1, i, width, 0, alpha, s, w)
    else:
        for c in range(0, width, 8):
            simd.slice_add8(dst, d + c, grid, offsets, bary, dp1, i, width, c, alpha, s, w)


@njit(cache=True, nogil=True)
def _slice_add(grid, offsets, bary, alpha, scale, weight, out, width, alpha_last):  # pragma: no cover - compiled
    """Add ``weight * scale_i * alpha * sum_j bary_ij grid[offset_ij]`` to ``out`` (flat rows of ``width``)."""
    dp1 = offsets.shape[1]
    flat_offsets = offsets.reshape(-1)
    flat_bary = bary.reshape(-1)
    for i in range(offsets.shape[0]):
        slice_add(out, np.int64(i) * width, grid, flat_offsets, flat_bary, dp1, alpha, i, scale[i], weight, width,
                  alpha_last)


def padded(n_values: int) -> int:
    """Return the row length the kernels take for ``n_values`` values: 2, 4 or a multiple of 8 (vector widths)."""
    if n_values <= 2:
        return 2
    return 4 if n_values <= 4 else -(-n_values // 8) * 8


class PermutohedralLattice:
    """A permutohedral lattice over P points with D-dimensional features.

    Parameters
    ----------
    features : ndarray, shape (D, P)
        Feature vectors, already divided by the kernel widths (the kernel
        is ``exp(-|f_i - f_j|^2 / 2)``).

    Notes
    -----
    Memory: 8 (D + 1) bytes per point for the simplices, 8 (D + 1) bytes
    per lattice vertex for the blur neighbours, and two (vertices x row
    width) float32 work grids, kept between calls.
    """

    def __init__(self, features: np.ndarray) -> None:
        feats = np.ascontiguousarray(features, np.float32)
        self.dim, self.n_points = feats.shape
        if self.dim > 126:
            raise ValueError(f"at most 126 feature dimensions, got {self.dim}")
        rem0, rank, self._bary = _simplices(feats)
        del feats
        offsets, neighbours = _build(rem0, rank)
        del rem0, rank
        self._offsets = offsets.view(np.uint32)  # unsigned: no negative-index wraparound in the hot loops
        self.n_vertices = neighbours.shape[1] - 1
        self._neighbours = neighbours.view(np.uint32)
        self.alpha = np.float32(1.0 / (1.0 + 2.0 ** -self.dim))
        self._grids: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # work grids of the last call

    def sharing(self) -> PermutohedralLattice:
        """Return a lattice with this one's structure (shared, read only) and work grids of its own.

        Filtering writes only into the work grids: two threads can filter
        over one structure, each through its own copy.
        """
        twin = copy.copy(self)
        twin._grids = {}
        return twin

    def nbytes(self) -> int:
        """Return the bytes of the structure (simplices and blur neighbours), without the work grids."""
        return self._offsets.nbytes + self._bary.nbytes + self._neighbours.nbytes

    def _grids_for(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Return two flat ((M+1) * width,) float32 work grids, kept for the next call."""
        if width not in self._grids:
            size = (self.n_vertices + 1) * width
            self._grids = {width: (np.zeros(size, np.float32), np.zeros(size, np.float32))}
        return self._grids[width]

    def splat_blur(self, values: np.ndarray, scale: np.ndarray, width: int) -> np.ndarray:
        """Return the flat lattice grid ((M+1) * width,) of ``scale * values`` after splatting and blurring.

        ``values``: flat (P * width,) float32, a row of ``width`` (see :func:`padded`) per point.
        """
        grid, spare = self._grids_for(width)
        _splat(values, scale, self._offsets, self._bary, grid, width)
        return _blur(grid, spare, self._neighbours, width)

    def slicing(self) -> tuple[np.ndarray, np.ndarray, np.float32]:
        """Return (offsets (P, D+1), barycentric weights (P, D+1), alpha) to slice a grid at the points.

        The filtered values of point i are ``alpha * sum_j bary_ij grid[offset_ij]``.
        """
        return self._offsets, self._bary, self.alpha

    def filter(self, values: np.ndarray) -> np.ndarray:
        """Return the Gaussian-filtered ``values`` (P, n) float32 (no normalisation)."""
        values = np.asarray(values, np.float32)
        n = values.shape[1]
        width = padded(n)
        rows = np.zeros((self.n_points, width), np.float32)
        rows[:, :n] = values
        ones = np.ones(self.n_points, np.float32)
        grid = self.splat_blur(rows.reshape(-1), ones, width)
        out = np.zeros(self.n_points * width, np.float32)
        _slice_add(grid, self._offsets, self._bary, self.alpha, ones, np.float32(1.0), out, width, n <= 2)
        return out.reshape(self.n_points, width)[:, :n]

    def symmetric_norm(self) -> np.ndarray:
        """Return ``1 / sqrt(K 1)`` per point, the symmetric normalisation of the kernel."""
        k1 = self.filter(np.ones((self.n_points, 1), np.float32))[:, 0]
        return (1.0 / np.sqrt(k1.astype(np.float64) + 1e-20)).astype(np.float32)
