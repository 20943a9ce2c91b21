"""The real band values under the cursor in napari's status bar.

A multi-band or 16-bit image is shown as a stretched 8-bit composite, so
napari's own status would report display values. The image layer (and the
strokes layer painted over it, which is the active layer while painting)
report the file's values of every band instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .bands import band_label
from .image_io import ImageData

__all__ = ["band_values_text", "show_band_values"]


def band_values_text(data: ImageData, row: int, col: int) -> str:
    """Return ``"B1 82, B2 64, ..."`` for a pixel (``no data`` where the image has none), or '' outside."""
    height, width = data.shape
    if not (0 <= row < height and 0 <= col < width):
        return ""
    if not data.valid[row, col]:
        return "no data"
    names = data.profile.get("band_names", ())
    values = data.array[row, col]
    kind = data.array.dtype.kind
    shown = [f"{v:.4g}" if kind == "f" else str(int(v)) for v in values]
    return ", ".join(f"{band_label(b, names)} {v}" for b, v in enumerate(shown))


def _with_band_values(get_status: Callable[..., Any], layer: Any, data: Callable[[], ImageData | None]
                      ) -> Callable[..., Any]:
    """Wrap a layer's ``get_status`` so that its text ends with the image's band values at the cursor."""

    def status(position: Any = None, **kwargs: Any) -> Any:
        result = get_status(position, **kwargs)
        image = data()
        if image is None or position is None or not isinstance(result, dict):
            return result
        world = kwargs.get("world", False)
        coords = np.asarray(layer.world_to_data(position) if world else position, float)[-2:]
        text = band_values_text(image, *(int(np.floor(c + 0.5)) for c in coords))
        if text:
            result = {**result, "coordinates": f"{result.get('coordinates', '')} | {text}"}
        return result

    return status


def show_band_values(layer: Any, data: Callable[[], ImageData | None]) -> None:
    """Make ``layer``'s status-bar text end with the band values of ``data()`` under the cursor."""
    layer = getattr(layer, "__wrapped__", layer)  # the layer itself, not napari's proxy of it
    layer.get_status = _with_band_values(type(layer).get_status.__get__(layer), layer, data)
