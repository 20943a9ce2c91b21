"""Build the ground truth of the bundled Landsat sample (how it was made; run once, result committed).

Usage (from benchmarks/quality/): python sample_truth.py OUT.png [--preview DIR]

The sample has no published labels, so its truth was painted here with
the tool itself plus rules checked by eye on the preview PNGs:

1. Cloud: every pixel whose darkest band exceeds ``CLOUD_MIN`` (120 of
   255). Clouds are the only white things in this scene (the thin cloud
   edges below that value and the shadows are left to the classes under
   them). This step does not use the tool.
2. The rest: the tool (``features+crf``, reach 10000 so that no class is
   lost far from its strokes) with the sample's own strokes plus denser
   strokes painted here (``EXTRA``, polylines in pixel coordinates, 3 px
   brush), none of them on cloud. Where it says cloud but step 1 does not,
   the most likely other class.
3. Corrections per region: specks of a class under ``SPECK`` pixels take
   the class around them, and the regions listed in ``CORRECTIONS`` (found
   on the preview: cloud shadows the tool called deep water) get the class
   under the shadow; in the boxes of ``BOX_CORRECTIONS`` one class
   becomes another (thin cloud the tool called land).

Writes a uint8 PNG (0 no data, 1 deep_water, 2 shallow_water, 3 land,
4 cloud) and, with ``--preview``, the image, the truth and their overlay
at 2x for checking.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageDraw
from scipy import ndimage

from napari_crf_label import label_image
from napari_crf_label.sample import sample_files

CLOUD_MIN = 120
SPECK = 40
COLOURS = np.array([[0, 0, 0], [0, 0, 128], [0, 200, 200], [0, 160, 0], [255, 255, 255]], np.uint8)
#: (x, y) inside a wrong region, the class it gets, and why (checked on the preview PNGs).
CORRECTIONS = [
    ((160, 110), 3, "shadow of the big cloud on the island, west of it"),
    ((75, 75), 2, "shadow of the north-west cloud on the shallow bank"),
    ((400, 151), 2, "shadows of cloud flecks on the eastern bank"),
]
#: (x0, y0, x1, y1), the class found there, the class it gets, and why.
BOX_CORRECTIONS = [
    ((245, 0, 330, 115), 3, 4, "thin cloud over the channel north of the big cloud (no land there), called land"),
]
#: Class -> polylines of (x, y) points, painted on top of the sample's own strokes.
EXTRA = {
    1: [[(320, 170), (320, 390)], [(370, 170), (380, 480)], [(345, 420), (350, 505)], [(230, 20), (270, 40)]],
    2: [[(10, 20), (40, 200)], [(20, 300), (60, 420)], [(120, 470), (180, 500)], [(160, 360), (190, 370)],
        [(380, 130), (500, 130)], [(420, 170), (500, 190)], [(470, 440), (505, 480)]],
    3: [[(140, 160), (150, 200)], [(230, 200), (250, 260)], [(100, 260), (130, 280)], [(250, 420), (280, 480)],
        [(360, 95), (400, 100)], [(160, 40), (180, 80)]],
}


def extra_strokes(shape: tuple[int, int]) -> np.ndarray:
    """Return the EXTRA polylines drawn with a 3 px brush (0 = none)."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    for k, lines in EXTRA.items():
        for line in lines:
            draw.line(line, fill=k, width=3)
    return np.array(canvas).astype(np.int32)


def absorb_specks(labels: np.ndarray, k: int, size: int) -> None:
    """Give class-k components smaller than ``size`` pixels the most common class on their border (in place)."""
    comps, n = ndimage.label(labels == k)
    sizes = np.bincount(comps.ravel())
    for i in np.flatnonzero(sizes < size):
        if i == 0:
            continue
        region = comps == i
        ring = ndimage.binary_dilation(region) & ~region & (labels > 0)
        if ring.any():
            labels[region] = np.bincount(labels[ring], minlength=5).argmax()


def tool_as_built(image: np.ndarray, strokes: np.ndarray):
    """Run ``features+crf`` (reach 10000) with its settings of when the truth was made (before issue 16's change).

    The committed truth came from the method as it was then (full
    proximity, no area balance, sxy_bilateral 60); pinning those settings
    keeps this script reproducing it byte for byte, and keeps the truth
    apart from the method it now scores.
    """
    from napari_crf_label.pipeline import images

    settings = images.feature_params

    def before(method: str, reach: float, proximity: str = "auto"):
        return dataclasses.replace(settings(method, reach, proximity), confidence_power=0.0, area_balance=0.0,
                                   bilateral_share=1.0)

    images.feature_params = before
    try:
        return label_image(image, strokes, classes=["deep_water", "shallow_water", "land", "cloud"], reach=10000)
    finally:
        images.feature_params = settings


def build_truth() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (image, strokes used, truth) of the bundled sample."""
    files = sample_files()
    image = tifffile.imread(files.image)
    own = np.array(Image.open(files.strokes)).astype(np.int32)
    nodata = (image == 0).all(axis=-1)
    cloud = (image.min(axis=-1) > CLOUD_MIN) & ~nodata
    extra = extra_strokes(own.shape)
    strokes = np.where(own > 0, own, extra)
    strokes[cloud & (strokes != 4)] = 0
    result = tool_as_built(image, strokes)
    labels = result.labels.astype(np.int32)
    other = result.probabilities[:3].argmax(axis=0) + 1  # the most likely class other than cloud
    labels = np.where(labels == 4, other, labels)
    for k in (1, 2, 3):
        absorb_specks(labels, k, SPECK)
    for (x, y), k, _why in CORRECTIONS:
        comps, _ = ndimage.label(labels == labels[y, x])
        labels[comps == comps[y, x]] = k
    for (x0, y0, x1, y1), was, k, _why in BOX_CORRECTIONS:
        box = labels[y0:y1, x0:x1]
        box[box == was] = k
    labels[cloud] = 4
    labels[nodata] = 0
    return image, strokes, labels.astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--preview", type=Path)
    args = parser.parse_args()
    image, strokes, truth = build_truth()
    Image.fromarray(truth).save(args.out)
    if args.preview:
        args.preview.mkdir(parents=True, exist_ok=True)
        big = (2 * truth.shape[1], 2 * truth.shape[0])
        Image.fromarray(COLOURS[truth]).resize(big, Image.NEAREST).save(args.preview / "truth.png")
        painted = image.copy()
        painted[strokes > 0] = COLOURS[strokes[strokes > 0]]
        Image.fromarray(painted).resize(big, Image.NEAREST).save(args.preview / "strokes.png")
        blend = (0.5 * image + 0.5 * COLOURS[truth]).astype(np.uint8)
        Image.fromarray(blend).resize(big, Image.NEAREST).save(args.preview / "overlay.png")
    print(f"wrote {args.out}: " + ", ".join(f"{k} {int((truth == k).sum())}" for k in range(5)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
