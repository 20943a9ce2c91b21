"""Mean IoU of ``label_image`` on GrabCut with the real human strokes.

Usage: python benchmarks/grabcut_quality.py [SHARED_DATA] [--strokes strokes_sparse|strokes_dense]
                                           [--method features+crf|crf|features]

Metric: two classes (foreground, background); the uncertain boundary band
(mask value 128) and the stroke pixels themselves are excluded. Prints one
line per image, the mean over all images and over the two halves (even /
odd index in sorted order: defaults were chosen on the even half).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _shared import SHARED as SHARED_DIR
from napari_crf_label import label_image
from napari_crf_label.metrics import mean_iou
from napari_crf_label.pipeline import DEFAULT_METHOD, METHODS


def load_grabcut(folder: Path, strokes_dir: str = "strokes_sparse"):
    """Yield (name, image, strokes, mask) for each GrabCut image (strokes: 1 fg, 2 bg)."""
    for img in sorted((folder / "images").glob("*.jpg")):
        strokes = np.array(Image.open(folder / strokes_dir / f"{img.stem}.png")).astype(np.int32)
        mask = np.array(Image.open(folder / "masks" / f"{img.stem}.png"))
        yield img.stem, np.array(Image.open(img).convert("RGB")), strokes, mask


def grabcut_iou(labels: np.ndarray, strokes: np.ndarray, mask: np.ndarray) -> float:
    """Return the two-class mean IoU in percent (band and stroke pixels excluded)."""
    truth = np.where(mask == 255, 1, 2)
    ignore = (mask == 128) | (strokes > 0)
    return 100 * mean_iou(labels, truth, [1, 2], ignore)


def evaluate(folder: Path, strokes_dir: str = "strokes_sparse", **params) -> dict[str, float]:
    """Return {image name: mean IoU} of label_image with ``params`` on GrabCut."""
    scores = {}
    for name, image, strokes, mask in load_grabcut(folder, strokes_dir):
        result = label_image(image, strokes, classes=["foreground", "background"], **params)
        scores[name] = grabcut_iou(result.labels, strokes, mask)
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_data", nargs="?", type=Path,
                        default=SHARED_DIR / "data")
    parser.add_argument("--strokes", default="strokes_sparse")
    parser.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD)
    args = parser.parse_args()
    folder = args.shared_data / "eval" / "grabcut"
    if not folder.is_dir():
        print(f"GrabCut data not found at {folder}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    scores = evaluate(folder, args.strokes, method=args.method)
    seconds = time.perf_counter() - t0
    values = list(scores.values())
    print(f"label_image, method {args.method}, GrabCut, {args.strokes} ({seconds:.1f} s, {len(values)} images):")
    for name, s in scores.items():
        print(f"  {name:10s} {s:6.2f}")
    print(f"  mean IoU {np.mean(values):.2f}  (tuning half {np.mean(values[::2]):.2f}, "
          f"held-out half {np.mean(values[1::2]):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
