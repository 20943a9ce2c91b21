"""napari-crf-label: sparse strokes to dense label images with a fully connected CRF.

The core (this package's modules except the napari front end) needs no
screen: ``label_image`` turns an image and an integer stroke array into a
dense label image; ``export_all`` writes the original tool's outputs.
"""

from .classes import ClassFileError, ClassSet, read_class_files
from .crf import DEFAULT_ENGINE, ENGINES, CRFParams, CRFSizeError
from .errors import InputError, OutputExistsError
from .image_io import ImageData, ImageReadError, read_image
from .io.export import export_all
from .pipeline import LabelResult, label_image
from .strokes import StrokesError, read_strokes

__version__ = "0.1.0"

__all__ = [
    "CRFParams",
    "CRFSizeError",
    "DEFAULT_ENGINE",
    "ENGINES",
    "ClassFileError",
    "ClassSet",
    "ImageData",
    "ImageReadError",
    "InputError",
    "LabelResult",
    "OutputExistsError",
    "StrokesError",
    "export_all",
    "label_image",
    "read_class_files",
    "read_image",
    "read_strokes",
]
