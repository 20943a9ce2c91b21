"""Built CRFs kept between runs while only the strokes change, and the CRF call that uses them."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Generator, Hashable
from typing import Any

import numpy as np

from ..crf import TileCRF
from ..progress import checkpoint, counted
from .plan import RunSpec

#: Most bytes a cache keeps beside the built CRFs (features, smoothed bands, samples, proximity):
#: about 0.1 GB/MP of image; beyond it values are recomputed instead of kept.
MEMO_BYTES = 2_000_000_000


def _nbytes(value: Any) -> int:
    """Return the bytes of the arrays in a value (an array, or a tuple or list of them)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


class CRFCache:
    """Built CRFs (lattices) per tile, and what else a re-run can keep, re-used while only the strokes change.

    Keyed by the run's settings and each tile's CRF-resolution pixels, so
    any change of image, scale, window or kernel builds afresh. Holds the
    tiles of one configuration at a time (older entries are dropped), since
    each costs about 0.2-0.35 GB/MP. Beside the CRFs, :meth:`memo` keeps one
    value per slot (a tile's features, its training samples, the classifier,
    one class's geodesic distances) with the key it was made from, so a re-run
    recomputes only what its inputs changed.
    """

    def __init__(self, warm_start: int | None = None) -> None:
        self._base: tuple | None = None
        self._crfs: dict[object, TileCRF] = {}
        self._last: dict[object, np.ndarray] = {}
        self._memo: dict[Hashable, tuple[Hashable, Any]] = {}
        # the scene prior's thread and the tile threads of one run use the cache at once
        self._lock = threading.RLock()
        #: When set, re-runs start from each tile's previous marginals and run
        #: only this many iterations. Only for re-runs whose strokes add little:
        #: the old marginals hold a class down where it was absent, so a class
        #: painted for the first time since the last run can stay almost absent
        #: (0.1 % of the pixels instead of 14-49 % on a 4-class photo). The panel
        #: does not use it.
        self.warm_start = warm_start
        self.hits = 0
        self.builds = 0
        self.memo_hits = 0  # values found again by memo/recall

    def get(self, base: tuple, tile: object, build: Callable[[], TileCRF]) -> TileCRF:
        """Return the cached CRF for (base, tile), building it with ``build`` if needed."""
        with self._lock:
            self._use(base)
            crf = self._crfs.get(tile)
            if crf is not None:
                self.hits += 1
                return crf
        crf = build()  # outside the lock: other tiles build at the same time
        with self._lock:
            self._use(base)
            self._crfs[tile] = crf
            self.builds += 1
        return crf

    def _use(self, base: tuple) -> None:
        """Drop everything kept for another configuration than ``base``."""
        with self._lock:
            if base != self._base:
                self._crfs.clear()
                self._last.clear()
                self._memo.clear()
                self._base = base

    def recall(self, base: tuple, slot: Hashable, key: Hashable) -> Any:
        """Return the value kept in ``slot`` if it was made from ``key``, else None."""
        with self._lock:
            self._use(base)
            kept = self._memo.get(slot)
            if kept is None or kept[0] != key:
                return None
            self.memo_hits += 1
            return kept[1]

    def keep(self, base: tuple, slot: Hashable, key: Hashable, value: Any) -> None:
        """Keep ``value``, made from ``key``, in ``slot`` (replacing what the slot held), within MEMO_BYTES."""
        with self._lock:
            self._use(base)
            self._memo.pop(slot, None)
            if sum(_nbytes(v) for _, v in self._memo.values()) + _nbytes(value) <= MEMO_BYTES:
                self._memo[slot] = (key, value)

    def memo(self, base: tuple, slot: Hashable, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return the value kept in ``slot`` if it was made from ``key``, else ``compute()`` it and keep it."""
        value = self.recall(base, slot, key)
        if value is None:
            value = compute()
            self.keep(base, slot, key, value)
        return value

    def clear(self) -> None:
        """Drop every built CRF and kept value."""
        with self._lock:
            self._crfs.clear()
            self._last.clear()
            self._memo.clear()
            self._base = None

    def start(self, tile: object) -> tuple[np.ndarray | None, int | None]:
        """Return (initial marginals, iterations) for a tile: a warm start if enabled and known."""
        if self.warm_start is None or tile not in self._last:
            return None, None
        return self._last[tile], self.warm_start

    def remember(self, tile: object, q: np.ndarray) -> None:
        """Keep a tile's marginals for the next warm start."""
        if self.warm_start is not None:
            self._last[tile] = q


class _NoCache(CRFCache):
    """A cache that keeps nothing: each tile's CRF is freed once used."""

    def get(self, base: tuple, tile: object, build: Callable[[], TileCRF]) -> TileCRF:
        """Build and return the CRF without keeping it."""
        self.builds += 1
        return build()

    def keep(self, base: tuple, slot: Hashable, key: Hashable, value: Any) -> None:
        """Keep nothing."""


def memo(cache: CRFCache | None, base: tuple, slot: Hashable, key: Hashable, compute: Callable[[], Any]) -> Any:
    """Return ``cache.memo(...)``, or ``compute()`` when there is no cache."""
    return compute() if cache is None else cache.memo(base, slot, key, compute)


def fingerprint(*arrays: np.ndarray) -> str:
    """Return a short digest of arrays' bytes and shapes."""
    h = hashlib.sha256()  # most CPUs hash it in hardware, 3x blake2b here: a run hashes every tile a few times
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()[:32]


def cached_infer(cache: CRFCache | None, base: tuple, name: object, image: np.ndarray, strokes: np.ndarray,
                  spec: RunSpec, prior: np.ndarray | None = None, warm: bool = True
                  ) -> Generator[None, None, np.ndarray]:
    """Run the CRF of ``image`` (built once per cache configuration) and return its marginals.

    ``name`` tells the tile (or the coarse pass) apart; ``warm`` lets a
    warm-start cache start from this CRF's previous marginals.
    """
    cache = _NoCache() if cache is None else cache
    key = (name, fingerprint(image))
    checkpoint("building the CRF", 0.0)
    crf = cached_crf(cache, base, name, image, spec, key)
    init, iterations = cache.start(key) if warm else (None, None)
    total = spec.params.iterations if iterations is None else iterations
    q = yield from counted(crf.iter_infer(strokes, prior, iterations=iterations, init=init), "CRF", total)
    if warm:
        cache.remember(key, q)
    return q


def cached_crf(cache: CRFCache, base: tuple, name: object, image: np.ndarray, spec: RunSpec,
               key: tuple | None = None) -> TileCRF:
    """Return the built CRF of ``image`` (tile ``name``) from ``cache``, building and keeping it if needed.

    The lattices depend on the pixels and kernel widths only, not on the
    strokes (``key``: ``(name, fingerprint(image))`` when already known).
    """
    key = (name, fingerprint(image)) if key is None else key
    return cache.get(base, key, lambda: TileCRF(image, spec.n_classes, spec.params, spec.engine))
