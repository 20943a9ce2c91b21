"""Whole-scene context for every tile: the geodesic proximity to the strokes, or a coarse CRF."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..crf import drain
from ..features import FeatureParams
from ..geodesic import proximity
from ..progress import Cancelled, Latch, Reporter, as_stage, current_reporter, reported, reporting, with_progress
from ..resample import bilinear
from ..tiling import Tile
from .balance import carried_shares, scene_shares
from .cache import CRFCache, cached_infer, fingerprint, memo
from .classifier import feature_spec
from .combine import feature_prior
from .distances import kept_distances
from .holdout import HoldoutResult, check_grid, check_proximity
from .plan import Plan, crf_size
from .settings import COARSE_PIXELS, GEODESIC_PIXELS

__all__ = ["CoarsePrior", "PendingPrior", "feature_prior", "prior_alongside", "scene_prior", "task_prior"]


@dataclass(frozen=True)
class CoarsePrior:
    """Whole-scene class probabilities at coarse resolution (or a crop of them).

    Those of a coarse CRF (``crf`` runs) or the geodesic proximity (``features+crf``).
    """

    probabilities: np.ndarray  # (N, h, w) for the crop
    scene_shape: tuple[int, int]  # full-resolution scene size
    coarse_shape: tuple[int, int]  # size of the whole coarse grid
    origin: tuple[int, int] = (0, 0)  # coarse row/column of the crop's first cell
    settings: dict = field(default_factory=dict)  # what the run records of how the prior was made
    shares: np.ndarray | None = None  # each class's share of the scene, for the area balance of a tiled run

    def crop_for(self, window: Tile) -> CoarsePrior:
        """Return the part of the coarse grid a full-resolution window needs (one cell of margin)."""
        (h, w), (ch, cw) = self.scene_shape, self.coarse_shape
        r0 = max(0, int(np.floor(window.y0 * ch / h)) - 1)
        r1 = min(ch, int(np.ceil(window.y1 * ch / h)) + 1)
        c0 = max(0, int(np.floor(window.x0 * cw / w)) - 1)
        c1 = min(cw, int(np.ceil(window.x1 * cw / w)) + 1)
        oy, ox = self.origin
        crop = self.probabilities[:, r0 - oy:r1 - oy, c0 - ox:c1 - ox]
        return CoarsePrior(np.ascontiguousarray(crop), self.scene_shape, self.coarse_shape, (r0, c0),
                           shares=self.shares)

    def sample(self, window: Tile, shape: tuple[int, int]) -> np.ndarray:
        """Return (N, *shape) probabilities on a grid of ``shape`` cells spanning ``window``."""
        (h, w), (ch, cw) = self.scene_shape, self.coarse_shape
        ys = window.y0 + (np.arange(shape[0]) + 0.5) * window.shape[0] / shape[0]
        xs = window.x0 + (np.arange(shape[1]) + 0.5) * window.shape[1] / shape[1]
        cy = np.clip(ys * ch / h - 0.5 - self.origin[0], 0, self.probabilities.shape[1] - 1)
        cx = np.clip(xs * cw / w - 0.5 - self.origin[1], 0, self.probabilities.shape[2] - 1)
        y0, x0 = np.floor(cy).astype(int), np.floor(cx).astype(int)
        y1 = np.minimum(y0 + 1, self.probabilities.shape[1] - 1)
        x1 = np.minimum(x0 + 1, self.probabilities.shape[2] - 1)
        wy, wx = (cy - y0).astype(np.float32), (cx - x0).astype(np.float32)
        return bilinear(self.probabilities, (y0, y1, wy), (x0, x1, wx)).astype(np.float32, copy=False)


def scene_prior(source: Any, plan: Plan, cache: CRFCache | None = None, base: tuple = (),
                params: FeatureParams | None = None) -> Generator[tuple[int, int], None, CoarsePrior | None]:
    """Return the whole-scene context every tile takes: geodesic proximity or a coarse CRF (or None).

    ``params``: the classifier's settings (default: those of the plan's fitted classifier).
    """
    if plan.spec.n_classes == 1:
        return None
    if plan.spec.method == "features+crf":
        params = plan.spec.classifier.params if params is None else params
        return (yield from _geodesic_prior(source, plan, params, cache, base))
    return (yield from _coarse_prior(source, plan, cache, base))


class PendingPrior:
    """The scene's geodesic prior, computed on a thread of its own while the classifier trains and predicts.

    Neither the training nor a tile's prediction needs it; only the tile's
    prior does (:meth:`crop_for`, then ``sample``, wait for it). So the
    held-out check and the distances, a second of one core on a 4 MP image,
    overlap work that used to wait for them. Checkpoints go to ``reporter``;
    :meth:`close` stops the thread at its next checkpoint and waits for it.
    """

    def __init__(self, source: Any, plan: Plan, params: FeatureParams, cache: CRFCache | None = None,
                 base: tuple = (), reporter: Reporter | None = None) -> None:
        self._future: Future = Future()
        self._stop = threading.Event()

        def relay(stage: str, fraction: float) -> None:
            if self._stop.is_set():
                raise Cancelled
            if reporter is not None:
                reporter(stage, fraction)

        def work() -> None:
            try:
                with reporting(relay):
                    self._future.set_result(drain(scene_prior(source, plan, cache, base, params)))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the prior
                self._future.set_exception(exc)

        self._thread = threading.Thread(target=work, name="crf-prior", daemon=True)
        self._thread.start()

    def result(self) -> CoarsePrior | None:
        """Wait for the prior and return it (or raise what stopped it)."""
        while True:
            try:  # waking now and then: a Ctrl-C that another thread received is raised here, promptly
                return self._future.result(timeout=0.2)
            except FutureTimeout:
                continue

    @property
    def settings(self) -> dict:
        """What the run records of how the prior was made (waits for it)."""
        prior = self.result()
        return {} if prior is None else prior.settings

    def crop_for(self, window: Tile) -> _PendingCrop:
        """Return the part of the prior a full-resolution window needs, taken when first sampled."""
        return _PendingCrop(self, window)

    def close(self) -> None:
        """Stop the thread at its next checkpoint if it still runs, and wait for it."""
        self._stop.set()
        self._thread.join()


@contextmanager
def prior_alongside(source: Any, plan: Plan, method: str, params: FeatureParams,
                    samples: tuple[np.ndarray, np.ndarray] | None, cache: CRFCache | None, base: tuple,
                    threads: int, workers: int = 1, client: Any = None
                    ) -> Iterator[tuple[PendingPrior | None, Callable[[Generator], Generator]]]:
    """Start a ``features+crf`` run's scene prior on its own thread before the classifier is trained.

    Yields the :class:`PendingPrior` (stopped and joined on leaving the
    block) and a ``guard`` to run the training and the tiles under: their
    checkpoints and the prior's share one :class:`~napari_crf_label.progress.Latch`,
    so that a reporter that raises stops all of them. Yields
    ``(None, identity)`` when the run computes the prior after the
    training instead: other methods, one class, ``threads`` below 2, or
    tiles sent to other processes (``workers`` > 1 or a dask ``client``),
    which need the prior itself.
    """
    in_process = workers <= 1 and client is None
    if method != "features+crf" or plan.spec.n_classes == 1 or threads < 2 or not in_process:
        yield None, lambda gen: gen
        return
    latch = Latch(current_reporter())
    early = replace(plan, spec=feature_spec(plan, method, samples))  # the spec the training will set
    pending = PendingPrior(source, early, params, cache, base, latch)
    try:
        yield pending, lambda gen: reported(gen, latch)
    finally:
        pending.close()


@dataclass(frozen=True)
class _PendingCrop:
    """A window's crop of a :class:`PendingPrior`, taken when first sampled."""

    pending: PendingPrior
    window: Tile

    def sample(self, window: Tile, shape: tuple[int, int]) -> np.ndarray:
        """Wait for the prior, then sample it as :meth:`CoarsePrior.sample` does."""
        return self.pending.result().crop_for(self.window).sample(window, shape)

    @property
    def shares(self) -> np.ndarray | None:
        """Wait for the prior, then return its scene shares (:attr:`CoarsePrior.shares`)."""
        return self.pending.result().shares


def _geodesic_prior(source: Any, plan: Plan, params: FeatureParams, cache: CRFCache | None = None,
                    base: tuple = ()) -> Generator[tuple[int, int], None, CoarsePrior]:
    """Compute the geodesic proximity to the strokes over the whole scene (at most GEODESIC_PIXELS).

    One scene-wide grid, so that a tile also knows the strokes of its
    neighbours; the reach is kept in CRF pixels on a coarser grid. A
    ``cache`` keeps each class's distances: a re-run recomputes only the
    classes whose strokes changed on this grid.
    """
    height, width = source.shape
    f = min(plan.spec.scale, (GEODESIC_PIXELS / (height * width)) ** 0.5)
    shape = crf_size((height, width), f)
    image, strokes = source.overview(shape, plan.spec.stretch)
    n = plan.spec.n_classes
    checking = params.proximity == "auto" and np.isfinite(params.holdout_margin) and not plan.spec.carried
    with as_stage("proximity", 0.0, 0.5 if checking else 1.0):  # the check is the stage's second half
        distances = kept_distances(image, strokes, n, params.edge_weight, params.edge_sigma, cache, base)
    if plan.spec.carried:  # taught by other images, not painted here: as near as the nearest painted class
        painted = np.isfinite(distances).any(axis=(1, 2))
        nearest = distances[painted].min(axis=0) if painted.any() else np.zeros(distances.shape[1:], np.float32)
        for k in plan.spec.carried:
            distances[k - 1] = nearest
    growth, settings = params.reach_growth, {}
    reach = params.reach * f / plan.spec.scale  # in pixels of this grid
    # the check and the scene's shares read the same small grid's features and edge costs: computed once, in the
    # run's cache or, without one, in one kept for this prior
    kept = cache if cache is not None else CRFCache()
    if params.proximity != "auto":  # chosen by the caller (the panel's preview takes the last run's choice)
        growth = params.holdout_growth if params.proximity == "faded" else growth
        settings = {"proximity": params.proximity}
    elif checking:
        with as_stage("proximity", 0.5, 1.0):  # its forests and features are not the run's training and features
            check = _holdout_check(image, strokes, f, plan, params, kept, base)
        growth, settings = (params.holdout_growth if check.fade else growth), check.record()
    shares = None
    if len(plan.tasks) > 1 and params.area_balance and not plan.spec.carried:
        # one balance for every tile (see pipeline/balance.py); carried classes are taught by samples from
        # other images, which the estimate's small forest does not see: those runs take shares_for_carried's
        with as_stage("proximity", 1.0, 1.0):
            shares = scene_shares(image, strokes, n, params, reach, growth, kept, base)
    yield 0, len(plan.tasks)
    near = proximity(distances, reach, growth)
    return CoarsePrior(near, (height, width), shape, settings=settings, shares=shares)


def _holdout_check(image: np.ndarray, strokes: np.ndarray, f: float, plan: Plan, params: FeatureParams,
                   cache: CRFCache | None, base: tuple) -> HoldoutResult:
    """Run the held-out stroke check on the geodesic grid (``f`` of full resolution) shrunk to HOLDOUT_PIXELS.

    Kept in ``cache``: a re-run with the same strokes does not repeat it.
    The caller skips it when classes are carried from other images (the
    check knows only this image's strokes).
    """
    small, marks, g = check_grid(image, strokes)
    reach = params.reach * f * g / plan.spec.scale
    return memo(cache, base, "holdout", (fingerprint(small, marks), params, reach),
                lambda: check_proximity(small, marks, plan.spec.n_classes, params, reach, cache, base))


def _coarse_prior(source: Any, plan: Plan, cache: CRFCache | None = None, base: tuple = ()
                  ) -> Generator[tuple[int, int], None, CoarsePrior | None]:
    """Run a CRF over the whole scene shrunk to about COARSE_PIXELS (tiled CRF-only runs)."""
    if len(plan.tasks) == 1 or plan.spec.method != "crf":
        return None
    height, width = source.shape
    f = min(1.0, (COARSE_PIXELS / (height * width)) ** 0.5)
    shape = crf_size((height, width), f)
    image, strokes = source.overview(shape, plan.spec.stretch)
    q = yield from with_progress(cached_infer(cache, base, "coarse", image, strokes, plan.spec), 0, len(plan.tasks))
    return CoarsePrior(q, (height, width), shape)


def shares_for_carried(source: Any, plan: Plan, prior: CoarsePrior | PendingPrior | None
                       ) -> CoarsePrior | PendingPrior | None:
    """Return the prior with the scene's class shares when a tiled run has classes carried from other images.

    Call it once the classifier is attached (it estimates them:
    :func:`~napari_crf_label.pipeline.balance.carried_shares`); any other
    prior comes back as it is.
    """
    spec = plan.spec
    if prior is None or len(plan.tasks) == 1 or not spec.carried or spec.method != "features+crf":
        return prior
    params = spec.classifier.params
    if not params.area_balance:
        return prior
    coarse = prior.result() if isinstance(prior, PendingPrior) else prior
    return None if coarse is None else replace(coarse, shares=carried_shares(source, plan, coarse, params))


def task_prior(plan: Plan, prior: CoarsePrior | PendingPrior | None, i: int) -> CoarsePrior | _PendingCrop | None:
    """Return the coarse prior crop task ``i`` needs."""
    if prior is None:
        return None
    return prior.crop_for(plan.tasks[i].outer)
