"""Seconds per megapixel per mean-field iteration of the CRF step alone.

Usage: python benchmarks/crf_speed.py [--mp 1 4] [--classes 4]

Times one TileCRF (lattices built once) for 1 and 11 iterations; the
difference over 10 iterations is the per-iteration cost, next to the
memory-bound floor of about 0.03 s/MP/iteration.
"""

from __future__ import annotations

import argparse
import time

from _scenes import synthetic_scene
from napari_crf_label.crf import CRFParams, TileCRF

FLOOR = 0.03


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--classes", type=int, default=4)
    args = parser.parse_args()
    print(f"{'MP':>5} {'build s/MP':>10} {'s/MP/iter':>10} {'floor':>6} {'x floor':>8}")
    for mp in args.mp:
        image, _, strokes = synthetic_scene(mp, args.classes)
        size = image.shape[0] * image.shape[1] / 1e6
        t0 = time.perf_counter()
        crf = TileCRF(image, args.classes, CRFParams())
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        crf.infer(strokes, iterations=1)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        crf.infer(strokes, iterations=11)
        eleven = time.perf_counter() - t0
        per = (eleven - one) / 10 / size
        print(f"{size:5.1f} {build / size:10.3f} {per:10.3f} {FLOOR:6.2f} {per / FLOOR:8.1f}")


if __name__ == "__main__":
    main()
