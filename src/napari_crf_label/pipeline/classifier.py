"""The pixel classifier of the feature methods: its samples, its training and its probabilities."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

import numpy as np

from ..classes import ClassSet
from ..crf import CRFParams, drain
from ..errors import InputError
from ..features import FeatureParams, cap_per_class
from ..image_io import ImageData, as_image_data
from ..parallel import imap_threads
from ..progress import checkpoint
from ..resample import bilinear, resize_bands
from ..sources import ArraySource
from ..strokes import check_stroke_classes, downscale_strokes, validate_strokes
from ..tiling import Tile
from .cache import CRFCache, fingerprint, memo
from .inputs import check_crf_params, feature_params, method_crf_params, resolve_classes
from .plan import Plan, RunSpec, crf_size, make_plan, read_tile
from .settings import CARRIED_WEIGHT, CLASSIFIER_PIXELS, DEFAULT_METHOD, PREDICT_STEP, PREDICT_STEP_MIN


def _classifier_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """Return the grid the pixel classifier works on for a CRF-resolution tile (at most CLASSIFIER_PIXELS)."""
    return crf_size(shape, min(1.0, (CLASSIFIER_PIXELS / (shape[0] * shape[1])) ** 0.5))


def scene_extent(window: Tile, scene: tuple[int, int]) -> tuple[float, float, float, float]:
    """Return where a window lies in the scene: (top, bottom, left, right) as fractions."""
    return window.y0 / scene[0], window.y1 / scene[0], window.x0 / scene[1], window.x1 / scene[1]


def classifier_probabilities(spec: RunSpec, image_c: np.ndarray, extent: tuple[float, float, float, float],
                             cache: CRFCache | None = None, base: tuple = (), slot: Any = None) -> np.ndarray:
    """Return the pixel classifier's (N, h, w) probabilities for a CRF-resolution tile.

    Large tiles are classified on a coarser grid, and every
    :data:`PREDICT_STEP`-th pixel of it, and the probabilities resampled
    back: features and prediction cost grow with the pixels. A ``cache``
    keeps the tile's features (under ``slot``) for the next run.
    """
    features, step, grid = tile_features(spec.classifier.params, image_c, extent, cache, base, slot)
    p = spec.classifier.predict_proba(features)
    if step == 1 and p.shape[1:] == image_c.shape[:2]:
        return p
    return _expand(p, step, grid, image_c.shape[:2])


def tile_features(params: FeatureParams, image_c: np.ndarray, extent: tuple[float, float, float, float],
                  cache: CRFCache | None = None, base: tuple = (), slot: Any = None
                  ) -> tuple[np.ndarray, int, tuple[int, int]]:
    """Return the features the classifier predicts from for a CRF-resolution tile, their step and grid.

    Every ``step``-th pixel of the classifier's ``grid``. Depends on the
    pixels and settings only, not on the strokes: a ``cache`` keeps them
    (under ``slot``, with the tile on the classifier's grid and its smoothed
    bands, which training also reads) for every later run, and the panel
    fills it before the first (:mod:`~napari_crf_label.pipeline.prepare`).
    """
    from ..features import pixel_features

    image_k, seen = _kept_classifier_image(image_c, cache, base, slot)
    step = PREDICT_STEP if min(image_k.shape[:2]) >= PREDICT_STEP_MIN else 1
    sigmas, texture = params.sigmas, params.texture
    features = memo(cache, base, ("features", slot), (seen, sigmas, extent, step, texture),
                    lambda: pixel_features(image_k, sigmas, extent, step,
                                           _smoothed(image_k, sigmas, cache, base, slot, seen), texture))
    return features, step, image_k.shape[:2]


def _smoothed(image_k: np.ndarray, sigmas: tuple[float, ...], cache: CRFCache | None, base: tuple, slot: Any,
              seen: str) -> np.ndarray | None:
    """Return a tile's smoothed bands kept in ``cache`` (made by the training pass or now), or None without one.

    Training and prediction smooth the same tile with the same Gaussians;
    with a cache they do it once.
    """
    from ..features import smooth_bands

    if cache is None:
        return None
    return cache.memo(base, ("smoothed", slot), (seen, sigmas), lambda: smooth_bands(image_k, sigmas))


def _expand(p: np.ndarray, step: int, grid: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Bilinearly resample (N, h, w) values at every ``step``-th pixel of ``grid`` to (N, *shape).

    ``shape`` spans the same area as ``grid`` (pixel centres aligned); the
    values sit at grid pixels 0, step, 2 * step, ...
    """
    axes = []
    for n_out, n_grid, n_kept in zip(shape, grid, p.shape[1:]):
        pos = np.clip(((np.arange(n_out) + 0.5) * n_grid / n_out - 0.5) / step, 0, n_kept - 1)
        i0 = np.floor(pos).astype(np.intp)
        axes.append((i0, np.minimum(i0 + 1, n_kept - 1), (pos - i0).astype(np.float32)))
    return bilinear(p, axes[0], axes[1]).astype(np.float32, copy=False)


def _kept_classifier_image(image_c: np.ndarray, cache: CRFCache | None, base: tuple, slot: Any
                           ) -> tuple[np.ndarray, str]:
    """Return a tile on the classifier's grid and the fingerprint of the tile, kept in ``cache`` under ``slot``.

    Training and prediction resample the same tile, and so does every
    re-run (Pillow's filter took 0.1 s per 1.3 MP RGB tile).
    """
    seen = fingerprint(image_c)
    return memo(cache, base, ("classifier image", slot), seen, lambda: _classifier_image(image_c)), seen


def _classifier_image(image_c: np.ndarray) -> np.ndarray:
    """Return a CRF-resolution tile on the classifier's grid (training and prediction alike)."""
    return resize_bands(image_c, _classifier_shape(image_c.shape[:2]))


def _tile_samples(source: Any, plan: Plan, params: FeatureParams, i: int, cache: CRFCache | None = None,
                  base: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
    """Return the (features, classes) training samples of task ``i``'s core strokes (kept in ``cache``)."""
    from ..features import pixel_features_at, stroke_samples

    checkpoint("training", 0.0)  # reading and smoothing a tile for its samples is part of training
    task = plan.tasks[i]
    _, strokes, image_c = read_tile(source, task, plan.spec)
    rows, cols = task.core_in_outer
    core_only = np.zeros_like(strokes)
    core_only[rows, cols] = strokes[rows, cols]  # each stroke pixel trains once
    image_k, seen = _kept_classifier_image(image_c, cache, base, i)
    core_k = downscale_strokes(core_only, image_k.shape[:2])
    extent = scene_extent(task.outer, source.shape)

    def compute() -> tuple[np.ndarray, np.ndarray]:
        r, c, labels = stroke_samples(core_k, params.max_samples_per_class, params.seed)
        if not labels.size:
            return np.zeros((0, 0), np.float32), labels
        smoothed = _smoothed(image_k, params.sigmas, cache, base, i, seen)
        return pixel_features_at(image_k, r, c, params.sigmas, extent, smoothed, params.texture), labels

    # unchanged pixels and strokes give the same seeded draw: a re-run keeps the samples of untouched tiles
    return memo(cache, base, ("samples", i), (seen, fingerprint(core_k), params), compute)


def _collect_samples(source: Any, plan: Plan, params: FeatureParams, cache: CRFCache | None = None,
                     base: tuple = (), threads: int = 1, drawn: bool = False
                     ) -> Generator[tuple[int, int], None, tuple[np.ndarray, np.ndarray]]:
    """Return the classifier's training samples of every tile core's strokes (at CRF resolution).

    Each tile gives at most ``max_samples_per_class`` pixels per class, and
    only their features are computed (the cap bounds memory on heavily
    painted scenes; ``fit`` caps the union again). Tiles run on ``threads``
    threads; the samples are joined in tile order whatever the order they end in.
    ``drawn``: only the samples ``fit``'s own cap would keep of them (the
    same seeded draw over the same classes, so the same rows in the same
    order), without joining the features of all of them first: on a 1 GP
    scene those are about 0.5 GB, joined twice.
    """
    painted = [i for i in range(len(plan.tasks)) if plan.counts[i, 1:].any()]
    found: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if threads > 1 and len(painted) > 1:
        for j, value in imap_threads(lambda i: _tile_samples(source, plan, params, i, cache, base), painted, threads):
            found[painted[j]] = value
            yield 0, len(plan.tasks)
    else:
        for i in painted:
            found[i] = _tile_samples(source, plan, params, i, cache, base)
            yield 0, len(plan.tasks)
    parts = [found.pop(i) for i in painted if found[i][1].size]
    if not parts:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int32)
    y = np.concatenate([y for _, y in parts]).astype(np.int32)
    if not drawn:
        return np.concatenate([x for x, _ in parts]).astype(np.float32), y
    keep = cap_per_class(y, params.max_samples_per_class, params.seed)
    return _rows([x for x, _ in parts], keep), y[keep]


def _rows(blocks: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Return the rows ``rows`` (sorted) of the blocks stacked, as float32, without stacking them."""
    picked, start = [], 0
    for block in blocks:
        inside = rows[(rows >= start) & (rows < start + len(block))]
        picked.append(block[inside - start])
        start += len(block)
    return np.concatenate(picked).astype(np.float32, copy=False)


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


def _fit_classifier(source: Any, plan: Plan, params: FeatureParams,
                    samples: tuple[np.ndarray, np.ndarray] | None = None, cache: CRFCache | None = None,
                    base: tuple = (), threads: int = 1) -> Generator[tuple[int, int], None, Any]:
    """Train the pixel classifier on this image's stroke samples and any carried from other images.

    With a ``cache``, the same samples as last time give back the classifier trained then.
    """
    # alone, this image's samples are drawn as fit would draw them; with carried ones fit draws from all
    x, y = yield from _collect_samples(source, plan, params, cache, base, threads, drawn=samples is None)
    key = (fingerprint(x, y), params) if samples is None else (fingerprint(x, y, *samples), params)
    return memo(cache, base, "classifier", key, lambda: _train(plan, params, x, y, samples))


def _train(plan: Plan, params: FeatureParams, x: np.ndarray, y: np.ndarray,
           samples: tuple[np.ndarray, np.ndarray] | None) -> Any:
    """Fit the pixel classifier on (x, y) and a share of the ``samples`` carried from other images."""
    from ..features import PixelClassifier

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


def attach_classifier(source: Any, plan: Plan, method: str, features: FeatureParams,
                      samples: tuple[np.ndarray, np.ndarray] | None = None, cache: CRFCache | None = None,
                      base: tuple = (), threads: int = 1) -> Generator[tuple[int, int], None, None]:
    """For the feature methods, train the pixel classifier and put it, with the method, into the plan's spec."""
    if method != "crf" and plan.spec.n_classes > 1:
        classifier = yield from _fit_classifier(source, plan, features, samples, cache, base, threads)
        plan.spec = replace(feature_spec(plan, method, samples), classifier=classifier)


def feature_spec(plan: Plan, method: str, samples: tuple[np.ndarray, np.ndarray] | None = None) -> RunSpec:
    """Return the plan's spec with a feature method and its carried classes, as before the classifier is fitted.

    Carried classes: those without strokes on this image that ``samples``
    from other images teach.
    """
    own = plan.counts[:, 1:].sum(axis=0) > 0
    taught = set() if samples is None else {int(k) for k in np.unique(samples[1])}
    carried = tuple(k for k in range(1, plan.spec.n_classes + 1) if not own[k - 1] and k in taught)
    return replace(plan.spec, method=method, carried=carried)


def stroke_training_samples(image: np.ndarray | ImageData, strokes: np.ndarray, *,
                            classes: ClassSet | list[str] | str | None = None, window: int | None = None,
                            overlap: int | None = None, scale: float = 1.0, reach: float = FeatureParams.reach,
                            method: str = DEFAULT_METHOD, **others: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the pixel classifier's training samples of an image's strokes: (P, F) features, (P,) classes.

    The same samples a run with these settings trains on, for another
    image's ``label_image(..., samples=...)``: the tiles are those of the
    run (their default halo follows the CRF settings of its ``method``).
    Other keywords of a run are accepted and ignored, so one settings dict
    serves both.
    """
    data = as_image_data(image)
    strokes_i = validate_strokes(strokes, data.shape)
    cls = resolve_classes(classes, int(strokes_i.max()))
    check_stroke_classes(int(strokes_i.max()), len(cls))
    strokes_i[~data.valid] = 0
    source = ArraySource(data, strokes_i)
    crf = check_crf_params({k: v for k, v in others.items() if k in CRFParams.__dataclass_fields__})
    run_params = method_crf_params(crf, method, feature_params(method, reach))
    plan = make_plan(source, len(cls), run_params, scale, window, overlap, source.stretch())
    return drain(_collect_samples(source, plan, feature_params("features", reach)))
