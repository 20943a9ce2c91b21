"""Seconds per megapixel of the random forest's prediction: the packed walk against the one it replaced.

Usage: python benchmarks/forest_speed.py [--repeats 5]

Trains the real PixelClassifier (default FeatureParams: 50 trees, at most
5000 samples per class) on three scenes of ../shared/data and times
``predict_proba`` of its forest on the features of a ~1 MP tile, single
thread: the photo scene of benchmarks/_scenes.py (4 colour classes, 60
strokes each: small trees), and a Dubai aerial image (5 land-cover
classes) with strokes simulated at 1 % of the pixels (the quality
protocol: mid-sized trees) and at 10 % (the 5000-per-class cap reached,
as on a large raster with many strokes: the largest trees). The old walk
(one pixel at a time, a node spread over five arrays, as before
branch ``forest``) is kept here for the side-by-side run; old and new run
interleaved in one process, median of the repeats, wall and CPU time.
The machine is shared (2 cores, other jobs running): figures are noisy,
their ratio less so. Prints whether the two outputs, and scikit-learn's
own ``predict_proba``, are identical.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent / "quality"))
from simulate import simulate_strokes  # noqa: E402

from _scenes import photo_scene  # noqa: E402
from _shared import SHARED as SHARED_DIR
from big_raster import blocks  # noqa: E402
from napari_crf_label.features import (  # noqa: E402
    FeatureParams,
    PixelClassifier,
    pixel_features,
    pixel_features_at,
    stroke_samples,
)
from napari_crf_label.forest import pack_forest  # noqa: E402

OLD_BLOCK = 256
SHARED = SHARED_DIR / "data"  # where _scenes.photo_scene reads too


def old_pack(model) -> tuple:
    """Return the old layout's arrays: roots, left, right, feature, threshold, missing_left, value."""
    parts, roots, start = [], [], 0
    for estimator in model.estimators_:
        tree = estimator.tree_
        missing = tree.__getstate__()["nodes"]["missing_go_to_left"].astype(bool)
        leaf = tree.children_left < 0
        shift = np.where(leaf, 0, start)
        parts.append((np.where(leaf, -1, tree.children_left + shift), np.where(leaf, -1, tree.children_right + shift),
                      tree.feature, tree.threshold, missing, tree.value[:, 0, :]))
        roots.append(start)
        start += tree.node_count
    left, right, feature, threshold, missing, value = (np.concatenate(p) for p in zip(*parts))
    return (np.asarray(roots, np.int64), left.astype(np.int64), right.astype(np.int64), feature.astype(np.int64),
            threshold.astype(np.float64), missing, np.ascontiguousarray(value, np.float64))


@njit(nogil=True)
def _old_walk(x, roots, left, right, feature, threshold, missing_left, value, out):  # pragma: no cover - compiled
    """The walk before branch ``forest``: blocks of 256 pixels, one pixel at a time down each tree."""
    n, classes = x.shape[0], value.shape[1]
    for start in range(0, n, OLD_BLOCK):
        stop = min(start + OLD_BLOCK, n)
        for root in roots:
            for i in range(start, stop):
                node = root
                while left[node] >= 0:
                    v = x[i, feature[node]]
                    if np.isnan(v):
                        node = left[node] if missing_left[node] else right[node]
                    elif v <= threshold[node]:
                        node = left[node]
                    else:
                        node = right[node]
                for c in range(classes):
                    out[i, c] += value[node, c]


def old_predict(arrays: tuple, x: np.ndarray) -> np.ndarray:
    """Return the old walk's (P, classes) probabilities."""
    out = np.zeros((x.shape[0], arrays[-1].shape[1]), np.float64)
    _old_walk(x, *arrays, out)
    out /= arrays[0].size
    return out


def dubai_scene(folder: Path, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (image, strokes) of Dubai's largest image with strokes simulated on ``budget`` of its pixels."""
    path = folder / "images" / "tile4_part001.jpg"  # 1099 x 846: 0.93 MP
    mask = np.array(Image.open(folder / "masks" / f"{path.stem}.png")).astype(np.int32)
    truth = np.where(mask < 5, mask + 1, 0)  # 5 = the annotators' "unlabeled": never painted
    return np.array(Image.open(path).convert("RGB")), simulate_strokes(truth, budget, seed=0)


def trained(scenes: list[tuple[np.ndarray, np.ndarray]]) -> PixelClassifier:
    """Return the PixelClassifier (default FeatureParams) trained on the scenes' strokes, as a run trains it."""
    params = FeatureParams()
    classifier = PixelClassifier(max(int(strokes.max()) for _, strokes in scenes), params)
    for image, strokes in scenes:
        rows, cols, labels = stroke_samples(strokes.astype(np.int32), params.max_samples_per_class, params.seed)
        classifier.add_samples(pixel_features_at(image, rows, cols), labels)
    return classifier.fit()


def measure(name: str, scenes: list[tuple[np.ndarray, np.ndarray]], repeats: int) -> None:
    """Print the old and new walk's seconds per MP on the first image's features (at most 1024 x 1024)."""
    model = trained(scenes)._model
    features = pixel_features(scenes[0][0][:1024, :1024])
    x = np.ascontiguousarray(features.reshape(-1, features.shape[2]))
    mp = x.shape[0] / 1e6
    old, new = old_pack(model), pack_forest(model)
    old_predict(old, x[:100]), new.predict_proba(x[:100])  # compile first
    times = {"old": [], "new": []}
    for _ in range(repeats):  # interleaved: both see the same load of the machine
        for key, run in (("old", lambda: old_predict(old, x)), ("new", lambda: new.predict_proba(x))):
            wall, cpu = time.perf_counter(), time.process_time()
            out = run()
            times[key].append((time.perf_counter() - wall, time.process_time() - cpu))
            if key == "old":
                reference = out
            else:
                same = np.array_equal(out, reference)
    sklearn_same = np.array_equal(new.predict_proba(x), model.predict_proba(x))
    depth = np.mean([e.tree_.max_depth for e in model.estimators_])
    print(f"{name}: {x.shape[0]} pixels x {x.shape[1]} features, {model.classes_.size} classes, "
          f"{new.nodes.shape[0]} nodes in {len(model.estimators_)} trees (max depth {depth:.1f} on average)")
    (old_wall, old_cpu), (new_wall, new_cpu) = (np.median(np.array(times[k]), axis=0) / mp for k in ("old", "new"))
    print(f"  old walk: {old_wall:6.3f} s/MP wall  {old_cpu:6.3f} s/MP CPU")
    print(f"  new walk: {new_wall:6.3f} s/MP wall  {new_cpu:6.3f} s/MP CPU   "
          f"x{old_wall / new_wall:.2f} wall, x{old_cpu / new_cpu:.2f} CPU (median of {repeats})")
    print(f"  identical: new == old {same}, new == scikit-learn predict_proba {sklearn_same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dubai = SHARED / "eval" / "dubai"
    if not (SHARED / "images" / "orthomosaic.jpg").exists() or not dubai.is_dir():
        print(f"skipped: the scenes' images are not under {SHARED} (../shared is absent)")
        return
    print("single thread; a shared 2-core machine: figures are noisy, old and new run interleaved")
    measure("photo scene (orthomosaic, 60 strokes per class)", [photo_scene()[::2]], args.repeats)
    measure("big_raster.py's six blocks (4 classes per block)", blocks(), args.repeats)
    measure("Dubai tile4_part001, strokes on 1 % of the pixels", [dubai_scene(dubai, 0.01)], args.repeats)
    measure("Dubai tile4_part001, strokes on 10 % (5000 per class)", [dubai_scene(dubai, 0.10)], args.repeats)


if __name__ == "__main__":
    main()
