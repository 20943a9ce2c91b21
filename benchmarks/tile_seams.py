"""Label changes across tile borders: a tiled run against one tile, with the prior's class shares per tile or per scene.

Usage: python benchmarks/tile_seams.py

The 4.2 MP photo of ``panel_speed.py`` (``orthomosaic.jpg`` from ../shared)
with the strokes a new user painted in this project's trial of 2026-11-27
(three classes, eleven strokes, brush 18 and 12 pixels on an 800-pixel
view of the 2048-pixel photo), default method. Prints, per run, how many
neighbouring pixel pairs differ across the tile borders (column and row
1023/1024) and the share of pixels that agree with a one-tile run
(``window=2048``). "each tile's shares" replaces the scene's class shares
by each tile's own (the code before stop 19).
"""

from __future__ import annotations

import numpy as np
from skimage.draw import disk, line

from _shared import SHARED as SHARED_DIR
from napari_crf_label import label_image, read_image
from napari_crf_label.pipeline import priors

PHOTO = SHARED_DIR / "data" / "images" / "orthomosaic.jpg"
VIEW = 2048 / 800  # the trial painted on an 800-pixel wide view
STROKES = {  # class: (brush, [(y0, x0), (y1, x1)] per stroke, in view pixels)
    1: (18, [[(420, 500), (470, 700)], [(450, 330), (520, 300)], [(110, 175), (120, 205)], [(180, 140), (215, 160)]]),
    2: (18, [[(100, 450), (200, 500)], [(600, 600), (650, 700)], [(300, 100), (350, 200)], [(60, 300), (30, 400)]]),
    3: (12, [[(355, 420), (350, 470)], [(490, 400), (470, 470)], [(330, 640), (320, 660)]]),
}


def trial_strokes(shape: tuple[int, int], brush_scale: float = 1.0) -> np.ndarray:
    """Return the trial's strokes on the full-resolution photo (0 = unpainted), brushes ``brush_scale`` times wider."""
    out = np.zeros(shape, np.uint8)
    for k, (brush, strokes) in STROKES.items():
        for (y0, x0), (y1, x1) in strokes:
            for y, x in zip(*line(round(y0 * VIEW), round(x0 * VIEW), round(y1 * VIEW), round(x1 * VIEW))):
                out[disk((y, x), brush * brush_scale / 2, shape=shape)] = k
    return out


def border_changes(labels: np.ndarray, border: int, axis: int) -> int:
    """Return how many pixel pairs across ``border`` (a column for axis 1, a row for axis 0) differ."""
    a, b = np.take(labels, border - 1, axis=axis), np.take(labels, border, axis=axis)
    return int((a != b).sum())


def main() -> None:
    image = read_image(PHOTO)
    strokes = trial_strokes(image.shape)
    classes = ["water", "marsh", "green_veg"]
    one = label_image(image, strokes, classes=classes, window=2048).labels
    runs = {"one tile": one, "4 tiles, the scene's shares": label_image(image, strokes, classes=classes).labels}
    scene_shares = priors.scene_shares
    priors.scene_shares = lambda *args, **kwargs: None
    try:
        runs["4 tiles, each tile's shares"] = label_image(image, strokes, classes=classes).labels
    finally:
        priors.scene_shares = scene_shares
    print(f"{'run':<30} {'column 1023/1024':>17} {'row 1023/1024':>14} {'agree with one tile':>20}")
    for name, labels in runs.items():
        print(f"{name:<30} {border_changes(labels, 1024, 1):>17} {border_changes(labels, 1024, 0):>14} "
              f"{(labels == one).mean() * 100:>19.2f}%")


if __name__ == "__main__":
    main()
