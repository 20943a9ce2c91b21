"""napari writers: a dense label (PNG, or GeoTIFF with georeferencing) and a session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._layers import META_KEY
from .classes import ClassSet
from .io.export import write_label_png
from .io.session import SESSION_SUFFIX, Session, save_session

__all__ = ["write_labels", "write_session"]


def _meta(attributes: dict) -> dict:
    """Return this plugin's metadata entry of a layer's attributes."""
    return attributes.get("metadata", {}).get(META_KEY, {})


def write_labels(path: str, data: Any, attributes: dict) -> list[str]:
    """Write a Labels layer as a greyscale class-index PNG, or a (Geo)TIFF.

    A TIFF gets the CRS and transform of the image the labels were made
    from (kept in the layer's metadata), uint8, nodata 0, and the classes'
    colour table and names when the layer knows its classes. napari's save
    dialog has already confirmed overwriting.
    """
    out = Path(path)
    labels = np.asarray(data)
    if labels.max(initial=0) > 255 or labels.min(initial=0) < 0:
        raise ValueError("labels must be 0..255 to be written as an 8-bit label image")
    if out.suffix.lower() in (".tif", ".tiff"):
        from .io.export import write_label_geotiff

        meta = _meta(attributes)
        image = meta.get("image")
        crs = getattr(image, "crs", None)
        transform = getattr(image, "transform", None)
        classes = meta.get("classes")
        if not isinstance(classes, ClassSet) or labels.max(initial=0) > len(classes):
            classes = None  # a table that names fewer classes than the layer holds would mislabel the rest
        write_label_geotiff(out, labels, crs, transform, overwrite=True, gcps=getattr(image, "gcps", None),
                            classes=classes)
    else:
        write_label_png(out, labels, overwrite=True)
    return [str(out)]


def write_session(path: str, data: Any, attributes: dict) -> list[str]:
    """Write a strokes Labels layer, its classes and parameters as a ``*_session.npz``."""
    out = Path(path)
    if not out.name.endswith(SESSION_SUFFIX):
        out = out.with_name(out.name.removesuffix(".npz") + SESSION_SUFFIX)
    meta = _meta(attributes)
    strokes = np.asarray(data)
    classes = meta.get("classes")
    if not isinstance(classes, ClassSet):
        classes = ClassSet.from_names([f"class{k}" for k in range(1, max(int(strokes.max(initial=0)), 2) + 1)])
    image = meta.get("image_path", "")
    save_session(out, Session(strokes=strokes, classes=classes, params=meta.get("params", {}), image_path=image))
    return [str(out)]
