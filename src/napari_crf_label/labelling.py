"""The labelling API under its first name (kept for scripts that import it from here).

The pipeline itself lives in :mod:`napari_crf_label.pipeline`, one module per step.
"""

from .pipeline import (
                       COARSE_PIXELS,
                       DEFAULT_HALO,
                       DEFAULT_METHOD,
                       DEFAULT_WINDOW,
                       METHODS,
                       CRFCache,
                       LabelResult,
                       RasterResult,
                       iter_label_image,
                       iter_label_raster,
                       label_image,
                       label_raster,
                       stroke_training_samples,
)

__all__ = ["LabelResult", "RasterResult", "CRFCache", "label_image", "iter_label_image", "label_raster",
           "iter_label_raster", "DEFAULT_WINDOW", "DEFAULT_HALO", "COARSE_PIXELS", "DEFAULT_METHOD", "METHODS",
           "stroke_training_samples"]
