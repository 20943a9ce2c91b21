"""Sweep how the classifier's probabilities and the geodesic proximity combine into the CRF's prior.

Usage (from benchmarks/quality/): python prior_sweep.py [--sets camvid grabcut dubai] [--split even]
                                  [--style skipping] [--cache DIR] [--limit N] [--ablate]

Per image the classifier's probabilities (``method="features"``), the
geodesic distances and the CRF's kernels are computed once (the first two
kept in ``--cache``); each variant then only combines them and runs the
CRF. Prints the mean IoU of every variant per set, with the CRF alone and
the classifier alone for reference, and per image one JSON line on
stderr (with the classifier's cross-validated accuracy on the strokes,
cv.py). The defaults were chosen with it on the even half and the
skipping style (RESULTS.md); the variant list is the last one swept, the
earlier lists are in RESULTS.md with their figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _eval import EVAL  # noqa: E402
from cv import cv_score  # noqa: E402
from run import class_count, half, load_set, make_strokes, score  # noqa: E402

from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.crf import CRFParams, TileCRF  # noqa: E402
from napari_crf_label.features import FeatureParams  # noqa: E402
from napari_crf_label.geodesic import geodesic_distances, proximity  # noqa: E402

FLOOR = 1e-3
#: Also the ablations of the new default (--ablate).
ABLATE = False


def normalised(q: np.ndarray) -> np.ndarray:
    """Return q divided by its sum over classes."""
    return q / q.sum(axis=0, keepdims=True)


def confidence(p: np.ndarray) -> np.ndarray:
    """Return the classifier's confidence, 0 (uniform) .. 1 (one class), from its largest probability."""
    n = p.shape[0]
    return np.clip((p.max(axis=0) - 1 / n) / (1 - 1 / n), 0, 1)


def sharpened(q: np.ndarray, power: float) -> np.ndarray:
    """Return q ** power, normalised: a power above 1 weighs the prior more against the CRF's pairwise terms."""
    return normalised(q.astype(np.float64) ** power).astype(np.float32)


def balanced(q: np.ndarray, power: float) -> np.ndarray:
    """Return q divided by each class's mean probability over the image to ``power``, normalised (area balance)."""
    share = q.reshape(q.shape[0], -1).mean(axis=1)
    weight = np.where(share > 0, np.maximum(share, 1e-6) ** -power, 0.0)
    return normalised(q * weight[:, None, None].astype(np.float32))


def faded(p: np.ndarray, near: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Return (p + FLOOR) * near ** gamma, normalised: the proximity weakened per pixel."""
    return normalised((p + FLOOR) * near ** gamma[None])


def variants(p: np.ndarray, d: np.ndarray) -> dict[str, tuple[np.ndarray | None, str]]:
    """Return {name: (prior or None for the CRF alone, name of the CRF kernels)} of the combinations swept."""
    c = confidence(p)
    prox = proximity(d, 100.0)
    out: dict[str, tuple[np.ndarray | None, str]] = {"crf alone": (None, "default")}
    out["reach 100"] = (normalised((p + FLOOR) * prox), "default")
    out["(1-c)^1, b0.5, sxy20 (new default)"] = (balanced(faded(p, prox, 1 - c), 0.5), "sxy 20")
    if ABLATE:
        out["(1-c)^1, b0.5"] = (balanced(faded(p, prox, 1 - c), 0.5), "default")
        out["(1-c)^1"] = (faded(p, prox, 1 - c), "default")
        out["b0.5"] = (balanced(normalised((p + FLOOR) * prox), 0.5), "default")
        out["sxy20"] = (normalised((p + FLOOR) * prox), "sxy 20")
        out["(1-c)^1, b0.5, sxy30"] = (balanced(faded(p, prox, 1 - c), 0.5), "sxy 30")
    return out


KERNELS = {"default": {}, "sxy 20": {"sxy_bilateral": 20.0}, "sxy 30": {"sxy_bilateral": 30.0}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EVAL)
    parser.add_argument("--sets", nargs="*", default=["camvid", "grabcut", "dubai"])
    parser.add_argument("--split", choices=["all", "even", "odd"], default="even")
    parser.add_argument("--style", default="skipping")
    parser.add_argument("--budget", type=float, default=0.01)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qsweep"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--ablate", action="store_true", help="also each part of the new default alone")
    args = parser.parse_args()
    global ABLATE
    ABLATE = args.ablate
    args.cache.mkdir(parents=True, exist_ok=True)
    fp = FeatureParams()
    for set_name in args.sets:
        items = half(list(load_set(set_name, args.data)), args.split)[: args.limit]
        n = class_count(items)
        scores: dict[str, list[float]] = {}
        for i, (name, image, truth, ignore, human) in enumerate(items):
            strokes = human if args.style == "human" else make_strokes(args.style, np.where(ignore, 0, truth),
                                                                      args.budget, i, 0.5)
            key = args.cache / f"{set_name}_{name}_{args.style}_{args.budget:g}_{i}.npz"
            if key.exists():
                z = np.load(key)
                p, d = z["p"], z["d"]
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p = label_image(image, strokes, classes=[f"c{k}" for k in range(1, n + 1)],
                                    method="features", window=4096).probabilities
                d = geodesic_distances(image, strokes, n, fp.edge_weight, fp.edge_sigma)
                np.savez(key, p=p, d=d)
            scores.setdefault("features alone", []).append(
                score(p.argmax(0).astype(np.int32) + 1, truth, ignore, strokes, n)[1])
            crfs = {k: TileCRF(image, n, CRFParams(**v)) for k, v in KERNELS.items()}
            for vname, (prior, kernels) in variants(p, d).items():
                w = fp.prior_weight
                q = crfs[kernels].infer(strokes, None if prior is None else w * prior + (1 - w) / n)
                labels = q.argmax(0).astype(np.int32) + 1
                labels[strokes > 0] = strokes[strokes > 0]
                scores.setdefault(vname, []).append(score(labels, truth, ignore, strokes, n)[1])
            cv = cv_score(image, strokes, n)
            row = {v: round(scores[v][-1], 2) for v in scores}
            print(json.dumps({"set": set_name, "image": name, "style": args.style, "cv": cv, **row}),
                  file=sys.stderr, flush=True)
        for vname, v in scores.items():
            print(f"{set_name:8s} {args.split} {args.style:10s} {vname:40s} {np.mean(v):6.2f}  ({len(v)} images)",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
