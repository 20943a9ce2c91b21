"""The pipeline: image + sparse strokes -> dense label image.

stretch bands -> tile tasks (core + halo) -> per task: read window,
downscale (``scale``), CRF, upsample, argmax, keep the core -> assemble.
The same tasks run serially (with built CRFs kept between runs), in local
worker processes or on a dask cluster, and on arrays in memory or on
rasters read and written window by window (:func:`label_raster`).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .checks import finite_number
from .classes import ClassSet
from .crf import DEFAULT_ENGINE, CRFParams, TileCRF, check_engine, drain
from .errors import InputError
from .features import FeatureParams
from .geodesic import geodesic_distances, proximity
from .image_io import ImageData, apply_stretch, as_image_data
from .progress import checkpoint
from .resample import resample_linear, resize_bands, upsample_argmax
from .resources import available_memory, check_memory, crf_bytes, estimate_run_bytes
from .sources import ArraySource, RasterSource
from .strokes import check_stroke_classes, downscale_strokes, validate_strokes
from .tiling import Tile, TileTask, tile_tasks

__all__ = ["LabelResult", "RasterResult", "CRFCache", "label_image", "iter_label_image", "label_raster",
           "DEFAULT_WINDOW", "DEFAULT_HALO", "COARSE_PIXELS", "DEFAULT_METHOD", "METHODS",
           "stroke_training_samples"]

#: Default tile core size at CRF resolution (1 MP): tiles of about 1-2 MP
#: keep the CRF fast, its kernel widths meaningful and memory per worker low.
DEFAULT_WINDOW = 1024
#: Default context read around each core, at CRF resolution: about twice
#: the appearance kernel's spatial width, so cores join without seams.
DEFAULT_HALO = 128
#: Labelling methods: CRF alone, CRF with a prior from the pixel classifier and the geodesic
#: proximity to the strokes, classifier alone.
METHODS = ("crf", "features+crf", "features")
#: The method a run uses unless told otherwise: the best measured (benchmarks/quality/RESULTS.md).
DEFAULT_METHOD = "features+crf"
#: Largest grid the pixel classifier of the feature methods works on, per tile.
CLASSIFIER_PIXELS = 1_000_000
#: Pixel budget of the coarse whole-scene pass that informs every tile of a tiled run.
COARSE_PIXELS = 1_000_000
#: Pixel budget of the whole-scene grid of the geodesic proximity (``features+crf``).
GEODESIC_PIXELS = 1_000_000
#: Added to the classifier's probabilities before they meet the proximity, so
#: that a class the classifier rules out can still win where only it is near.
CLASSIFIER_FLOOR = 1e-3
#: Weight of the samples carried from other images of a project, as a share of this image's own per
#: class (for classes painted here; classes only taught by other images keep full weight).
CARRIED_WEIGHT = 0.5
#: Weight of the coarse pass in the unary of unpainted pixels of tiles that hold strokes
#: (tiles without strokes take it fully).
PRIOR_WEIGHT = 0.5

ProgressCallback = Callable[[int, int], None]


def _proportions(classes: ClassSet, counts: np.ndarray) -> dict[str, float]:
    """Return each class's share of labelled pixels from label counts (index 0 = no data)."""
    total = max(int(counts[1:].sum()), 1)
    return {name: float(c) / total for name, c in zip(classes.names, counts[1:])}


@dataclass
class LabelResult:
    """The dense labelling of one image.

    Attributes
    ----------
    labels : ndarray of uint8, shape (H, W)
        Class k (1..N) per pixel at full resolution; 0 only where the image
        has no data.
    probabilities : ndarray of float32, shape (N, h, w)
        CRF class probabilities at CRF resolution
        (``h, w = round(H * scale), round(W * scale)``), assembled from the
        tile cores; channel k-1 is class k.
    classes : ClassSet
        The classes, in label order.
    strokes : ndarray of int32, shape (H, W)
        The strokes used (0 where the image has no data).
    missing_classes : list of str
        Classes that had no strokes anywhere (absent from ``labels``).
    params : dict
        Everything that produced the result (scale, window, overlap, CRF).
    seconds : float
        Processing time.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    classes: ClassSet
    strokes: np.ndarray
    missing_classes: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    seconds: float = 0.0

    def proportions(self) -> dict[str, float]:
        """Return each class's share of the labelled (valid) pixels."""
        return _proportions(self.classes, np.bincount(self.labels.ravel(), minlength=len(self.classes) + 1))


@dataclass
class RasterResult:
    """What :func:`label_raster` wrote: the label GeoTIFF, class pixel counts and run facts."""

    path: Path
    classes: ClassSet
    counts: np.ndarray
    missing_classes: list[str]
    params: dict
    seconds: float

    def proportions(self) -> dict[str, float]:
        """Return each class's share of the labelled (valid) pixels."""
        return _proportions(self.classes, self.counts)


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


@dataclass(frozen=True)
class RunSpec:
    """Everything a tile task needs besides its pixels (small, picklable)."""

    n_classes: int
    params: CRFParams
    scale: float
    stretch: np.ndarray | None
    keep_probabilities: bool = True  # streamed runs only need the labels
    method: str = "crf"
    classifier: Any = None  # a fitted features.PixelClassifier for the feature methods
    #: Classes (1-based) without strokes on this image that samples from other images teach the classifier:
    #: the geodesic proximity leaves them free instead of ruling them out.
    carried: tuple[int, ...] = ()
    engine: str = DEFAULT_ENGINE  # the dense CRF engine (crf.ENGINES)


@dataclass(frozen=True)
class CoarsePrior:
    """Whole-scene class probabilities at coarse resolution (or a crop of them).

    Those of a coarse CRF (``crf`` runs) or the geodesic proximity (``features+crf``).
    """

    probabilities: np.ndarray  # (N, h, w) for the crop
    scene_shape: tuple[int, int]  # full-resolution scene size
    coarse_shape: tuple[int, int]  # size of the whole coarse grid
    origin: tuple[int, int] = (0, 0)  # coarse row/column of the crop's first cell

    def crop_for(self, window: Tile) -> CoarsePrior:
        """Return the part of the coarse grid a full-resolution window needs (one cell of margin)."""
        (h, w), (ch, cw) = self.scene_shape, self.coarse_shape
        r0 = max(0, int(np.floor(window.y0 * ch / h)) - 1)
        r1 = min(ch, int(np.ceil(window.y1 * ch / h)) + 1)
        c0 = max(0, int(np.floor(window.x0 * cw / w)) - 1)
        c1 = min(cw, int(np.ceil(window.x1 * cw / w)) + 1)
        oy, ox = self.origin
        crop = self.probabilities[:, r0 - oy:r1 - oy, c0 - ox:c1 - ox]
        return CoarsePrior(np.ascontiguousarray(crop), self.scene_shape, self.coarse_shape, (r0, c0))

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
        wy, wx = (cy - y0)[None, :, None], (cx - x0)[None, None, :]
        q = self.probabilities
        top = q[:, y0][:, :, x0] * (1 - wx) + q[:, y0][:, :, x1] * wx
        bottom = q[:, y1][:, :, x0] * (1 - wx) + q[:, y1][:, :, x1] * wx
        return (top * (1 - wy) + bottom * wy).astype(np.float32)


@dataclass
class TileResult:
    """Labels of one tile's core at full resolution and its probabilities at CRF resolution."""

    task: TileTask
    labels: np.ndarray
    probabilities: np.ndarray


def _crf_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """Return the CRF-resolution size of a full-resolution size."""
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def iter_tile(source: Any, task: TileTask, spec: RunSpec, prior: CoarsePrior | None = None,
              cache: CRFCache | None = None, base: tuple = ()) -> Generator[None, None, TileResult]:
    """Label one tile task, yielding after every CRF iteration; return its TileResult."""
    valid, strokes, image_c = _read_tile(source, task, spec)
    crf_shape = image_c.shape[:2]
    strokes_c = downscale_strokes(strokes, crf_shape)
    n = spec.n_classes
    if n == 1:
        q = np.ones((1, *crf_shape), np.float32)
    elif spec.classifier is not None:
        q = _classifier_probabilities(spec, image_c, _extent(task.outer, source.shape))
        if spec.method == "features+crf":
            if prior is not None:  # what a pixel looks like, times which strokes it is connected to
                q = (q + CLASSIFIER_FLOOR) * prior.sample(task.outer, crf_shape)
                q /= q.sum(axis=0, keepdims=True)
            weight = spec.classifier.params.prior_weight
            q = yield from _cached_infer(cache, base, task.index, image_c, strokes_c, spec,
                                         weight * q + (1 - weight) / n, warm=False)
    else:
        unary_prior = None
        if prior is not None:
            unary_prior = prior.sample(task.outer, crf_shape)
            if strokes_c.any():  # the tile's own strokes lead; the coarse pass fills in
                unary_prior = PRIOR_WEIGHT * unary_prior + (1 - PRIOR_WEIGHT) / n
        q = yield from _cached_infer(cache, base, task.index, image_c, strokes_c, spec, unary_prior)
    rows, cols = task.core_in_outer
    labels = upsample_argmax(q, task.outer.shape, rows, cols)
    core_strokes, core_valid = strokes[rows, cols], valid[rows, cols]
    labels[core_strokes > 0] = core_strokes[core_strokes > 0]
    labels[~core_valid] = 0
    if not spec.keep_probabilities:
        return TileResult(task, labels, np.zeros((n, 0, 0), np.float32))
    # the core's share of the CRF grid, aligned with the scene's CRF grid
    r = np.arange(round(task.core.y0 * spec.scale), round(task.core.y1 * spec.scale)) - round(
        task.outer.y0 * spec.scale)
    c = np.arange(round(task.core.x0 * spec.scale), round(task.core.x1 * spec.scale)) - round(
        task.outer.x0 * spec.scale)
    probs = q[:, np.clip(r, 0, q.shape[1] - 1)][:, :, np.clip(c, 0, q.shape[2] - 1)]
    return TileResult(task, labels, probs)


def _read_tile(source: Any, task: TileTask, spec: RunSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a task's window: (valid mask, strokes) at full resolution and the stretched image at CRF resolution."""
    image, valid, strokes = source.read(task.outer)
    return valid, strokes, resize_bands(apply_stretch(image, valid, spec.stretch), _crf_shape(task.outer.shape,
                                                                                              spec.scale))


def _cached_infer(cache: CRFCache | None, base: tuple, name: object, image: np.ndarray, strokes: np.ndarray,
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
    q = yield from _counted(crf.iter_infer(strokes, prior, iterations=iterations, init=init), "CRF", total)
    if warm:
        cache.remember(key, q)
    return q


def _counted(gen: Generator[None, None, Any], stage: str, total: int) -> Generator[None, None, Any]:
    """Re-yield a CRF's iterations, reporting each as a checkpoint of ``stage`` (``total`` iterations)."""
    done = 0
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        done += 1
        checkpoint(stage, done / max(total, 1))
        yield


def _classifier_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """Return the grid the pixel classifier works on for a CRF-resolution tile (at most CLASSIFIER_PIXELS)."""
    return _crf_shape(shape, min(1.0, (CLASSIFIER_PIXELS / (shape[0] * shape[1])) ** 0.5))


def _extent(window: Tile, scene: tuple[int, int]) -> tuple[float, float, float, float]:
    """Return where a window lies in the scene: (top, bottom, left, right) as fractions."""
    return window.y0 / scene[0], window.y1 / scene[0], window.x0 / scene[1], window.x1 / scene[1]


def _classifier_probabilities(spec: RunSpec, image_c: np.ndarray, extent: tuple[float, float, float, float]
                              ) -> np.ndarray:
    """Return the pixel classifier's (N, h, w) probabilities for a CRF-resolution tile.

    Large tiles are classified on a coarser grid and the probabilities
    resampled back: features and prediction cost grow with the pixels.
    """
    from .features import pixel_features

    features = pixel_features(_classifier_image(image_c), spec.classifier.params.sigmas, extent)
    p = spec.classifier.predict_proba(features)
    return p if p.shape[1:] == image_c.shape[:2] else resample_linear(p, image_c.shape[:2]).astype(np.float32)


def _classifier_image(image_c: np.ndarray) -> np.ndarray:
    """Return a CRF-resolution tile on the classifier's grid (training and prediction alike)."""
    return resize_bands(image_c, _classifier_shape(image_c.shape[:2]))


def _feature_params(method: str, reach: float) -> FeatureParams:
    """Check the method and the proximity's reach; return the feature settings of the run."""
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not finite_number("reach", reach) > 0:
        raise InputError(f"reach must be > 0 (pixels at CRF resolution), got {reach}")
    return FeatureParams(reach=float(reach))


def _method_settings(method: str, features: FeatureParams) -> dict[str, float]:
    """Return the method's own settings to record with a result (the reach of features+crf)."""
    return {"reach": features.reach} if method == "features+crf" else {}


def _collect_samples(source: Any, plan: _Plan, params: FeatureParams
                     ) -> Generator[tuple[int, int], None, tuple[np.ndarray, np.ndarray]]:
    """Return the classifier's training samples of every tile core's strokes (at CRF resolution).

    Each tile gives at most ``max_samples_per_class`` pixels per class, and
    only their features are computed (the cap bounds memory on heavily
    painted scenes; ``fit`` caps the union again).
    """
    from .features import pixel_features_at, stroke_samples

    spec = plan.spec
    xs, ys = [], []
    for i, task in enumerate(plan.tasks):
        if not plan.counts[i, 1:].any():
            continue
        _, strokes, image_c = _read_tile(source, task, spec)
        rows, cols = task.core_in_outer
        core_only = np.zeros_like(strokes)
        core_only[rows, cols] = strokes[rows, cols]  # each stroke pixel trains once
        image_k = _classifier_image(image_c)
        r, c, labels = stroke_samples(downscale_strokes(core_only, image_k.shape[:2]), params.max_samples_per_class,
                                      params.seed)
        if labels.size:
            xs.append(pixel_features_at(image_k, r, c, params.sigmas, _extent(task.outer, source.shape)))
            ys.append(labels)
        yield 0, len(plan.tasks)
    if not ys:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int32)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int32)


def _carried_share(own: np.ndarray, carried: tuple[np.ndarray, np.ndarray], n: int, cap: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Return the carried samples to train with: per class, what the cap leaves after this image's own."""
    x, y = carried
    rng = np.random.default_rng(seed)
    keep = []
    for k in range(1, n + 1):
        idx = np.flatnonzero(y == k)
        room = max(0, cap - int((own == k).sum()))
        keep.append(idx if len(idx) <= room else np.sort(rng.choice(idx, room, replace=False)))
    keep_all = np.concatenate(keep) if keep else np.zeros(0, int)
    return x[keep_all], y[keep_all]


def _fit_classifier(source: Any, plan: _Plan, params: FeatureParams,
                    samples: tuple[np.ndarray, np.ndarray] | None = None) -> Generator[tuple[int, int], None, Any]:
    """Train the pixel classifier on this image's stroke samples and any carried from other images."""
    from .features import PixelClassifier

    x, y = yield from _collect_samples(source, plan, params)
    classifier = PixelClassifier(plan.spec.n_classes, params)
    classifier.add_samples(x, y)
    if samples is not None and len(samples[1]):
        if x.size and samples[0].shape[1] != x.shape[1]:
            raise InputError(f"the samples carried from other images have {samples[0].shape[1]} features but this "
                             f"image's have {x.shape[1]}: images of one project need the same number of bands")
        cx, cy = _carried_share(y, samples, plan.spec.n_classes, params.max_samples_per_class, params.seed)
        # where this image has strokes of a class, its own samples outweigh those carried from elsewhere
        own = np.bincount(y, minlength=plan.spec.n_classes + 1).astype(float)
        carried = np.bincount(cy, minlength=plan.spec.n_classes + 1).astype(float)
        share = np.where(own > 0, np.minimum(1.0, CARRIED_WEIGHT * own / np.maximum(carried, 1)), 1.0)
        classifier.add_samples(cx, cy, share[cy])
    return classifier.fit()


def _attach_classifier(source: Any, plan: _Plan, method: str, features: FeatureParams,
                       samples: tuple[np.ndarray, np.ndarray] | None = None) -> Generator[tuple[int, int], None, None]:
    """For the feature methods, train the pixel classifier and put it, with the method, into the plan's spec."""
    if method != "crf" and plan.spec.n_classes > 1:
        classifier = yield from _fit_classifier(source, plan, features, samples)
        own = plan.counts[:, 1:].sum(axis=0) > 0
        taught = set() if samples is None else {int(k) for k in np.unique(samples[1])}
        carried = tuple(k for k in range(1, plan.spec.n_classes + 1) if not own[k - 1] and k in taught)
        plan.spec = replace(plan.spec, method=method, classifier=classifier, carried=carried)


def stroke_training_samples(image: np.ndarray | ImageData, strokes: np.ndarray, *,
                            classes: ClassSet | list[str] | str | None = None, window: int | None = None,
                            overlap: int | None = None, scale: float = 1.0, reach: float = FeatureParams.reach,
                            **ignored: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the pixel classifier's training samples of an image's strokes: (P, F) features, (P,) classes.

    The same samples a run with these settings trains on, for another
    image's ``label_image(..., samples=...)``. Other keywords of a run are
    accepted and ignored, so one settings dict serves both.
    """
    data = as_image_data(image)
    strokes_i = validate_strokes(strokes, data.shape)
    cls = _resolve_classes(classes, int(strokes_i.max()))
    check_stroke_classes(int(strokes_i.max()), len(cls))
    strokes_i[~data.valid] = 0
    source = ArraySource(data, strokes_i)
    plan = _plan(source, len(cls), CRFParams(), scale, window, overlap, source.stretch())
    return drain(_collect_samples(source, plan, _feature_params("features", reach)))


def run_tile(source: Any, task: TileTask, spec: RunSpec, prior: CoarsePrior | None = None) -> TileResult:
    """Label one tile task to the end (the function worker processes run)."""
    return drain(iter_tile(source, task, spec, prior))


def _drop_strokes_on_nodata(strokes: np.ndarray, data: ImageData, classes: ClassSet) -> None:
    """Clear strokes on no-data pixels in place, saying per class how many were dropped and why.

    A nodata value that also occurs as real data (0 in a dark scene) can
    swallow a class's strokes; without this message the user only learns
    that the class "has no strokes".
    """
    on_nodata = strokes[~data.valid]
    if not on_nodata.any():
        return
    n = len(classes)
    dropped = np.bincount(on_nodata, minlength=n + 1)[1:]
    total = np.bincount(strokes.ravel(), minlength=n + 1)[1:]
    strokes[~data.valid] = 0
    _report_dropped(classes, dropped, total, data.profile.get("nodata"))


def _report_dropped(classes: ClassSet, dropped: np.ndarray, total: np.ndarray, nodata: float | None) -> None:
    """Warn which stroke pixels per class fell on no-data (raise InputError when all of them did)."""
    if not dropped.any():
        return
    why = (f"pixels equal to the nodata value {nodata:g} in every band" if nodata is not None
           else "no-data pixels (NaN or transparent)")
    parts = [f"{name} {d} of {t}" for name, d, t in zip(classes.names, dropped, total) if d]
    message = f"stroke pixels on {why} were dropped: {', '.join(parts)}"
    if dropped.sum() == total.sum():
        raise InputError(f"all strokes lie on no-data: {message}; paint on the image or fix its nodata value")
    warnings.warn(message, stacklevel=4)


def _resolve_classes(classes: ClassSet | list[str] | tuple[str, ...] | str | None, strokes_max: int) -> ClassSet:
    """Return a ClassSet from what the caller gave (None: one class per stroke value)."""
    if classes is None:
        return ClassSet.from_names([f"class{k}" for k in range(1, max(strokes_max, 2) + 1)])
    if isinstance(classes, ClassSet):
        return classes
    return ClassSet.from_names(classes)


def _crf_params(values: dict) -> CRFParams:
    """Return CRFParams from keyword values, each a finite number (then range-checked by CRFParams)."""
    fields = CRFParams().as_dict()
    for name, value in values.items():
        if name in fields:
            finite_number(name, value, integer=isinstance(fields[name], int))
    try:
        return CRFParams(**values)
    except TypeError as exc:
        raise InputError(f"unknown CRF parameter: {exc}") from None


def _check_geometry(scale: float, window: int | None, overlap: int | None,
                    shape: tuple[int, int] | None = None, workers: int = 1) -> None:
    """Raise InputError for a bad scale, window, overlap or worker count (for an image of ``shape``)."""
    finite_number("scale", scale)
    if not 0 < scale <= 1:
        raise InputError(f"scale must be > 0 and <= 1, got {scale}")
    if shape is not None and scale * max(shape) < 1:
        raise InputError(f"scale {scale:g} shrinks the {shape[0]} x {shape[1]} image below one pixel; "
                         f"use scale >= {1 / max(shape):.3g}")
    if window is not None and finite_number("window", window, integer=True) < 1:
        raise InputError(f"window must be >= 1 pixel, got {window}")
    if overlap is not None and finite_number("overlap", overlap, integer=True) < 0:
        raise InputError(f"overlap must be >= 0, got {overlap}")
    if finite_number("workers", workers, integer=True) < 1:
        raise InputError(f"workers must be >= 1, got {workers}")


@dataclass
class _Plan:
    """Tasks and shared inputs of one run."""

    tasks: list[TileTask]
    spec: RunSpec
    counts: np.ndarray  # stroke pixels per task outer and class, (T, N + 1)
    window: int
    halo: int


def _plan(source: Any, n: int, params: CRFParams, scale: float, window: int | None, overlap: int | None,
          stretch: np.ndarray | None, keep_probabilities: bool = True, engine: str = DEFAULT_ENGINE) -> _Plan:
    """Cut the scene into tasks and count the strokes each task sees."""
    height, width = source.shape
    core = max(1, round(DEFAULT_WINDOW / scale)) if window is None else window
    halo = round(DEFAULT_HALO / scale) if overlap is None else overlap
    tasks = tile_tasks(height, width, core, halo)
    counts = source.stroke_counts([t.outer for t in tasks], n)
    return _Plan(tasks, RunSpec(n, params, scale, stretch, keep_probabilities, engine=engine), counts, core, halo)


def _scene_prior(source: Any, plan: _Plan, cache: CRFCache | None = None, base: tuple = ()
                 ) -> Generator[tuple[int, int], None, CoarsePrior | None]:
    """Return the whole-scene context every tile takes: geodesic proximity or a coarse CRF (or None)."""
    if plan.spec.n_classes == 1:
        return None
    if plan.spec.method == "features+crf":
        return (yield from _geodesic_prior(source, plan))
    return (yield from _coarse_prior(source, plan, cache, base))


def _geodesic_prior(source: Any, plan: _Plan) -> Generator[tuple[int, int], None, CoarsePrior]:
    """Compute the geodesic proximity to the strokes over the whole scene (at most GEODESIC_PIXELS).

    One scene-wide grid, so that a tile also knows the strokes of its
    neighbours; the reach is kept in CRF pixels on a coarser grid.
    """
    height, width = source.shape
    f = min(plan.spec.scale, (GEODESIC_PIXELS / (height * width)) ** 0.5)
    shape = _crf_shape((height, width), f)
    image, strokes = source.overview(shape, plan.spec.stretch)
    params = plan.spec.classifier.params
    distances = geodesic_distances(image, strokes, plan.spec.n_classes, params.edge_weight, params.edge_sigma)
    if plan.spec.carried:  # taught by other images, not painted here: as near as the nearest painted class
        painted = np.isfinite(distances).any(axis=(1, 2))
        nearest = distances[painted].min(axis=0) if painted.any() else np.zeros(distances.shape[1:], np.float32)
        for k in plan.spec.carried:
            distances[k - 1] = nearest
    yield 0, len(plan.tasks)
    return CoarsePrior(proximity(distances, params.reach * f / plan.spec.scale), (height, width), shape)


def _coarse_prior(source: Any, plan: _Plan, cache: CRFCache | None = None, base: tuple = ()
                  ) -> Generator[tuple[int, int], None, CoarsePrior | None]:
    """Run a CRF over the whole scene shrunk to about COARSE_PIXELS (tiled CRF-only runs)."""
    if len(plan.tasks) == 1 or plan.spec.method != "crf":
        return None
    height, width = source.shape
    f = min(1.0, (COARSE_PIXELS / (height * width)) ** 0.5)
    shape = _crf_shape((height, width), f)
    image, strokes = source.overview(shape, plan.spec.stretch)
    q = yield from _with_progress(_cached_infer(cache, base, "coarse", image, strokes, plan.spec), 0, len(plan.tasks))
    return CoarsePrior(q, (height, width), shape)


def _with_progress(gen: Generator[None, None, Any], done: int, total: int
                   ) -> Generator[tuple[int, int], None, Any]:
    """Re-yield a CRF's per-iteration steps as (done, total) progress."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        yield done, total


def _task_prior(plan: _Plan, prior: CoarsePrior | None, i: int) -> CoarsePrior | None:
    """Return the coarse prior crop task ``i`` needs."""
    if prior is None:
        return None
    return prior.crop_for(plan.tasks[i].outer)


def _iter_results(source: Any, plan: _Plan, prior: CoarsePrior | None, cache: CRFCache | None,
                  base: tuple, workers: int, client: Any) -> Generator[tuple[int, int] | TileResult, None, None]:
    """Yield progress tuples and TileResults: serially, or on dask workers."""
    total = len(plan.tasks)
    if workers <= 1 and client is None:
        for i, task in enumerate(plan.tasks):
            yield i, total
            result = yield from _with_progress(
                iter_tile(source, task, plan.spec, _task_prior(plan, prior, i), cache, base), i, total)
            yield result
            yield i + 1, total
        return
    yield from _iter_dask(source, plan, prior, workers, client)


def _iter_dask(source: Any, plan: _Plan, prior: CoarsePrior | None, workers: int, client: Any
               ) -> Generator[tuple[int, int] | TileResult, None, None]:
    """Run the tasks on a dask cluster (a local one of ``workers`` processes unless ``client`` is given).

    At most two tasks per worker are in flight, so memory stays bounded by
    the tile size whatever the scene size.
    """
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    own = None
    if client is None:
        own = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
        client = Client(own)
    elif isinstance(client, str):
        try:
            own_client = Client(client, timeout="10s")  # a wrong address fails in seconds, not minutes
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"cannot reach the dask scheduler {client!r}: {exc}") from None
        try:
            yield from _iter_dask(source, plan, prior, workers, own_client)
        finally:
            own_client.close()
        return
    # each task carries its own window of pixels: large by design, not a graph to optimise
    quiet = dask.config.set({"distributed.admin.large-graph-warning-threshold": "2GB"})
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        pending = iter(range(len(plan.tasks)))
        futures = as_completed()

        def submit_next() -> bool:
            i = next(pending, None)
            if i is None:
                return False
            task = plan.tasks[i]
            # in-memory sources ship only the task's window; raster sources are paths
            src = source.crop(task.outer) if isinstance(source, ArraySource) else source
            futures.add(client.submit(run_tile, src, task, plan.spec, _task_prior(plan, prior, i),
                                      pure=False, key=f"crf-tile-{i}-{time.time_ns()}"))
            return True

        for _ in range(2 * n_workers):
            if not submit_next():
                break
        done = 0
        yield 0, len(plan.tasks)
        for future in futures:
            result = future.result()
            future.release()
            submit_next()
            done += 1
            yield result
            yield done, len(plan.tasks)
    finally:
        quiet.__exit__(None, None, None)  # dask.config.set restores the old value on exit
        if own is not None:
            client.close()
            own.close()


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
    method: str = DEFAULT_METHOD,
    reach: float = FeatureParams.reach,
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
    params = _crf_params(crf_params)
    _check_geometry(scale, window, overlap, (height, width), workers)
    carried = samples is not None and len(samples[1]) > 0
    if carried and method == "crf":
        raise InputError("samples from other images teach the pixel classifier: use method features+crf or "
                         "features with them")
    # with samples carried from other images, an image without strokes gets a draft
    strokes_i = validate_strokes(strokes, (height, width), allow_empty=carried)  # a copy: no-data cleared below
    highest = int(strokes_i.max())
    cls = _resolve_classes(classes, highest)
    check_stroke_classes(highest, len(cls))
    _drop_strokes_on_nodata(strokes_i, data, cls)
    check_engine(engine)
    n = len(cls)
    painted = np.bincount(strokes_i.ravel(), minlength=n + 1)[1:]
    taught = set() if not carried else {int(k) for k in np.unique(samples[1])}
    missing = [name for k, (name, c) in enumerate(zip(cls.names, painted), start=1) if c == 0 and k not in taught]

    features = _feature_params(method, reach)
    source = ArraySource(data, strokes_i)
    plan = _plan(source, n, params, scale, window, overlap, source.stretch(), engine=engine)
    outer_pixels = [int(np.prod(_crf_shape(t.outer.shape, scale))) for t in plan.tasks]
    crf_shape = _crf_shape((height, width), scale)
    in_flight = max(outer_pixels) * (1 if workers <= 1 and client is None else 2 * max(workers, 1))
    kept = sum(outer_pixels) if cache is not None else 0
    estimate = estimate_run_bytes((height, width), crf_shape, in_flight, n, data.array.shape[2], kept)
    if cache is not None and crf_bytes(kept, n) > 0.5 * (available_memory() or float("inf")):
        # keeping every tile's lattice would crowd the machine: run without keeping them
        cache.clear()
        cache = None
        estimate = estimate_run_bytes((height, width), crf_shape, in_flight, n, data.array.shape[2])
    check_memory(estimate, f"labelling {height} x {width} pixels ({len(plan.tasks)} tile(s))")
    yield from _attach_classifier(source, plan, method, features, samples)

    base = (engine, n, params.kernel_key(), scale, plan.window, plan.halo, (height, width),
            None if plan.spec.stretch is None else plan.spec.stretch.tobytes())
    prior = yield from _scene_prior(source, plan, cache, base)
    labels = np.zeros((height, width), np.uint8 if n < 256 else np.uint16)
    probs = np.zeros((n, *crf_shape), np.float32)

    for item in _iter_results(source, plan, prior, cache, base, workers, client):
        if isinstance(item, TileResult):
            core = plan.tasks[item.task.index].core
            labels[core.slices] = item.labels
            probs[:, round(core.y0 * scale):round(core.y1 * scale),
                  round(core.x0 * scale):round(core.x1 * scale)] = item.probabilities
        else:
            yield item
    used = {"scale": scale, "window": window, "overlap": overlap, "core": plan.window, "halo": plan.halo,
            "crf_shape": list(crf_shape), "tiles": len(plan.tasks), "workers": workers, "method": method,
            "engine": engine, **_method_settings(method, features), **params.as_dict()}
    return LabelResult(labels=labels, probabilities=probs, classes=cls, strokes=strokes_i,
                       missing_classes=missing, params=used, seconds=time.perf_counter() - t0)


def _consume(gen: Generator[tuple[int, int], None, Any], progress: ProgressCallback | None) -> Any:
    """Run a progress generator to its end, calling ``progress`` when tiles complete."""
    done = 0
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            result = stop.value
            if result.missing_classes:
                warnings.warn(f"no strokes for class(es) {', '.join(result.missing_classes)}: "
                              "they are absent from the result", stacklevel=3)
            return result
        if progress is not None and step[0] > done:
            done = step[0]
            progress(*step)


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
    method: str = DEFAULT_METHOD,
    reach: float = FeatureParams.reach,
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
        halo; neighbouring tiles share twice this). Default:
        :data:`DEFAULT_HALO` pixels at CRF resolution.
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
    return _consume(iter_label_image(image, strokes, classes=classes, window=window, overlap=overlap, scale=scale,
                                     cache=cache, workers=workers, client=client, method=method, reach=reach,
                                     samples=samples, engine=engine, **crf_params),
                    progress)


def label_raster(
    image_path: str | Path,
    strokes_path: str | Path,
    out_path: str | Path,
    *,
    classes: ClassSet | list[str] | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    scale: float = 1.0,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    client: Any = None,
    overwrite: bool = False,
    method: str = DEFAULT_METHOD,
    reach: float = FeatureParams.reach,
    staging: Any = None,
    engine: str = DEFAULT_ENGINE,
    **crf_params,
) -> RasterResult:
    """Label a (Geo)TIFF larger than memory, window by window, into a tiled GeoTIFF.

    The image and the strokes (a raster of the same grid: 0 = none, k =
    class k) are read per tile window and the labels written per window
    into ``out_path`` (uint8, deflate, 512-pixel blocks, nodata 0, the
    input's CRS and transform), so peak memory depends on the tile size,
    not the image size. Tiles are the same as :func:`label_image`'s, so on
    an image that fits in memory both give the same labels. Parameters as
    for :func:`label_image`; the file appears only when complete (with a
    ``staging``, an :class:`~napari_crf_label.io.atomic.Staging`, at its
    commit, together with the caller's other files). The inputs are never
    written over.

    Returns
    -------
    RasterResult
    """
    return _consume(iter_label_raster(image_path, strokes_path, out_path, classes=classes, window=window,
                                      overlap=overlap, scale=scale, workers=workers, client=client,
                                      overwrite=overwrite, method=method, reach=reach, staging=staging,
                                      engine=engine,
                                      **crf_params), progress)


def iter_label_raster(image_path: str | Path, strokes_path: str | Path, out_path: str | Path, *,
                      classes: ClassSet | list[str] | str | None = None, window: int | None = None,
                      overlap: int | None = None, scale: float = 1.0, workers: int = 1, client: Any = None,
                      overwrite: bool = False, method: str = DEFAULT_METHOD, reach: float = FeatureParams.reach,
                      staging: Any = None, engine: str = DEFAULT_ENGINE, **crf_params
                      ) -> Generator[tuple[int, int], None, RasterResult]:
    """Do what :func:`label_raster` does, yielding ``(tiles done, tiles total)``."""
    from .io.atomic import check_targets
    from .io.raster import label_raster_writer

    t0 = time.perf_counter()
    inputs = [Path(image_path), Path(strokes_path)]
    check_targets([out_path], overwrite, inputs)
    params = _crf_params(crf_params)
    _check_geometry(scale, window, overlap, None, workers)
    check_engine(engine)
    source = RasterSource(Path(image_path), Path(strokes_path))
    info = source.describe()
    height, width = info["shape"]
    _check_geometry(scale, window, overlap, (height, width), workers)
    cls = _resolve_classes(classes, source.max_stroke() if classes is None else 0)
    n = len(cls)
    features = _feature_params(method, reach)
    plan = _plan(source, n, params, scale, window, overlap, source.stretch(), keep_probabilities=False,
                 engine=engine)
    core_counts = source.stroke_counts([t.core for t in plan.tasks], n).sum(axis=0)
    if core_counts[1:].sum() == 0:
        raise InputError("no strokes: paint at least one stroke (label > 0) before running")
    dropped = source.nodata_strokes(n)  # the cores cover the scene once, so counts subtract
    _report_dropped(cls, dropped, core_counts[1:], info["nodata"])
    core_counts[1:] -= dropped
    missing = [name for name, c in zip(cls.names, core_counts[1:]) if c == 0]
    in_flight = max(int(np.prod(_crf_shape(t.outer.shape, scale))) for t in plan.tasks)
    in_flight *= 1 if workers <= 1 and client is None else 2 * max(workers, 1)
    tile_full = max(int(np.prod(t.outer.shape)) for t in plan.tasks)
    side = int(np.sqrt(tile_full))
    check_memory(estimate_run_bytes((side, side), _crf_shape((side, side), scale), in_flight, n, source.bands),
                 f"labelling {height} x {width} pixels in {len(plan.tasks)} tile(s)")
    yield from _attach_classifier(source, plan, method, features)
    prior = yield from _scene_prior(source, plan)
    counts = np.zeros(n + 1, np.int64)
    with label_raster_writer(out_path, (height, width), info["crs"], info["transform"], info["gcps"], overwrite,
                             staging, inputs) as out:
        for item in _iter_results(source, plan, prior, None, (), workers, client):
            if isinstance(item, TileResult):
                core = plan.tasks[item.task.index].core
                out.write(item.labels, core.y0, core.x0)
                counts += np.bincount(item.labels.ravel(), minlength=n + 1)[: n + 1]
            else:
                yield item
    used = {"scale": scale, "window": window, "overlap": overlap, "core": plan.window, "halo": plan.halo,
            "tiles": len(plan.tasks), "workers": workers, "method": method, "engine": engine,
            **_method_settings(method, features), **params.as_dict()}
    return RasterResult(Path(out_path), cls, counts, missing, used, time.perf_counter() - t0)
