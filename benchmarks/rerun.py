"""Re-run after a stroke edit vs fresh runs, on a 4 MP scene, in one process.

Usage: python benchmarks/rerun.py [--mp 4] [--method crf|features+crf|features]

Rows: the original tool's CRF settings (bilateral kernel only, schan 1,
compat 100, 30 iterations, gt_prob 0.5, one CRF over the scene), our fresh
default run, a re-run with the built lattices kept (exact: equals a fresh
run), and a warm re-run (lattices kept and 5 iterations from the previous
result, as the napari panel does). At scale 1 and scale 0.5. ``--method`` (default
crf, the figures in RESULTS.md) sets our rows' method; the feature methods
keep the lattices but do not warm-start.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _scenes import edit_strokes, synthetic_scene
from napari_crf_label import label_image
from napari_crf_label.pipeline import METHODS, CRFCache

ORIGINAL = {"gt_prob": 0.5, "compat_gaussian": 0, "sxy_bilateral": 60, "schan": 1, "compat_bilateral": 100,
            "iterations": 30}


def timed(fn):
    """Return (seconds, value) of calling fn()."""
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, default=4.0)
    parser.add_argument("--method", choices=METHODS, default="crf")
    args = parser.parse_args()
    image, truth, strokes = synthetic_scene(args.mp)
    edited = edit_strokes(strokes, truth)
    side = image.shape[0]
    print(f"scene {side} x {side} ({side * side / 1e6:.1f} MP), 4 classes")
    print(f"{'scale':>5} {'run':<44} {'seconds':>8} {'accuracy':>9}")
    for scale in (1.0, 0.5):
        t_orig, r = timed(lambda s=scale: label_image(image, edited, scale=s, window=side, method="crf",
                                                                  **ORIGINAL))
        print(f"{scale:5.2f} {'fresh, original tool settings':<44} {t_orig:8.2f} {(r.labels == truth).mean():9.3f}")
        t_fresh, fresh = timed(lambda s=scale: label_image(image, edited, scale=s, method=args.method))
        print(f"{scale:5.2f} {'fresh, defaults':<44} {t_fresh:8.2f} {(fresh.labels == truth).mean():9.3f}")
        for label, cache in (("re-run, lattices kept (exact)", CRFCache()),
                             ("re-run, lattices kept + warm start (5 iter)", CRFCache(warm_start=5))):
            label_image(image, strokes, scale=scale, cache=cache, method=args.method)  # the run before the edit
            t_re, r = timed(lambda s=scale, c=cache: label_image(image, edited, scale=s, cache=c,
                                                                       method=args.method))
            same = (r.labels == fresh.labels).mean()
            print(f"{scale:5.2f} {label:<44} {t_re:8.2f} {(r.labels == truth).mean():9.3f}"
                  f"   {t_orig / t_re:5.1f}x faster than original, {t_fresh / t_re:4.1f}x than fresh;"
                  f" {same * 100:.2f}% pixels as fresh")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
