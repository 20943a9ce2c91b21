"""Class probabilities of a fitted scikit-learn random forest, computed by numba.

The same numbers as the forest's ``predict_proba`` (each tree's leaf
fractions, summed tree by tree in float64 and divided by the number of
trees), bit for bit. scikit-learn walks one tree over all pixels, then
gathers and adds a (pixels, classes) array per tree; here each block of
a few hundred pixels walks every tree while its feature rows stay in the
cache, and the leaves' fractions are added in place, without the per-tree
arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["PackedForest", "pack_forest"]

#: Pixels that walk the trees together (their feature rows stay in the cache).
BLOCK = 256


@dataclass(frozen=True)
class PackedForest:
    """Every tree's nodes in flat arrays (node indices global across the trees)."""

    roots: np.ndarray  # (T,) int64: each tree's first node
    left: np.ndarray  # (nodes,) int64: left child, -1 at a leaf
    right: np.ndarray  # (nodes,) int64
    feature: np.ndarray  # (nodes,) int64
    threshold: np.ndarray  # (nodes,) float64
    missing_left: np.ndarray  # (nodes,) bool: where a NaN goes
    value: np.ndarray  # (nodes, classes) float64: the leaf's class fractions

    def predict_proba(self, block: np.ndarray) -> np.ndarray:
        """Return the (P, classes) float64 probabilities of a (P, F) float32 C-contiguous block."""
        out = np.zeros((block.shape[0], self.value.shape[1]), np.float64)
        _walk(np.ascontiguousarray(block, np.float32), self.roots, self.left, self.right, self.feature,
              self.threshold, self.missing_left, self.value, out)
        out /= self.roots.size
        return out


def pack_forest(model) -> PackedForest:
    """Return the trees of a fitted ``RandomForestClassifier`` (one output) as a :class:`PackedForest`."""
    parts, roots, start = [], [], 0
    for estimator in model.estimators_:
        tree = estimator.tree_
        nodes = tree.__getstate__()["nodes"]  # the node records, with where missing values go (scikit-learn >= 1.3)
        missing = (nodes["missing_go_to_left"].astype(bool) if "missing_go_to_left" in nodes.dtype.names
                   else np.zeros(tree.node_count, bool))
        leaf = tree.children_left < 0
        shift = np.where(leaf, 0, start)
        parts.append((np.where(leaf, -1, tree.children_left + shift), np.where(leaf, -1, tree.children_right + shift),
                      tree.feature, tree.threshold, missing,
                      _leaf_fractions(tree.value[:, 0, :])))
        roots.append(start)
        start += tree.node_count
    left, right, feature, threshold, missing, value = (np.concatenate(p) for p in zip(*parts))
    return PackedForest(np.asarray(roots, np.int64), left.astype(np.int64), right.astype(np.int64),
                        feature.astype(np.int64), threshold.astype(np.float64), missing,
                        np.ascontiguousarray(value, np.float64))


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
def _walk(x, roots, left, right, feature, threshold, missing_left, value, out):  # pragma: no cover - compiled
    """Add every tree's leaf fractions to ``out`` for each row of ``x``, tree by tree in order (as sklearn sums)."""
    n, classes = x.shape[0], value.shape[1]
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        for root in roots:
            for i in range(start, stop):
                node = root
                while left[node] >= 0:
                    v = x[i, feature[node]]
                    if np.isnan(v):
                        node = left[node] if missing_left[node] else right[node]
                    elif v <= threshold[node]:
                        node = left[node]
                    else:
                        node = right[node]
                for c in range(classes):
                    out[i, c] += value[node, c]
