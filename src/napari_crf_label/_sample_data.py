"""napari sample data: the bundled Landsat scene with its example strokes and classes."""

from __future__ import annotations

from ._layers import LayerData, image_layer_data, strokes_layer_data
from .classes import read_class_files
from .image_io import read_image
from .sample import sample_files
from .strokes import read_strokes

__all__ = ["make_sample_data"]


def make_sample_data() -> list[LayerData]:
    """Return the sample image layer and its strokes layer (4 classes, class colours)."""
    files = sample_files()
    image = read_image(files.image)
    classes = read_class_files(files.labels, files.colors)
    strokes = read_strokes(files.strokes).astype("uint8")
    name = files.image.stem
    return [image_layer_data(image, name=name),
            strokes_layer_data(strokes, classes, f"{name} strokes")]
