"""A quick whole-scene preview of a run: the same method on a smaller grid.

After a stroke edit the panel shows a preview (about :data:`PREVIEW_PIXELS`
CRF pixels, in a fraction of a second) before the full-resolution result.
The preview runs the same pipeline at a smaller ``scale``, as one tile, with
a cache of its own; its labels are upsampled to the image's size, so they
sit on the image like a full result, only coarser.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from ..image_io import ImageData
from .cache import CRFCache
from .images import iter_label_image
from .results import LabelResult

__all__ = ["PREVIEW_PIXELS", "LIVE_MAX_PIXELS", "preview_params", "iter_preview"]

#: CRF pixels of a preview (512 x 512 for a square scene): about 0.5 s with the default method.
PREVIEW_PIXELS = 250_000
#: Largest image (full-resolution pixels) whose preview keeps within about a second: reading,
#: shrinking and upsampling the whole scene grow with it. Larger images have no live preview.
LIVE_MAX_PIXELS = 16_000_000


def preview_params(shape: tuple[int, int], params: dict[str, Any]) -> dict[str, Any] | None:
    """Return the run keywords of the preview of a run on an image of ``shape`` (None: no preview needed).

    The run's own keywords with the scale that brings the scene to about
    :data:`PREVIEW_PIXELS` CRF pixels and the default tiling (one tile).
    None when the run itself is at most twice that size: it is its own preview.
    """
    scale = float(params.get("scale", 1.0))
    pixels = shape[0] * shape[1] * scale**2
    if pixels <= 2 * PREVIEW_PIXELS:
        return None
    return {**params, "scale": scale * (PREVIEW_PIXELS / pixels) ** 0.5, "window": None, "overlap": None}


def iter_preview(data: ImageData, strokes: np.ndarray, params: dict[str, Any], cache: CRFCache | None = None,
                 **kwargs: Any) -> Generator[tuple[int, int], None, LabelResult | None]:
    """Run the preview of a run with keywords ``params`` (None when the run needs none).

    ``cache`` (kept between previews, apart from the full runs' cache)
    keeps the preview's CRF, features, classifier and proximity; other
    keywords go to :func:`~napari_crf_label.pipeline.iter_label_image`.
    """
    small = preview_params(data.shape, params)
    if small is None:
        return None
    result = yield from iter_label_image(data, strokes, cache=cache, **small, **kwargs)
    result.params["preview"] = True
    return result
