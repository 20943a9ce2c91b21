"""A quick whole-scene preview of a run: the same method on a smaller grid.

After a stroke edit the panel shows a preview (about :data:`PREVIEW_PIXELS`
CRF pixels, in a fraction of a second) before the full-resolution result.
The preview runs the same pipeline on the image shrunk to that size (what a
run at a smaller ``scale`` sees), as one tile, with a cache of its own; its
labels stay at that size (upsampling them to a 4 MP image took longer than
the rest of the preview), and the panel lays them over the image.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from ..image_io import ImageData, as_image_data
from ..sources import ArraySource
from .cache import CRFCache
from .images import iter_label_image
from .inputs import nodata_strokes_message, resolve_classes
from .plan import crf_size
from .prepare import iter_prepare
from .results import LabelResult

__all__ = ["PREVIEW_PIXELS", "PREVIEW_TREES", "LIVE_MAX_PIXELS", "preview_params", "shrink", "iter_preview",
           "iter_prepare_preview"]

#: CRF pixels of a preview (512 x 512 for a square scene): about 0.5 s with the default method.
PREVIEW_PIXELS = 250_000
#: Trees of the preview's forest: on a user's thick strokes 50 took 0.5 of the preview's 0.65 s
#: (``benchmarks/RESULTS.md``, stop 20); the full result that replaces it keeps the run's own.
PREVIEW_TREES = 20
#: Largest image (full-resolution pixels) whose preview keeps within about a second: reading,
#: shrinking and upsampling the whole scene grow with it. Larger images have no live preview.
LIVE_MAX_PIXELS = 16_000_000


def preview_params(shape: tuple[int, int], params: dict[str, Any]) -> dict[str, Any] | None:
    """Return the run keywords of the preview of a run on an image of ``shape`` (None: no preview needed).

    The run's own keywords with the scale that brings the scene to about
    :data:`PREVIEW_PIXELS` CRF pixels, the default tiling (one tile) and a
    forest of at most :data:`PREVIEW_TREES` trees.
    None when the run itself is at most twice that size: it is its own preview.
    """
    scale = float(params.get("scale", 1.0))
    pixels = shape[0] * shape[1] * scale**2
    if pixels <= 2 * PREVIEW_PIXELS:
        return None
    trees = min(PREVIEW_TREES, params.get("trees") or PREVIEW_TREES)
    return {**params, "scale": scale * (PREVIEW_PIXELS / pixels) ** 0.5, "window": None, "overlap": None,
            "trees": trees}


def shrink(data: ImageData, strokes: np.ndarray, scale: float) -> tuple[ImageData, np.ndarray]:
    """Return the image (stretched to uint8) and strokes on the grid of a run at ``scale``.

    The scene's overview as the whole-scene priors take it
    (:meth:`~napari_crf_label.sources.ArraySource.overview`: every stroke
    kept, none on no-data), and no-data where the nearest full-resolution
    pixel has none.
    """
    shape = crf_size(data.shape, scale)
    source = ArraySource(data, strokes)
    image, strokes_s = source.overview(shape, source.stretch())
    rows = ((np.arange(shape[0]) + 0.5) * data.shape[0] / shape[0]).astype(np.intp)
    cols = ((np.arange(shape[1]) + 0.5) * data.shape[1] / shape[1]).astype(np.intp)
    return ImageData(array=image, valid=data.valid[rows][:, cols]), strokes_s


def iter_preview(data: np.ndarray | ImageData, strokes: np.ndarray, params: dict[str, Any],
                 cache: CRFCache | None = None, **kwargs: Any) -> Generator[tuple[int, int], None, LabelResult | None]:
    """Run the preview of a run with keywords ``params`` (None when the run needs none).

    The result's labels and probabilities are on the preview's grid
    (``result.params["preview_scale"]`` of the image's size). ``cache``
    (kept between previews, apart from the full runs' cache) keeps the
    preview's CRF, features, classifier and proximity; other keywords go
    to :func:`~napari_crf_label.pipeline.iter_label_image`.
    """
    data = as_image_data(data)
    small = preview_params(data.shape, params)
    if small is None:
        return None
    strokes = np.asarray(strokes)
    # the full run's message: the shrinking below leaves strokes on no-data out silently
    dropped = None if data.valid.all() else nodata_strokes_message(
        strokes, data, resolve_classes(kwargs.get("classes"), int(strokes.max(initial=0))))
    image, strokes_s = shrink(data, strokes, small["scale"])
    result = yield from iter_label_image(image, strokes_s, cache=cache, **{**small, "scale": 1.0}, **kwargs)
    result.params.update(preview=True, preview_scale=small["scale"])
    if dropped:
        result.params["dropped_strokes"] = dropped
    return result


def iter_prepare_preview(data: np.ndarray | ImageData, n_classes: int, params: dict[str, Any], cache: CRFCache
                         ) -> Generator[tuple[int, int], None, bool]:
    """Build the preview's CRF and features of a run with keywords ``params`` into its ``cache`` ahead.

    :func:`~napari_crf_label.pipeline.prepare.iter_prepare` for the grid
    :func:`iter_preview` works on; False when the run needs no preview.
    """
    data = as_image_data(data)
    small = preview_params(data.shape, params)
    if small is None:
        return False
    image, _ = shrink(data, np.zeros(data.shape, np.uint8), small["scale"])
    return (yield from iter_prepare(image, n_classes, cache, **{**small, "scale": 1.0}))
