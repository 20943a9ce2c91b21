"""Old import path of :mod:`napari_crf_label.io.export` (the exports now live under ``io/``)."""

from .io.atomic import Staging, atomic_path
from .io.export import (
    FIGURE_MAX_SIDE,
    OutputExistsError,
    check_export,
    display_rgb,
    export_all,
    output_paths,
    raster_report_text,
    report_text,
    write_figure,
    write_label_geotiff,
    write_label_png,
    write_mat,
    write_report,
)

__all__ = ["FIGURE_MAX_SIDE", "OutputExistsError", "Staging", "atomic_path", "check_export", "display_rgb",
           "export_all", "output_paths", "raster_report_text", "report_text", "write_figure", "write_label_geotiff",
           "write_label_png", "write_mat", "write_report"]
