"""napari reader: (Geo)TIFFs with bands, bit depth and georeferencing, and saved sessions."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from ._layers import LayerData, image_layer_data, strokes_layer_data
from .image_io import read_image
from .io.session import SESSION_SUFFIX, load_session

__all__ = ["get_reader", "read_tiff", "read_session"]


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """Return a reader for a TIFF or a ``*_session.npz`` file, else None (napari tries others)."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    name = Path(path).name.lower()
    if name.endswith(SESSION_SUFFIX):
        return read_session
    if name.endswith((".tif", ".tiff")):
        return read_tiff
    return None


def _one(path: str | list[str]) -> Path:
    """Return the single path napari passed."""
    return Path(path[0] if isinstance(path, list) else path)


def read_tiff(path: str | list[str]) -> list[LayerData]:
    """Read a (Geo)TIFF as an image layer; all bands, nodata and georeferencing in metadata."""
    return [image_layer_data(read_image(_one(path)))]


def read_session(path: str | list[str]) -> list[LayerData]:
    """Read a saved session: its image (when still found) and its strokes layer in class colours."""
    session = load_session(_one(path))
    layers: list[LayerData] = []
    image_path = Path(session.image_path) if session.image_path else None
    if image_path is not None and image_path.is_file():
        layers.append(image_layer_data(read_image(image_path)))
        name = f"{image_path.stem} strokes"
    else:
        if image_path is not None:  # napari shows this as a notification
            warnings.warn(f"{_one(path).name}: its image {image_path} was not found; only the strokes were "
                          "loaded (open the image, or keep it where the session says)", stacklevel=2)
        name = f"{_one(path).name.removesuffix(SESSION_SUFFIX)} strokes"
    layers.append(strokes_layer_data(session.strokes, session.classes, name))
    layers[-1][1]["metadata"]["napari_crf_label"]["params"] = session.params
    return layers
