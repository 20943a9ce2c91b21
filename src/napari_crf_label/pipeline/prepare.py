"""The part of a run that needs no strokes, done ahead: while the user paints, the panel fills its cache.

A run's tiles need their built CRFs (the lattices: about half of a first
run's CPU at full resolution) and the pixel classifier's features; both
depend on the pixels and the settings, never on the strokes. Built into the
cache a run will use, under the keys that run looks up, they make the first
*Run CRF* as quick as a re-run after an edit, and give the same labels as
a run that built them itself.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from ..crf import DEFAULT_ENGINE
from ..features import FeatureParams
from ..image_io import ImageData, as_image_data
from ..sources import ArraySource
from .cache import CRFCache, cached_crf
from .classifier import scene_extent, tile_features
from .images import cache_fits, run_base
from .inputs import check_crf_params, check_geometry, feature_params, method_crf_params
from .plan import make_plan, read_tile
from .settings import DEFAULT_METHOD

__all__ = ["iter_prepare"]


def iter_prepare(image: np.ndarray | ImageData, n_classes: int, cache: CRFCache, *, window: int | None = None,
                 overlap: int | None = None, scale: float = 1.0, method: str = DEFAULT_METHOD,
                 reach: float = FeatureParams.reach, proximity: str = "auto", engine: str = DEFAULT_ENGINE,
                 **crf_params: Any) -> Generator[tuple[int, int], None, bool]:
    """Build each tile's CRF and classifier features for a run of these settings into ``cache``.

    Takes the keywords of :func:`~napari_crf_label.pipeline.label_image`
    (``classes``, ``workers``, ``threads``, ``client``, ``samples`` and
    ``trees`` do not change what is built and are ignored) and yields ``(tiles done, total)``.
    Returns False, building nothing, when the cache could not keep every
    tile (a run then builds as it goes, keeping nothing), else True. Bad
    settings raise InputError, as the run itself would.
    """
    for ignored in ("classes", "workers", "threads", "client", "samples", "trees"):
        crf_params.pop(ignored, None)
    data = as_image_data(image)
    params = check_crf_params(crf_params)
    check_geometry(scale, window, overlap, data.shape)
    features = feature_params(method, reach, proximity)
    source = ArraySource(data, np.zeros(data.shape, np.uint8))
    plan = make_plan(source, n_classes, method_crf_params(params, method, features), scale, window, overlap,
                     source.stretch(), engine=engine)
    if n_classes < 2 or not cache_fits(plan):
        return False
    base = run_base(plan, data.shape)
    total = len(plan.tasks)
    for i, task in enumerate(plan.tasks):
        yield i, total
        _, _, image_c = read_tile(source, task, plan.spec)
        if method != "crf":
            tile_features(features, image_c, scene_extent(task.outer, source.shape), cache, base, i)
        if method != "features":
            cached_crf(cache, base, i, image_c, plan.spec)
    yield total, total
    return True
