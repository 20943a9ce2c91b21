"""The bundled example: a small Landsat GeoTIFF with example strokes, classes and a ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

__all__ = ["SampleFiles", "sample_files"]


@dataclass(frozen=True)
class SampleFiles:
    """Paths of the bundled sample's image, strokes, labels and colors files, and its ground truth."""

    image: Path
    strokes: Path
    labels: Path
    colors: Path
    truth: Path  # painted for this project (data/README.md); 0 = no data, else the class


def sample_files() -> SampleFiles:
    """Return the paths of the bundled sample (see ``data/README.md`` for provenance)."""
    root = Path(str(files("napari_crf_label") / "data"))
    return SampleFiles(
        image=root / "bahamas_landsat.tif",
        strokes=root / "bahamas_landsat_strokes.png",
        labels=root / "bahamas_labels.txt",
        colors=root / "bahamas_colors.txt",
        truth=root / "bahamas_landsat_truth.png",
    )
