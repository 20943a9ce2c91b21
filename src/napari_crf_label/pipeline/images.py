"""Labelling an image held in memory (the API the panel, the CLI and projects call)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Generator
from typing import Any

import numpy as np

from ..classes import ClassSet
from ..crf import DEFAULT_ENGINE, check_engine
from ..errors import InputError, MissingClassesWarning
from ..features import FeatureParams
from ..image_io import ImageData, as_image_data
from ..parallel import resolve_threads
from ..resources import available_memory, check_memory, crf_bytes, estimate_run_bytes
from ..sources import ArraySource
from ..strokes import check_stroke_classes, validate_strokes
from .cache import CRFCache
from .classifier import attach_classifier
from .execute import iter_results
from .inputs import (
    check_crf_params,
    check_geometry,
    drop_strokes_on_nodata,
    feature_params,
    method_crf_params,
    method_settings,
    resolve_classes,
    with_trees,
)
from .plan import Plan, crf_size, make_plan
from .priors import prior_alongside, scene_prior, shares_for_carried
from .results import LabelResult
from .settings import DEFAULT_METHOD, ProgressCallback
from .tile import TileResult


def iter_label_image(
    image: np.ndarray | ImageData,
    strokes: np.ndarray,
    *,
    classes: ClassSet | list[str] | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    scale: float = 1.0,
    cache: CRFCache | None = None,
    workers: int = 1,
    client: Any = None,
    threads: int | None = None,
    method: str = DEFAULT_METHOD,
    reach: float = FeatureParams.reach,
    proximity: str = "auto",
    trees: int | None = None,
    samples: tuple[np.ndarray, np.ndarray] | None = None,
    engine: str = DEFAULT_ENGINE,
    **crf_params,
) -> Generator[tuple[int, int], None, LabelResult]:
    """Do what :func:`label_image` does, yielding ``(tiles done, tiles total)`` as it goes.

    It yields often (after every CRF iteration when run serially), so a
    consumer that stops iterating cancels the run within one iteration.
    Unlike label_image it does not warn about classes without strokes:
    check ``result.missing_classes``.
    """
    t0 = time.perf_counter()
    data = as_image_data(image)
    height, width = data.shape
    params = check_crf_params(crf_params)
    check_geometry(scale, window, overlap, (height, width), workers)
    carried = samples is not None and len(samples[1]) > 0
    if carried and method == "crf":
        raise InputError("samples from other images teach the pixel classifier: use method features+crf or "
                         "features with them")
    # with samples carried from other images, an image without strokes gets a draft
    strokes_i = validate_strokes(strokes, (height, width), allow_empty=carried)  # a copy: no-data cleared below
    highest = int(strokes_i.max())
    cls = resolve_classes(classes, highest)
    check_stroke_classes(highest, len(cls))
    dropped = drop_strokes_on_nodata(strokes_i, data, cls)
    check_engine(engine)
    n = len(cls)
    painted = np.bincount(strokes_i.ravel(), minlength=n + 1)[1:]
    taught = set() if not carried else {int(k) for k in np.unique(samples[1])}
    unpainted = [(k, name) for k, (name, c) in enumerate(zip(cls.names, painted), start=1) if c == 0]
    missing = [name for k, name in unpainted if k not in taught]
    # in the result without a stroke here: the report says where they came from (trial 27 could not tell)
    from_others = [name for k, name in unpainted if k in taught]

    features = with_trees(feature_params(method, reach, proximity), trees)
    run_params = method_crf_params(params, method, features)  # the user's settings stay on record
    source = ArraySource(data, strokes_i)
    plan = make_plan(source, n, run_params, scale, window, overlap, source.stretch(), engine=engine)
    outer_pixels = [int(np.prod(crf_size(t.outer.shape, scale))) for t in plan.tasks]
    crf_shape = crf_size((height, width), scale)
    threads = resolve_threads(threads)
    in_flight = max(outer_pixels) * (min(threads, len(plan.tasks)) if workers <= 1 and client is None
                                     else 2 * max(workers, 1))
    kept = sum(outer_pixels) if cache is not None else 0
    estimate = estimate_run_bytes((height, width), crf_shape, in_flight, n, data.array.shape[2], kept)
    if cache is not None and not cache_fits(plan):
        # keeping every tile's lattice would crowd the machine: run without keeping them
        cache.clear()
        cache = None
        estimate = estimate_run_bytes((height, width), crf_shape, in_flight, n, data.array.shape[2])
    check_memory(estimate, f"labelling {width} x {height} pixels ({len(plan.tasks)} tile(s))")
    base = run_base(plan, (height, width))
    labels = np.zeros((height, width), np.uint8 if n < 256 else np.uint16)
    probs = np.zeros((n, *crf_shape), np.float32)
    with prior_alongside(source, plan, method, features, samples, cache, base, threads, workers, client
                         ) as (early, guard):
        yield 0, len(plan.tasks)  # inputs checked, the prior under way: a caller may do other work meanwhile
        yield from guard(attach_classifier(source, plan, method, features, samples, cache, base, threads))
        prior = early if early is not None else (yield from scene_prior(source, plan, cache, base))
        prior = shares_for_carried(source, plan, prior)
        for item in guard(iter_results(source, plan, prior, cache, base, workers, client, threads)):
            if isinstance(item, TileResult):
                core = plan.tasks[item.task.index].core
                labels[core.slices] = item.labels
                probs[:, round(core.y0 * scale):round(core.y1 * scale),
                      round(core.x0 * scale):round(core.x1 * scale)] = item.probabilities
            else:
                yield item
    used = {"scale": scale, "window": window, "overlap": overlap, "core": plan.window, "halo": plan.halo,
            "crf_shape": list(crf_shape), "tiles": len(plan.tasks), "workers": workers, "method": method,
            "engine": engine, **method_settings(method, features),
            **(prior.settings if prior is not None else {}), **params.as_dict(),
            **({"dropped_strokes": dropped} if dropped else {}), **({"trees": features.n_trees} if trees else {}),
            **({"taught_by_other_images": from_others} if from_others else {})}
    return LabelResult(labels=labels, probabilities=probs, classes=cls, strokes=strokes_i,
                       missing_classes=missing, params=used, seconds=time.perf_counter() - t0)


def consume(gen: Generator[tuple[int, int], None, Any], progress: ProgressCallback | None) -> Any:
    """Run a progress generator to its end, calling ``progress`` when tiles complete."""
    done = 0
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            result = stop.value
            if result.missing_classes:
                warnings.warn(MissingClassesWarning.about(result.missing_classes), stacklevel=3)
            return result
        if progress is not None and step[0] > done:
            done = step[0]
            progress(*step)


def cache_fits(plan: Plan) -> bool:
    """Return True when a cache may keep every tile's built CRF of ``plan`` (at most half the free memory)."""
    outer = sum(int(np.prod(crf_size(t.outer.shape, plan.spec.scale))) for t in plan.tasks)
    return crf_bytes(outer, plan.spec.n_classes) <= 0.5 * (available_memory() or float("inf"))


def run_base(plan: Plan, shape: tuple[int, int]) -> tuple:
    """Return what a cache's entries for ``plan`` on a scene of ``shape`` are valid for (its configuration)."""
    spec = plan.spec
    return (spec.engine, spec.n_classes, spec.params.kernel_key(), spec.scale, plan.window, plan.halo, shape,
            None if spec.stretch is None else spec.stretch.tobytes())


def label_image(
    image: np.ndarray | ImageData,
    strokes: np.ndarray,
    *,
    classes: ClassSet | list[str] | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    scale: float = 1.0,
    progress: ProgressCallback | None = None,
    cache: CRFCache | None = None,
    workers: int = 1,
    client: Any = None,
    threads: int | None = None,
    method: str = DEFAULT_METHOD,
    reach: float = FeatureParams.reach,
    proximity: str = "auto",
    trees: int | None = None,
    samples: tuple[np.ndarray, np.ndarray] | None = None,
    engine: str = DEFAULT_ENGINE,
    **crf_params,
) -> LabelResult:
    """Turn sparse strokes into a dense label image with a fully connected CRF.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, C), or ImageData
        Any number of bands; uint8, uint16, int or float (NaN = no data).
        Non-uint8 data is stretched per band to 0..255 (see
        :func:`~napari_crf_label.image_io.to_crf_uint8`).
    strokes : ndarray of int, shape (H, W)
        0 = not annotated, k = class k (1-based).
    classes : ClassSet, list of names, comma-separated str, or None
        The classes; None makes ``class1..classK`` for K = max stroke value.
    window : int, optional
        Largest tile (core) size in full-resolution pixels. Default:
        :data:`DEFAULT_WINDOW` pixels at CRF resolution.
    overlap : int, optional
        Context read around each tile in full-resolution pixels (the tile's
        halo; neighbouring tiles share twice this). Default: follows the
        method's appearance kernel width (``plan.default_halo``): 128 pixels
        at CRF resolution for ``crf``, 43 for ``features+crf``.
    scale : float
        Downscale factor for the CRF (0 < scale <= 1), like the original's ``-s``.
    progress : callable(done, total), optional
        Called as tiles complete; it may raise to cancel the run.
    cache : CRFCache, optional
        Keeps built CRFs between calls (serial runs): pass the same cache to
        re-run fast after the strokes change. Without it each tile's CRF is
        freed as soon as it is used, so memory depends on the tile size
        only. When keeping every tile would take over half the available
        memory, the run goes on without keeping them.
    workers : int
        Worker processes for the tiles; > 1 starts a local dask cluster.
    client : dask.distributed.Client or str, optional
        Run the tiles on this dask cluster (or scheduler address) instead.
    threads : int, optional
        Without workers or client: tiles (and the training pass) run on
        this many threads of this process; None (default) uses one per
        core. The labels do not depend on it.
    method : {"features+crf", "crf", "features"}
        "features+crf" (default, :data:`DEFAULT_METHOD`): a random forest
        trained on the strokes (multi-scale features of all bands, see
        :mod:`~napari_crf_label.features`), times the geodesic proximity to
        each class's strokes (:mod:`~napari_crf_label.geodesic`), gives the
        CRF's unary prior. "crf": the CRF on the strokes alone (better where
        part of an object is walled off from its strokes by strong edges, see
        ``benchmarks/quality/RESULTS.md``). "features": the classifier alone
        (no CRF, no proximity), for when the CRF flips a class.
    reach : float
        "features+crf" only: how far, in CRF pixels of uniform ground, a
        class's strokes reach before their pull fades to 1/e (crossing an
        edge costs much more). Raise it when a class is missed in places
        far from its strokes; lower it when a class leaks away from them.
    proximity : {"auto", "kept", "faded"}
        "features+crf" only: "auto" (default) checks, with some of each
        class's stroke pieces held out, whether the proximity helps this
        image or should fade fast (:mod:`~napari_crf_label.pipeline.holdout`;
        ``result.params["proximity"]`` says what it chose); "kept" or
        "faded" skip the check.
    trees : int, optional
        Trees of the pixel classifier's random forest (feature methods;
        default :attr:`~napari_crf_label.features.FeatureParams.n_trees`):
        fewer train and predict faster, with less smooth probabilities
        (the panel's preview uses
        :data:`~napari_crf_label.pipeline.preview.PREVIEW_TREES`).
    samples : (features, classes), optional
        Training samples of the pixel classifier from other images of the
        same kind (:func:`stroke_training_samples` of each), added to this
        image's own ("features+crf" and "features" only). Classes they teach
        are not ruled out where this image has no strokes of them, and an
        image without any stroke gets a draft from them alone.
    engine : {"numba", "pydensecrf"}
        The dense CRF engine (:data:`~napari_crf_label.crf.DEFAULT_ENGINE`
        unless given). Both give the same result to within rounding;
        "pydensecrf" needs the ``pydensecrf`` extra.
    **crf_params
        Fields of :class:`~napari_crf_label.crf.CRFParams` (``gt_prob``,
        ``sxy_gaussian``, ``compat_gaussian``, ``sxy_bilateral``, ``schan``,
        ``compat_bilateral``, ``iterations``).

    Returns
    -------
    LabelResult
        ``.labels`` at full resolution, ``.probabilities`` at CRF resolution.

    Raises
    ------
    InputError
        (or a subclass) for bad images, strokes, classes or parameters;
        ``MemoryLimitError`` when the estimated peak memory exceeds what
        the machine has available (checked before any CRF is built).

    Notes
    -----
    Painted pixels keep the class the user painted. A tile without strokes
    takes as prior the probabilities of a coarse CRF over the whole scene,
    so it follows its neighbours' evidence instead of guessing. Classes with
    no strokes at all are listed in ``missing_classes`` and never assigned.
    The result does not depend on how the tiles are run (serially, in
    processes or on a cluster).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((40, 60, 3), np.uint8); image[:, 30:] = 200
    >>> strokes = np.zeros((40, 60), int); strokes[20, 5:10] = 1; strokes[20, 50:55] = 2
    >>> result = label_image(image, strokes, classes=["dark", "bright"])
    >>> result.labels[0, 0], result.labels[0, -1]
    (np.uint8(1), np.uint8(2))
    """
    return consume(iter_label_image(image, strokes, classes=classes, window=window, overlap=overlap, scale=scale,
                                     cache=cache, workers=workers, client=client, threads=threads, method=method,
                                     reach=reach, proximity=proximity, trees=trees, samples=samples,
                                     engine=engine, **crf_params),
                    progress)
