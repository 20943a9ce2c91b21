"""The pipeline: image + sparse strokes -> dense label image.

stretch bands -> plan (tile tasks: core + halo) -> whole-scene prior ->
per task: read the window, downscale (``scale``), unary (strokes, pixel
classifier, prior), CRF, upsample, argmax, keep the core -> assemble.

Modules, each one step: :mod:`.settings` (fixed sizes and weights),
:mod:`.inputs` (checking a caller's arguments), :mod:`.plan` (tasks and
what they share), :mod:`.cache` (built CRFs kept between runs),
:mod:`.classifier` (the pixel classifier's samples and training),
:mod:`.priors` (geodesic proximity, coarse CRF), :mod:`.tile` (one task),
:mod:`.execute` (serial, threads or dask), :mod:`.images` (arrays in memory),
:mod:`.rasters` (rasters streamed window by window), :mod:`.preview` (a quick
whole-scene preview at a smaller scale), :mod:`.prepare` (what a run needs
before any stroke, built ahead while the user paints), :mod:`.results`.
"""

from .cache import CRFCache
from .classifier import stroke_training_samples
from .images import iter_label_image, label_image
from .preview import LIVE_MAX_PIXELS, PREVIEW_PIXELS, iter_preview, preview_params
from .rasters import iter_label_raster, label_raster
from .results import LabelResult, RasterResult
from .settings import COARSE_PIXELS, DEFAULT_HALO, DEFAULT_METHOD, DEFAULT_WINDOW, METHODS

__all__ = ["LabelResult", "RasterResult", "CRFCache", "label_image", "iter_label_image", "label_raster",
           "iter_label_raster", "DEFAULT_WINDOW", "DEFAULT_HALO", "COARSE_PIXELS", "DEFAULT_METHOD", "METHODS",
           "stroke_training_samples", "iter_preview", "preview_params", "PREVIEW_PIXELS", "LIVE_MAX_PIXELS"]
