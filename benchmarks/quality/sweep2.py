"""Sweep the features+crf prior and CRF weights on cached classifier probabilities (tuning half only).

Usage (from benchmarks/quality/): python sweep2.py [--sets dubai camvid grabcut] [--split even]
                                  [--style skipping] [--limit N] [--cache DIR] [--tag TAG]

Per image the classifier's probabilities (``method="features"`` of the
current code, kept under ``--tag``) and the geodesic distances are
computed once; each variant combines them and runs the CRF. Prints the mean
IoU per variant and set.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import add_tuning_arguments, class_count, half, load_set, make_strokes, score  # noqa: E402

from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.crf import CRFParams, TileCRF  # noqa: E402
from napari_crf_label.features import FeatureParams  # noqa: E402
from napari_crf_label.geodesic import geodesic_distances, proximity  # noqa: E402
from napari_crf_label.pipeline.priors import feature_prior  # noqa: E402


def relative_proximity(d: np.ndarray, reach: float, grow: float) -> np.ndarray:
    """Return the proximity with a reach that grows with the distance to the nearest stroke: reach + grow * d_min."""
    nearest = d.min(axis=0, keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.exp(-(d - nearest) / (reach + grow * np.where(np.isfinite(nearest), nearest, 0)))
    w[~np.isfinite(d)] = 0.0
    t = w.sum(axis=0, keepdims=True)
    w[:, t[0] == 0] = 1.0
    return (w / np.maximum(w.sum(axis=0, keepdims=True), 1e-30)).astype(np.float32)


def cached_inputs(cache: Path, tag: str, key: str, image: np.ndarray, strokes: np.ndarray, n: int,
                  distances: bool = True) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """Return an image's classifier probabilities (under ``tag``) and geodesic distances, kept in ``cache``.

    Also the seconds the classifier took, when it ran now (None when kept).
    ``key`` names the image, strokes style and seed.
    """
    fp = FeatureParams()
    kp, kd = cache / f"p_{tag}_{key}.npy", cache / f"d_{key}.npy"
    seconds = None
    if kp.exists():
        p = np.load(kp)
    else:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = label_image(image, strokes, classes=[f"c{k}" for k in range(1, n + 1)],
                            method="features", window=4096).probabilities
        seconds = time.perf_counter() - t0
        np.save(kp, p)
    if not distances:
        return p, None, seconds
    if kd.exists():
        return p, np.load(kd), seconds
    d = geodesic_distances(image, strokes, n, fp.edge_weight, fp.edge_sigma)
    np.save(kd, d)
    return p, d, seconds


def variants() -> dict[str, tuple]:
    """Return {name: (prior function of (p, d) or None, CRF keywords, prior weight)}."""
    def current(p, d, power=1.0, balance=0.5, reach=100.0):
        return feature_prior(p, proximity(d, reach), power, balance)

    def rel(p, d, grow, power=1.0, balance=0.5):
        return feature_prior(p, relative_proximity(d, 100.0, grow), power, balance)

    out = {
        "crf alone": (None, {}, 0.97),
        "old default": (lambda p, d: current(p, d, power=0.0, balance=0.0), {}, 0.97),
        "current": (current, {"sxy_bilateral": 20.0}, 0.97),
    }
    cb5 = {"sxy_bilateral": 20.0, "compat_bilateral": 5.0}
    out["current cb5"] = (current, cb5, 0.97)
    out["current cb5 sxy10"] = (current, {"sxy_bilateral": 10.0, "compat_bilateral": 5.0}, 0.97)
    out["pow1.5 cb5"] = (lambda p, d: current(p, d, power=1.5), cb5, 0.97)
    out["pow2 cb5"] = (lambda p, d: current(p, d, power=2.0), cb5, 0.97)
    out["rel0.1 cb5"] = (lambda p, d: rel(p, d, 0.1), cb5, 0.97)
    out["rel0.25 cb5"] = (lambda p, d: rel(p, d, 0.25), cb5, 0.97)
    out["rel0.1 pow1.5 cb5"] = (lambda p, d: rel(p, d, 0.1, power=1.5), cb5, 0.97)
    for w in (0.9, 0.99):
        out[f"rel0.1 cb5 w{w:g}"] = (lambda p, d: rel(p, d, 0.1), cb5, w)
    for grow in (0.05, 0.15):
        out[f"rel{grow:g} cb5"] = (lambda p, d, grow=grow: rel(p, d, grow), cb5, 0.97)
    for b in (0.25, 0.75):
        out[f"rel0.1 b{b:g} cb5"] = (lambda p, d, b=b: rel(p, d, 0.1, balance=b), cb5, 0.97)
    out["rel0.1 cb3"] = (lambda p, d: rel(p, d, 0.1), {"sxy_bilateral": 20.0, "compat_bilateral": 3.0}, 0.97)
    out["rel0.1 cb5 sxy30"] = (lambda p, d: rel(p, d, 0.1), {"sxy_bilateral": 30.0, "compat_bilateral": 5.0}, 0.97)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tuning_arguments(parser)
    parser.add_argument("--tag", default="base", help="name of the classifier version the probabilities come from")
    parser.add_argument("--feature", nargs="*", default=[], metavar="NAME=VALUE",
                        help="FeatureParams fields the classifier runs with (e.g. texture=0 n_trees=100)")
    parser.add_argument("--classifier-only", action="store_true", help="score the classifier alone, no CRF")
    parser.add_argument("--variants", nargs="*", help="names of the variants to run (default all)")
    args = parser.parse_args()
    if args.feature:
        from dataclasses import replace

        from napari_crf_label.pipeline import images

        settings = images.feature_params
        changes = {k: tuple(float(x) for x in v.split(",")) if "," in v else type(getattr(FeatureParams(), k))(float(v))
                   for k, v in (f.split("=") for f in args.feature)}
        images.feature_params = lambda method, reach, proximity="auto": replace(settings(method, reach, proximity),
                                                                                **changes)
    args.cache.mkdir(parents=True, exist_ok=True)
    vs = {} if args.classifier_only else variants()
    if args.variants:
        vs = {k: v for k, v in vs.items() if k in args.variants}
    for set_name in args.sets:
        items = half(list(load_set(set_name, args.data)), args.split)[: args.limit]
        n = class_count(items)
        scores: dict[str, list[float]] = {}
        t_p = []
        for i, (name, image, truth, ignore, human) in enumerate(items):
            strokes = human if args.style == "human" else make_strokes(args.style, np.where(ignore, 0, truth),
                                                                      0.01, i, 0.5)
            p, d, seconds = cached_inputs(args.cache, args.tag, f"{set_name}_{name}_{args.style}_{i}", image,
                                          strokes, n, distances=not args.classifier_only)
            if seconds is not None:
                t_p.append(seconds)
            skip = strokes > 0
            scores.setdefault("classifier alone", []).append(
                score(p.argmax(0).astype(np.int32) + 1, truth, ignore, strokes, n)[1])
            crfs: dict[tuple, TileCRF] = {}
            for vname, (fn, kw, w) in vs.items():
                params = CRFParams(**kw)
                if params.kernel_key() not in crfs:
                    crfs[params.kernel_key()] = TileCRF(image, n, params)
                prior = None if fn is None else w * fn(p, d) + (1 - w) / n
                q = crfs[params.kernel_key()].infer(strokes, prior)
                labels = q.argmax(0).astype(np.int32) + 1
                labels[skip] = strokes[skip]
                scores.setdefault(vname, []).append(score(labels, truth, ignore, strokes, n)[1])
            print(f"  {set_name} {name} " + " ".join(f"{v[-1]:.1f}" for v in scores.values()),
                  file=sys.stderr, flush=True)
        for vname, v in scores.items():
            print(f"{set_name:8s} {args.split} {args.style:10s} {args.tag:10s} {vname:28s} {np.mean(v):6.2f}"
                  f"  ({len(v)} images)", flush=True)
        if t_p:
            print(f"{set_name}: classifier {np.mean(t_p):.2f} s/image", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
