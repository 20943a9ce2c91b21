"""The default's mean IoU on the images the harness runs in more than one tile: scene or tile class shares.

Usage (from benchmarks/quality/): python tiled_images.py [--sets dubai]

Only images larger than one tile (Dubai's nine ``tile4`` images, 1099 x 846,
run in two tiles; every other image of the harness is one tile, where the
two give the same labels bit for bit) change when a tiled run divides its
prior by the scene's class shares instead of each tile's (stop 19,
``pipeline/balance.py``). Same strokes and seeds as ``run.py`` (an image's
seed is its index in its half). Prints per image, split and style the
default's mean IoU both ways, and per split and style the change of the
set's mean (the other images' scores are unchanged).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _eval import EVAL  # noqa: E402
from run import class_count, half, load_set, make_strokes, method_results, score  # noqa: E402

from napari_crf_label.pipeline import priors  # noqa: E402
from napari_crf_label.pipeline.settings import DEFAULT_WINDOW  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EVAL)
    parser.add_argument("--sets", nargs="*", default=["dubai", "camvid", "grabcut"])
    parser.add_argument("--styles", nargs="*", default=["simulator", "skeleton", "skipping"])
    args = parser.parse_args()
    scene_shares = priors.scene_shares
    for set_name in args.sets:
        items = list(load_set(set_name, args.data))
        n = class_count(items)
        for split in ("even", "odd"):
            part = half(items, split)
            tiled = [i for i, item in enumerate(part) if max(item[1].shape[:2]) > DEFAULT_WINDOW]
            if not tiled:
                print(f"{set_name} {split}: no image larger than one tile")
                continue
            for style in args.styles:
                delta = []
                for i in tiled:
                    name, image, truth, ignore, _ = part[i]
                    strokes = make_strokes(style, np.where(ignore, 0, truth), 0.01, i, 0.5)
                    if not strokes.any():
                        continue
                    ious = []
                    for shares in (scene_shares, lambda *a, **k: None):
                        priors.scene_shares = shares
                        labels, _ = method_results(image, strokes, n, ["c"])["c CRF + features (default)"]
                        ious.append(score(labels, truth, ignore, strokes, n)[1])
                    priors.scene_shares = scene_shares
                    delta.append(ious[0] - ious[1])
                    print(f"{set_name} {split} {style:9s} {name:18s} scene shares {ious[0]:6.2f}  "
                          f"tile shares {ious[1]:6.2f}  change {ious[0] - ious[1]:+6.2f}", flush=True)
                print(f"{set_name} {split} {style}: the set's mean changes by {sum(delta) / len(part):+.2f} "
                      f"({len(delta)} of {len(part)} images tiled)", flush=True)


if __name__ == "__main__":
    main()
