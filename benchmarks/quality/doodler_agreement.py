"""Agreement with Doodler's own labels on its saved sessions (real human strokes, coastal imagery).

Usage: python benchmarks/quality/doodler_agreement.py [--data ../shared/data/eval]

Doodler's ``label`` is its own output (a feature classifier and a CRF), not
independent ground truth: the mean IoU against it says how close each of
our methods comes to the established tool on the same strokes, in the
domain this tool is for, not which is right. Stroke pixels are excluded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _eval import EVAL

from napari_crf_label import label_image
from napari_crf_label.metrics import mean_iou
from napari_crf_label.pipeline import METHODS


def session(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Return (RGB uint8 image, strokes, Doodler's labels 1..N, N) of one saved Doodler session."""
    d = np.load(path, allow_pickle=True)
    image, strokes, label = d["image"], d["doodles"].astype(np.int32), d["label"]
    label = label.argmax(-1) + 1 if label.ndim == 3 else label.astype(np.int32)
    image = np.clip(image, 0, 255).astype(np.uint8)[..., :3]
    return image, strokes, label, int(max(strokes.max(), label.max()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EVAL)
    args = parser.parse_args()
    files = sorted((args.data / "doodler_sessions").glob("*.npz"))
    if not files:
        print(f"no Doodler sessions under {args.data / 'doodler_sessions'}", file=sys.stderr)
        return 1
    scores: dict[str, list[float]] = {m: [] for m in METHODS}
    for path in files:
        image, strokes, label, n = session(path)
        names = [f"class{k}" for k in range(1, n + 1)]
        row = []
        for method in METHODS:
            labels = label_image(image, strokes, classes=names, method=method).labels
            scores[method].append(100 * mean_iou(labels, label, list(range(1, n + 1)), strokes > 0))
            row.append(f"{method} {scores[method][-1]:5.1f}")
        print(f"{path.stem[:48]:48s} {image.shape[1]}x{image.shape[0]} {n} classes  " + "  ".join(row))
    print("mean IoU against Doodler's labels: " + "  ".join(f"{m} {np.mean(v):.1f}" for m, v in scores.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
