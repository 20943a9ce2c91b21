"""napari layer data for images, strokes and results (no Qt).

Images keep their full band stack, valid mask and georeferencing in
``layer.metadata["napari_crf_label"]["image"]`` (an ImageData), while the
layer shows a displayable picture (grey, RGB, or an RGB composite of
chosen bands). Stroke and result Labels layers show class k in the class
colour (a direct colormap) and name it in the status bar (layer features).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .bands import default_bands, image_composites
from .classes import ClassSet
from .image_io import ImageData, to_crf_uint8

__all__ = ["META_KEY", "image_layer_data", "composite", "class_layer_kwargs", "strokes_layer_data",
           "image_data_from_layer", "classes_from_layer", "default_bands",
           "image_composites", "band_stack", "reread_layer_data", "foreign_geotiff", "source_path"]

#: Key of this plugin's entry in ``layer.metadata``.
META_KEY = "napari_crf_label"

LayerData = tuple[Any, dict, str]

#: Most bands a (rows, columns, bands) stack may have for the panel to take it for one image's bands.
MAX_STACK_BANDS = 32


def composite(data: ImageData, bands: tuple[int, ...] | None = None) -> np.ndarray:
    """Return the displayed picture of an image: uint8 RGB of ``bands`` (or grey for one band).

    uint8 RGB images are shown as they are; anything else is stretched per
    band as for the CRF.
    """
    n = data.array.shape[2]
    bands = default_bands(data) if bands is None else tuple(bands)
    for b in bands:
        if not 0 <= b < n:
            raise ValueError(f"band {b + 1} does not exist; the image has {n} band(s)")
    chosen = data.array[..., list(bands)]
    picture = to_crf_uint8(chosen, data.valid)
    return picture[..., 0] if len(bands) == 1 else picture


def image_layer_data(data: ImageData, name: str | None = None, bands: tuple[int, ...] | None = None) -> LayerData:
    """Return napari layer data for an image: a displayable picture, the full image in metadata."""
    bands = default_bands(data) if bands is None else tuple(bands)
    picture = composite(data, bands)
    meta = {META_KEY: {"image": data, "bands": bands}}
    kwargs: dict[str, Any] = {"rgb": picture.ndim == 3, "metadata": meta}
    if name is None and data.path is not None:
        name = data.path.stem
    if name is not None:
        kwargs["name"] = name
    return picture, kwargs, "image"


def class_layer_kwargs(classes: ClassSet) -> dict[str, Any]:
    """Return Labels layer keywords showing classes 1..N in their colours with their names."""
    import pandas as pd
    from napari.utils.colormaps import DirectLabelColormap

    colors: dict[int | None, np.ndarray] = {None: np.zeros(4), 0: np.zeros(4)}
    for k, rgba in enumerate(classes.rgba(), start=1):
        colors[k] = np.array([*rgba[:3], 1.0])
    features = pd.DataFrame({"index": np.arange(len(classes) + 1), "class": ["none", *classes.names]})
    return {"colormap": DirectLabelColormap(color_dict=colors), "features": features}


def strokes_layer_data(strokes: np.ndarray, classes: ClassSet, name: str, **extra: Any) -> LayerData:
    """Return napari layer data for a strokes Labels layer carrying its classes in metadata."""
    kwargs = {"name": name, "metadata": {META_KEY: {"classes": classes}}, "opacity": 0.9,
              **class_layer_kwargs(classes), **extra}
    return strokes, kwargs, "labels"


def image_data_from_layer(layer: Any) -> ImageData:
    """Return the ImageData behind an image layer (the full bands when our reader made it)."""
    from .image_io import as_image_data

    meta = layer.metadata.get(META_KEY, {})
    if isinstance(meta.get("image"), ImageData):
        return meta["image"]
    data = np.asarray(layer.data)
    if layer.rgb and data.shape[-1] == 4:
        image = as_image_data(data[..., :3])
        image.valid = data[..., 3] > 0
    else:
        image = as_image_data(data)
    source = getattr(layer.source, "path", None)
    image.path = Path(source) if source else None
    return image


def band_stack(layer: Any) -> bool:
    """Return True for an image layer that holds one image's bands as planes (rows, columns, bands).

    napari's own reader opens a multi-band TIFF so: a 6-band Landsat scene
    of 352 x 349 pixels showed as 352 planes of 349 x 6 pixels. The panel
    reads such data as bands (:func:`image_data_from_layer`); on screen it
    is a thin strip with a slider.
    """
    if layer.rgb or _read_here(layer):
        return False
    shape = getattr(layer.data, "shape", ())
    return len(shape) == 3 and 2 <= shape[2] <= MAX_STACK_BANDS and min(shape[:2]) > shape[2]


def foreign_geotiff(layer: Any) -> bool:
    """Return True for an image layer of a GeoTIFF that another reader opened (without its georeferencing).

    napari's own reader (what ``viewer.open(path)`` and a *Choose reader*
    answer of "napari builtins" use) reads the pixels only: the run then
    labels the no-data border and the export writes no label GeoTIFF
    (trial 29). Cheap: the file's tags are read, not its pixels.
    """
    from .image_io import tiff_pages

    source = None if _read_here(layer) else _tiff_source(layer)
    if source is None:
        return False
    try:
        return tiff_pages(source)[0]
    except Exception:  # noqa: BLE001 - not a TIFF this plugin can read: the layer stays as it is
        return False


def reread_layer_data(layer: Any) -> LayerData:
    """Return a layer's image as this plugin's reader makes it (bands kept, a composite shown).

    From the file when it is a TIFF this plugin reads (its nodata and
    georeferencing with it), else from the layer's data (a band stack).
    """
    from .image_io import read_image

    source = _tiff_source(layer)
    if source is not None:
        return image_layer_data(read_image(source), name=layer.name)
    return image_layer_data(image_data_from_layer(layer), name=layer.name)


def _read_here(layer: Any) -> bool:
    """Return True for an image layer this plugin's reader made (its ImageData is in the metadata)."""
    return META_KEY in layer.metadata and "image" in layer.metadata[META_KEY]


def _tiff_source(layer: Any) -> Path | None:
    """Return the TIFF file a layer shows, or None (another kind of file, or made in memory)."""
    source = source_path(layer)
    return Path(source) if source and Path(source).suffix.lower() in (".tif", ".tiff") else None


def source_path(layer: Any) -> str | None:
    """Return the image file a layer shows, resolved (None for layers made in memory).

    Our reader's ImageData knows it (a session's image layer has the session
    as its napari source); other readers' layers have it as their source.
    """
    meta = layer.metadata.get(META_KEY, {}).get("image")
    path = getattr(meta, "path", None) or getattr(getattr(layer, "source", None), "path", None)
    return None if path is None else str(Path(path).resolve())


def strokes_on_data(image: Any, strokes: np.ndarray) -> np.ndarray:
    """Return ``strokes`` with those on the image layer's no-data pixels cleared, as a run leaves them out.

    ``strokes`` itself when no pixel is no-data or the shapes differ.
    """
    valid = image_data_from_layer(image).valid
    if valid.shape != strokes.shape or valid.all():
        return strokes
    return np.where(valid, strokes, 0)


def classes_from_layer(layer: Any) -> ClassSet | None:
    """Return the classes a strokes layer carries, if any."""
    classes = layer.metadata.get(META_KEY, {}).get("classes")
    return classes if isinstance(classes, ClassSet) else None
