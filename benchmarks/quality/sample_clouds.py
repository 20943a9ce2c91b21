"""What the bundled sample's small clouds over land come out as, per method, setting and cloud size.

Usage (from benchmarks/quality/): python sample_clouds.py

The small clouds are those of ``tests/test_sample_truth.py`` (cloud regions
of at most 2000 px that land surrounds). For each run: the share of their
pixels labelled cloud, the share per cloud size, and the mean IoU of the
whole sample against its painted truth. Rows: the default as the demo runs
it; the classifier alone; the CRF alone; the default with ``reach=10000``;
the default with the sample's strokes minus the non-cloud stroke pixels
that are cloud-bright; and the default with one more cloud stroke across
the largest small cloud (scored on the other small clouds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from napari_crf_label import label_image
from napari_crf_label.image_io import read_image
from napari_crf_label.metrics import mean_iou
from napari_crf_label.sample import sample_files

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from test_sample_truth import CLOUD, clouds_over_land  # noqa: E402 - the test's own definition

SIZES = ((1, 5), (5, 20), (20, 100), (100, 2001))


def report(name: str, labels: np.ndarray, truth: np.ndarray, small: np.ndarray, sizes: np.ndarray) -> None:
    """Print one row: cloud share of the small clouds, overall and per size, and the sample's mean IoU."""
    per_size = []
    for lo, hi in SIZES:
        part = small & (sizes >= lo) & (sizes < hi)
        per_size.append(f"{100 * (labels[part] == CLOUD).mean():5.0f}")
    score = 100 * mean_iou(labels, truth, [1, 2, 3, 4], truth == 0)
    print(f"{name:<46} {100 * (labels[small] == CLOUD).mean():6.0f} {' '.join(per_size)} {score:9.1f}")


def main() -> None:
    files = sample_files()
    data = read_image(files.image)
    strokes = np.array(Image.open(files.strokes)).astype(np.int32)
    truth = np.array(Image.open(files.truth))
    names = Path(files.labels).read_text().split()
    small = clouds_over_land(truth)
    comps, _ = ndimage.label(small)
    counts = np.bincount(comps.ravel())
    counts[0] = 0
    sizes = counts[comps]
    print(f"{int(small.sum())} px in {int((counts > 0).sum())} small clouds over land; px per size "
          + ", ".join(f"{lo}-{hi - 1}: {int((small & (sizes >= lo) & (sizes < hi)).sum())}" for lo, hi in SIZES))
    print(f"{'run':<46} {'cloud %':>6} " + " ".join(f"{f'{lo}-{hi - 1}':>5}" for lo, hi in SIZES)
          + f" {'mean IoU':>9}")
    runs = [("default (the demo)", strokes, {}), ("classifier alone (features)", strokes, {"method": "features"}),
            ("CRF alone (crf)", strokes, {"method": "crf"}), ("default, reach 10000", strokes, {"reach": 10000})]
    bright = data.array.min(axis=-1) > 120  # the truth's cloud rule
    runs.append(("default, cloud-bright non-cloud strokes removed", np.where(bright & (strokes != CLOUD), 0,
                                                                              strokes), {}))
    for name, marks, kwargs in runs:
        report(name, label_image(data, marks, classes=names, **kwargs).labels, truth, small, sizes)
    largest = comps == np.argmax(counts)
    ys, xs = np.nonzero(largest)
    row = int(np.median(ys))
    painted = strokes.copy()
    painted[row, xs[ys == row].min():xs[ys == row].max() + 1] = CLOUD
    labels = label_image(data, painted, classes=names).labels
    report("default, a cloud stroke across the largest one*", labels, truth, small & ~largest, sizes)
    print("* scored on the other small clouds")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
