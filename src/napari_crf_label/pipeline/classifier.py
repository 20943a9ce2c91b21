"""The pixel classifier of the feature methods: its samples, its training and its probabilities."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

import numpy as np

from ..classes import ClassSet
from ..crf import CRFParams, drain
from ..errors import InputError
from ..features import FeatureParams
from ..image_io import ImageData, as_image_data
from ..resample import resample_linear, resize_bands
from ..sources import ArraySource
from ..strokes import check_stroke_classes, downscale_strokes, validate_strokes
from ..tiling import Tile
from .inputs import feature_params, resolve_classes
from .plan import Plan, RunSpec, crf_size, make_plan, read_tile
from .settings import CARRIED_WEIGHT, CLASSIFIER_PIXELS


def _classifier_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """Return the grid the pixel classifier works on for a CRF-resolution tile (at most CLASSIFIER_PIXELS)."""
    return crf_size(shape, min(1.0, (CLASSIFIER_PIXELS / (shape[0] * shape[1])) ** 0.5))


def scene_extent(window: Tile, scene: tuple[int, int]) -> tuple[float, float, float, float]:
    """Return where a window lies in the scene: (top, bottom, left, right) as fractions."""
    return window.y0 / scene[0], window.y1 / scene[0], window.x0 / scene[1], window.x1 / scene[1]


def classifier_probabilities(spec: RunSpec, image_c: np.ndarray, extent: tuple[float, float, float, float]
                              ) -> np.ndarray:
    """Return the pixel classifier's (N, h, w) probabilities for a CRF-resolution tile.

    Large tiles are classified on a coarser grid and the probabilities
    resampled back: features and prediction cost grow with the pixels.
    """
    from ..features import pixel_features

    features = pixel_features(_classifier_image(image_c), spec.classifier.params.sigmas, extent)
    p = spec.classifier.predict_proba(features)
    return p if p.shape[1:] == image_c.shape[:2] else resample_linear(p, image_c.shape[:2]).astype(np.float32)


def _classifier_image(image_c: np.ndarray) -> np.ndarray:
    """Return a CRF-resolution tile on the classifier's grid (training and prediction alike)."""
    return resize_bands(image_c, _classifier_shape(image_c.shape[:2]))


def _collect_samples(source: Any, plan: Plan, params: FeatureParams
                     ) -> Generator[tuple[int, int], None, tuple[np.ndarray, np.ndarray]]:
    """Return the classifier's training samples of every tile core's strokes (at CRF resolution).

    Each tile gives at most ``max_samples_per_class`` pixels per class, and
    only their features are computed (the cap bounds memory on heavily
    painted scenes; ``fit`` caps the union again).
    """
    from ..features import pixel_features_at, stroke_samples

    spec = plan.spec
    xs, ys = [], []
    for i, task in enumerate(plan.tasks):
        if not plan.counts[i, 1:].any():
            continue
        _, strokes, image_c = read_tile(source, task, spec)
        rows, cols = task.core_in_outer
        core_only = np.zeros_like(strokes)
        core_only[rows, cols] = strokes[rows, cols]  # each stroke pixel trains once
        image_k = _classifier_image(image_c)
        r, c, labels = stroke_samples(downscale_strokes(core_only, image_k.shape[:2]), params.max_samples_per_class,
                                      params.seed)
        if labels.size:
            xs.append(pixel_features_at(image_k, r, c, params.sigmas, scene_extent(task.outer, source.shape)))
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


def _fit_classifier(source: Any, plan: Plan, params: FeatureParams,
                    samples: tuple[np.ndarray, np.ndarray] | None = None) -> Generator[tuple[int, int], None, Any]:
    """Train the pixel classifier on this image's stroke samples and any carried from other images."""
    from ..features import PixelClassifier

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


def attach_classifier(source: Any, plan: Plan, method: str, features: FeatureParams,
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
    cls = resolve_classes(classes, int(strokes_i.max()))
    check_stroke_classes(int(strokes_i.max()), len(cls))
    strokes_i[~data.valid] = 0
    source = ArraySource(data, strokes_i)
    plan = make_plan(source, len(cls), CRFParams(), scale, window, overlap, source.stretch())
    return drain(_collect_samples(source, plan, feature_params("features", reach)))
