"""The streamed label GeoTIFF: written window by window, staged like every other output."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import Staging, atomic_path

__all__ = ["LabelRasterWriter", "label_raster_writer", "write_class_table"]


def write_class_table(dataset: Any, classes: Any) -> None:
    """Give an open uint8 label GeoTIFF its classes: a colour table and the class names.

    GIS programs (QGIS, ArcGIS) show a paletted band in the class colours
    instead of a near-black grey ramp; the names are GDAL metadata of the
    band (``CLASS_1=water``...), kept inside the file. Value 0, no data and
    unlabelled, is transparent.
    """
    colors = {0: (0, 0, 0, 0)}
    for value, rgb in enumerate(classes.rgb_uint8(), start=1):
        colors[value] = (*(int(c) for c in rgb), 255)
    dataset.write_colormap(1, colors)
    dataset.set_band_description(1, "class")
    dataset.update_tags(1, CLASS_0="no data", **{f"CLASS_{i}": name for i, name in enumerate(classes.names, 1)})


class LabelRasterWriter:
    """Writes label windows into an open uint8 GeoTIFF (see :func:`label_raster_writer`)."""

    def __init__(self, dataset: Any) -> None:
        self._dst = dataset

    def write(self, labels: np.ndarray, row: int, col: int) -> None:
        """Write an (h, w) block of labels with its top-left pixel at (row, col)."""
        from rasterio.windows import Window

        self._dst.write(labels.astype(np.uint8), 1, window=Window(col, row, labels.shape[1], labels.shape[0]))


@contextlib.contextmanager
def label_raster_writer(path: str | Path, shape: tuple[int, int], crs: Any = None, transform: Any = None,
                        gcps: Any = None, overwrite: bool = False, staging: Staging | None = None,
                        protect: Iterable[str | Path] = (), classes: Any = None) -> Iterator[LabelRasterWriter]:
    """Yield a writer of a tiled, deflate-compressed uint8 label GeoTIFF (nodata 0) that appears only when complete.

    The file is written to a staged temporary (removed on error, Ctrl-C or
    SIGTERM under :func:`~napari_crf_label.io.atomic.terminate_as_interrupt`)
    and placed at the block's end, or at ``staging``'s commit. It carries
    the image's CRS and transform, or its ground control points (``gcps``),
    and the ``classes``' colours and names (:func:`write_class_table`).
    """
    import rasterio

    height, width = shape
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1, "dtype": "uint8",
               "crs": crs, "transform": transform, "nodata": 0, "compress": "deflate",
               "tiled": True, "blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER"}
    if gcps is not None:  # georeferenced by ground control points only: copy them
        del profile["crs"], profile["transform"]
    with atomic_path(Path(path), overwrite, staging, protect) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        if gcps is not None:
            dst.gcps = gcps
        if classes is not None:
            write_class_table(dst, classes)
        yield LabelRasterWriter(dst)
