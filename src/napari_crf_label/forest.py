"""Class probabilities of a fitted scikit-learn random forest, computed by numba.

The same numbers as the forest's ``predict_proba`` (each tree's leaf
fractions, summed tree by tree in float64 and divided by the number of
trees), bit for bit. scikit-learn walks one tree over all pixels, then
gathers and adds a (pixels, classes) array per tree; here each block of
a few dozen pixels walks every tree while its feature rows stay in the
cache, and the leaves' fractions are added in place, without the per-tree
arrays.

Each node is one record of two words, its float32 threshold and one
integer holding the split's feature and the in-tree index of its first
child; the two children are stored side by side (breadth first), so the
next node is ``child + (x > threshold)``, without a branch. Eight pixels
walk a tree in lockstep, so that their memory reads overlap: 1.9 to 3.2
times faster than one pixel at a time with a node spread over five arrays
(benchmarks/forest_speed.py, deeper trees gaining more). A leaf points to itself with an
infinite threshold, so lanes that reached their leaf wait in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, uint64

__all__ = ["PackedForest", "pack_forest", "one_leaf_forest"]

#: Pixels that walk the trees together (their feature rows stay in the cache).
BLOCK = 64
#: Pixels that walk one tree in lockstep (the eight lanes of :func:`_lanes`).
LANES = 8


@dataclass(frozen=True)
class PackedForest:
    """Every tree's nodes as (threshold, word) records, breadth first, tree after tree.

    A split node's word is ``child << shift | feature`` (``child``: the
    in-tree index of its left child, the right one next to it); a leaf's
    word is negative, with ``child`` itself and threshold +inf.
    """

    roots: np.ndarray  # (T,) int64: each tree's first node
    nodes: np.ndarray  # (nodes, 2) int32 (int64 for trees too large): float32 threshold bits, word
    shift: int  # bits of the feature index in a word
    missing_left: np.ndarray  # (nodes,) bool: where a NaN goes
    value: np.ndarray  # (nodes, classes) float64: the leaf's class fractions

    def predict_proba(self, block: np.ndarray) -> np.ndarray:
        """Return the (P, classes) float64 probabilities of a (P, F) float32 C-contiguous block."""
        out = np.zeros((block.shape[0], self.value.shape[1]), np.float64)
        child_mask = (1 << (8 * self.nodes.itemsize - 1 - self.shift)) - 1
        # the thresholds as a float32 view of the records: both arrays C-contiguous, whatever the forest's size,
        # so that the kernel compiled ahead (one_leaf_forest) is the one a run uses
        _walk(np.ascontiguousarray(block, np.float32), self.roots, self.nodes, _record_floats(self.nodes),
              self.shift, child_mask, self.missing_left, self.value, out)
        out /= self.roots.size
        return out


def pack_forest(model) -> PackedForest:
    """Return the trees of a fitted ``RandomForestClassifier`` (one output) as a :class:`PackedForest`."""
    shift = max(1, int(model.n_features_in_ - 1).bit_length())
    largest = max(estimator.tree_.node_count for estimator in model.estimators_)
    return _pack(model, _word_dtype(shift, largest))


def one_leaf_forest(classes: int = 2) -> PackedForest:
    """Return a forest of one tree that is a single leaf of equal class shares (compiles the walk cheaply)."""
    nodes = np.zeros((1, 2), np.int32)
    _record_floats(nodes)[:, 0] = np.inf
    nodes[0, 1] = -(1 << 31)
    return PackedForest(np.zeros(1, np.int64), nodes, 1, np.zeros(1, bool), np.full((1, classes), 1 / classes))


def _word_dtype(shift: int, largest: int) -> type:
    """Return int32 or int64: the narrower word with ``shift`` bits of feature and room for a child below ``largest``.

    Raises ValueError when not even an int64 word does.
    """
    for dtype in (np.int32, np.int64):
        child_bits = 8 * np.dtype(dtype).itemsize - 1 - shift  # the sign bit tells a leaf
        if child_bits >= 0 and largest - 1 < 1 << child_bits:
            return dtype
    raise ValueError(f"a tree of {largest} nodes on 2**{shift} features does not fit the forest's 64-bit nodes")


def _record_floats(nodes: np.ndarray) -> np.ndarray:
    """Return ``nodes`` viewed as (nodes, 2 or 4) float32: column 0 is the threshold."""
    return nodes.view(np.float32).reshape(nodes.shape[0], -1)


def _float32_at_most(t: np.ndarray) -> np.ndarray:
    """Return the largest float32 not above each float64 ``t``.

    For a float32 ``x``, ``x <= t`` (as scikit-learn compares, in float64)
    holds exactly when ``x <= _float32_at_most(t)``: every float32 up to
    ``t`` is at most that float32, and it is at most ``t``.
    """
    with np.errstate(over="ignore"):  # beyond float32's range: inf, stepped down to the largest float32
        t32 = t.astype(np.float32)
    above = t32.astype(np.float64) > t
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _breadth_first(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return a tree's node indices breadth first, each split's two children side by side (left first)."""
    order, level = [np.zeros(1, np.int64)], np.zeros(1, np.int64)
    while level.size:
        split = level[left[level] >= 0]
        level = np.stack([left[split], right[split]], axis=1).ravel()
        order.append(level)
    return np.concatenate(order)


def _pack(model, word_dtype: type) -> PackedForest:
    """Return the :class:`PackedForest` of ``model`` with words of ``word_dtype``."""
    shift = max(1, int(model.n_features_in_ - 1).bit_length())
    records, missing, values, roots, start = [], [], [], [], 0
    for estimator in model.estimators_:
        tree = estimator.tree_
        nodes = tree.__getstate__()["nodes"]  # the node records, with where missing values go (scikit-learn >= 1.3)
        goes_left = (nodes["missing_go_to_left"].astype(bool) if "missing_go_to_left" in nodes.dtype.names
                     else np.zeros(tree.node_count, bool))
        old = _breadth_first(tree.children_left, tree.children_right)  # new index -> scikit-learn's
        new = np.empty(old.size, np.int64)
        new[old] = np.arange(old.size)
        leaf = tree.children_left[old] < 0
        child = np.where(leaf, np.arange(old.size), new[np.where(leaf, 0, tree.children_left[old])])
        word = np.where(leaf, np.iinfo(word_dtype).min, 0) | (child << shift) | np.where(leaf, 0, tree.feature[old])
        record = np.zeros((old.size, 2), word_dtype)
        record[:, 1] = word
        _record_floats(record)[:, 0] = np.where(leaf, np.float32(np.inf), _float32_at_most(tree.threshold[old]))
        records.append(record)
        missing.append(goes_left[old])
        values.append(_leaf_fractions(tree.value[:, 0, :])[old])
        roots.append(start)
        start += old.size
    return PackedForest(np.asarray(roots, np.int64), np.concatenate(records), shift, np.concatenate(missing),
                        np.ascontiguousarray(np.concatenate(values), np.float64))


def _leaf_fractions(value: np.ndarray) -> np.ndarray:
    """Return each node's class fractions: scikit-learn 1.4 and later store them, older versions counts.

    Counts are divided by their sum, as those versions' ``predict_proba``
    did per pixel (the same division, so the same numbers).
    """
    total = value.sum(axis=1, keepdims=True)
    if np.allclose(total[total > 0], 1.0, rtol=0, atol=1e-9):
        return value
    return value / np.where(total == 0, 1.0, total)


@njit(cache=True, nogil=True)
def _walk(x, roots, nodes, floats, shift, child_mask, missing_left, value, out):  # pragma: no cover - compiled
    """Add every tree's leaf fractions to ``out`` for each row of ``x``, tree by tree in order (as sklearn sums).

    Blocks without NaN walk eight pixels in lockstep; a block with one
    (rare: features of an image have none) walks one pixel at a time,
    checking each feature, as scikit-learn does.
    """
    n = x.shape[0]
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        clean = not _has_nan(x, start, stop)
        for root in roots:
            i = start
            if clean:
                while i + LANES <= stop:
                    _lanes(x, i, root, nodes, floats, shift, child_mask, value, out)
                    i += LANES
            for j in range(i, stop):
                node = _one_pixel(x, j, root, nodes, floats, shift, child_mask, missing_left)
                for c in range(value.shape[1]):
                    out[j, c] += value[node, c]


@njit(cache=True, nogil=True)
def _has_nan(x, start, stop):  # pragma: no cover - compiled
    """Return True when rows start..stop-1 of ``x`` hold a NaN."""
    found = False
    for i in range(start, stop):
        for j in range(x.shape[1]):
            found |= x[i, j] != x[i, j]  # no early exit: an OR over the whole block vectorizes
    return found


@njit(cache=True, nogil=True, inline="always")
def _step(x, i, node, w, root, floats, shift, child_mask, feature_mask):  # pragma: no cover - compiled
    """Return the node after ``node`` (word ``w``) for row ``i`` of ``x`` (no NaN): a leaf returns itself."""
    bits = uint64(w)  # unsigned indices: numba adds no wraparound of negative ones (15-25 % faster)
    return root + ((bits >> shift) & child_mask) + uint64(x[i, bits & feature_mask] > floats[node, 0])


@njit(cache=True, nogil=True)
def _lanes(x, i, root, nodes, floats, shift, child_mask, value, out):  # pragma: no cover - compiled
    """Walk rows i..i+7 of ``x`` (no NaN) down the tree at ``root`` together and add their leaves to ``out``."""
    i, root, shift, child_mask = uint64(i), uint64(root), uint64(shift), uint64(child_mask)
    feature_mask = (uint64(1) << shift) - uint64(1)
    one = uint64(1)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = root
    while True:
        w0, w1, w2, w3 = nodes[a0, one], nodes[a1, one], nodes[a2, one], nodes[a3, one]
        w4, w5, w6, w7 = nodes[a4, one], nodes[a5, one], nodes[a6, one], nodes[a7, one]
        if (w0 & w1 & w2 & w3 & w4 & w5 & w6 & w7) < 0:  # every lane at a leaf (negative words)
            break
        a0 = _step(x, i, a0, w0, root, floats, shift, child_mask, feature_mask)
        a1 = _step(x, i + uint64(1), a1, w1, root, floats, shift, child_mask, feature_mask)
        a2 = _step(x, i + uint64(2), a2, w2, root, floats, shift, child_mask, feature_mask)
        a3 = _step(x, i + uint64(3), a3, w3, root, floats, shift, child_mask, feature_mask)
        a4 = _step(x, i + uint64(4), a4, w4, root, floats, shift, child_mask, feature_mask)
        a5 = _step(x, i + uint64(5), a5, w5, root, floats, shift, child_mask, feature_mask)
        a6 = _step(x, i + uint64(6), a6, w6, root, floats, shift, child_mask, feature_mask)
        a7 = _step(x, i + uint64(7), a7, w7, root, floats, shift, child_mask, feature_mask)
    for c in range(value.shape[1]):
        out[i, c] += value[a0, c]
        out[i + uint64(1), c] += value[a1, c]
        out[i + uint64(2), c] += value[a2, c]
        out[i + uint64(3), c] += value[a3, c]
        out[i + uint64(4), c] += value[a4, c]
        out[i + uint64(5), c] += value[a5, c]
        out[i + uint64(6), c] += value[a6, c]
        out[i + uint64(7), c] += value[a7, c]


@njit(cache=True, nogil=True)
def _one_pixel(x, i, root, nodes, floats, shift, child_mask, missing_left):  # pragma: no cover - compiled
    """Return the leaf of row ``i`` of ``x`` in the tree at ``root``; a NaN goes where the tree learnt."""
    fmask = (1 << shift) - 1
    node = root
    w = nodes[node, 1]
    while w >= 0:
        v = x[i, w & fmask]
        child = root + ((w >> shift) & child_mask)
        if np.isnan(v):
            node = child + (0 if missing_left[node] else 1)
        else:
            node = child + (v > floats[node, 0])
        w = nodes[node, 1]
    return node
