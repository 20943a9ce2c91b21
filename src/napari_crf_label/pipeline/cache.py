"""Built CRFs kept between runs while only the strokes change, and the CRF call that uses them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator

import numpy as np

from ..crf import TileCRF
from ..progress import checkpoint, counted
from .plan import RunSpec


class CRFCache:
    """Built CRFs (lattices) per tile, re-used while only the strokes change.

    Keyed by the run's settings and each tile's CRF-resolution pixels, so
    any change of image, scale, window or kernel builds afresh. Holds the
    tiles of one configuration at a time (older entries are dropped), since
    each costs about 0.2-0.35 GB/MP.
    """

    def __init__(self, warm_start: int | None = None) -> None:
        self._base: tuple | None = None
        self._crfs: dict[object, TileCRF] = {}
        self._last: dict[object, np.ndarray] = {}
        #: When set, re-runs start from each tile's previous marginals and run
        #: only this many iterations (fast interactive updates; results differ
        #: slightly from a fresh run).
        self.warm_start = warm_start
        self.hits = 0
        self.builds = 0

    def get(self, base: tuple, tile: object, build: Callable[[], TileCRF]) -> TileCRF:
        """Return the cached CRF for (base, tile), building it with ``build`` if needed."""
        if base != self._base:
            self._crfs.clear()
            self._last.clear()
            self._base = base
        crf = self._crfs.get(tile)
        if crf is None:
            crf = self._crfs[tile] = build()
            self.builds += 1
        else:
            self.hits += 1
        return crf

    def clear(self) -> None:
        """Drop every built CRF."""
        self._crfs.clear()
        self._last.clear()
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


def _fingerprint(image: np.ndarray) -> str:
    """Return a short digest of an array's bytes and shape."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def cached_infer(cache: CRFCache | None, base: tuple, name: object, image: np.ndarray, strokes: np.ndarray,
                  spec: RunSpec, prior: np.ndarray | None = None, warm: bool = True
                  ) -> Generator[None, None, np.ndarray]:
    """Run the CRF of ``image`` (built once per cache configuration) and return its marginals.

    ``name`` tells the tile (or the coarse pass) apart; ``warm`` lets a
    warm-start cache start from this CRF's previous marginals.
    """
    cache = _NoCache() if cache is None else cache
    key = (name, _fingerprint(image))
    checkpoint("building the CRF", 0.0)
    crf = cache.get(base, key, lambda: TileCRF(image, spec.n_classes, spec.params, spec.engine))
    init, iterations = cache.start(key) if warm else (None, None)
    total = spec.params.iterations if iterations is None else iterations
    q = yield from counted(crf.iter_infer(strokes, prior, iterations=iterations, init=init), "CRF", total)
    if warm:
        cache.remember(key, q)
    return q
