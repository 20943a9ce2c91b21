"""Extra time of the held-out stroke check (pipeline.holdout) on a 4 MP image, default method.

Usage (from benchmarks/quality/): python holdout_cost.py [--repeats 2] [--side 2000]

A Dubai tile of the quality sets, enlarged to side x side pixels, with the
harness's skipping strokes enlarged alike; ``label_image`` with the check
(the default) and without it (``holdout_margin`` inf), alternating, after a
warm-up run. Prints each run's seconds and the median ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _eval import EVAL  # noqa: E402
from simulate import simulate_strokes  # noqa: E402

from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.pipeline import images  # noqa: E402


def run(image: np.ndarray, strokes: np.ndarray, check: bool) -> tuple[float, dict]:
    """Return (seconds, recorded settings) of one default run, with or without the check."""
    settings = images.feature_params
    if not check:
        images.feature_params = lambda method, reach: dataclasses.replace(settings(method, reach),
                                                                          holdout_margin=np.inf)
    try:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = label_image(image, strokes, classes=["water", "land", "road", "building", "vegetation"])
        return time.perf_counter() - t0, r.params
    finally:
        images.feature_params = settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EVAL)
    parser.add_argument("--stem", default="tile4_part008")
    parser.add_argument("--side", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    folder = args.data / "dubai"
    mask = np.array(Image.open(folder / "masks" / f"{args.stem}.png")).astype(np.int32)
    truth = np.where((mask == 5) | (mask == 255), 0, mask + 1)
    image = Image.open(folder / "images" / f"{args.stem}.jpg").convert("RGB")
    size = (args.side, args.side)
    big = np.array(image.resize(size, Image.BILINEAR))
    big_truth = np.array(Image.fromarray(truth.astype(np.uint8)).resize(size, Image.NEAREST)).astype(np.int32)
    strokes = simulate_strokes(big_truth, 0.01, seed=0, region_share=0.5, width=5)
    run(big, strokes, True)  # warm-up: imports, numba compilation
    ratios = []
    for i in range(args.repeats):
        t_on, params = run(big, strokes, True)
        t_off, _ = run(big, strokes, False)
        ratios.append(t_on / t_off)
        print(f"run {i}: with the check {t_on:.1f} s ({params.get('proximity')}, scores "
              f"{params.get('holdout_scores')}), without {t_off:.1f} s, ratio {t_on / t_off:.2f}", flush=True)
    print(f"{args.side} x {args.side}: median ratio {np.median(ratios):.2f}")
    # the check alone, on the grid the run gives it (the run's other steps change with its outcome: the CRF
    # may settle sooner with a faded proximity, so the ratio above is not the check's cost alone)
    from napari_crf_label.pipeline.holdout import HOLDOUT_PIXELS, check_proximity
    from napari_crf_label.pipeline.plan import crf_size
    from napari_crf_label.resample import resize_bands
    from napari_crf_label.strokes import downscale_strokes

    f = (1_000_000 / big.shape[0] / big.shape[1]) ** 0.5  # the geodesic grid (GEODESIC_PIXELS)
    g = min(1.0, (HOLDOUT_PIXELS / (crf_size(big.shape[:2], f)[0] * crf_size(big.shape[:2], f)[1])) ** 0.5)
    shape = crf_size(big.shape[:2], f * g)
    small, marks = resize_bands(big, shape), downscale_strokes(strokes, shape)
    params = images.feature_params("features+crf", 100.0)
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        check_proximity(small, marks, 5, params, params.reach * f * g)
        print(f"the check alone ({shape[0]} x {shape[1]} grid): {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
