"""Seconds of each labelling method on a synthetic scene, and of the feature pipeline's stages.

Usage: python benchmarks/methods_speed.py [--mp 4] [--repeat 2] [--workers 1]

Rows: ``label_image`` end to end with each method (best of ``--repeat``
runs; one process unless ``--workers``, every core the machine has for
the random forest).
Then the stages of ``features+crf`` on a 1 MP crop (the classifier's
largest grid per tile): features of every pixel (for prediction), features
of the (capped) stroke pixels and forest training (the training pass),
prediction, geodesic distances, one CRF.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _scenes import synthetic_scene
from napari_crf_label import label_image
from napari_crf_label.crf import CRFParams, TileCRF
from napari_crf_label.features import FeatureParams, PixelClassifier, pixel_features, pixel_features_at, stroke_samples
from napari_crf_label.geodesic import geodesic_distances, proximity
from napari_crf_label.pipeline import METHODS
from napari_crf_label.pipeline.settings import CLASSIFIER_FLOOR


def best_of(repeat: int, fn) -> tuple[float, object]:
    """Return the fastest wall time of ``repeat`` calls of fn() and the last value."""
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="worker processes for the tiles (a local cluster)")
    args = parser.parse_args()
    image, truth, strokes = synthetic_scene(args.mp)
    n = int(truth.max())
    print(f"scene {image.shape[1]} x {image.shape[0]} ({truth.size / 1e6:.1f} MP), {n} classes, "
          f"{(strokes > 0).mean() * 100:.2f}% painted")
    for method in METHODS:
        t, r = best_of(args.repeat, lambda m=method: label_image(image, strokes, method=m, workers=args.workers))
        print(f"  {method:13s} {t:7.2f} s  ({r.params['tiles']} tiles, accuracy {(r.labels == truth).mean():.3f})")

    if args.workers > 1:
        return
    side = 1000
    crop, crop_strokes = image[:side, :side], strokes[:side, :side]
    print(f"stages of features+crf on a {side} x {side} crop:")
    t, f = best_of(args.repeat, lambda: pixel_features(crop))
    print(f"  features ({f.shape[2]} per pixel)   {t:6.2f} s")
    rows, cols, labels = stroke_samples(crop_strokes, FeatureParams.max_samples_per_class, FeatureParams.seed)
    t, x = best_of(args.repeat, lambda: pixel_features_at(crop, rows, cols))
    print(f"  features of stroke pixels {t:6.2f} s  ({len(labels)} of {(crop_strokes > 0).sum()} stroke pixels)")
    clf = PixelClassifier(n)

    def fit():
        clf.add_samples(x, labels)
        return clf.fit()

    t, _ = best_of(args.repeat, fit)
    print(f"  forest training           {t:6.2f} s")
    t, p = best_of(args.repeat, lambda: clf.predict_proba(f))
    print(f"  forest prediction         {t:6.2f} s")
    t, d = best_of(args.repeat, lambda: geodesic_distances(crop, crop_strokes, n))
    print(f"  geodesic distances        {t:6.2f} s  ({n} classes)")
    prior = proximity(d) * (p + CLASSIFIER_FLOOR)  # as pipeline.tile.iter_tile combines them
    prior /= prior.sum(axis=0, keepdims=True)
    w = FeatureParams().prior_weight
    t, _ = best_of(args.repeat, lambda: TileCRF(crop, n, CRFParams()).infer(crop_strokes, w * prior + (1 - w) / n))
    print(f"  CRF (build + 10 iter)     {t:6.2f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
