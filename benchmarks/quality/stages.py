"""Where does the default (features+crf) win or lose? Each stage of it, scored per image, class and pixel kind.

Usage (from benchmarks/quality/): python stages.py [--sets dubai camvid grabcut] [--split even]
                                  [--style skipping] [--limit N] [--cache DIR] [--feature NAME=VALUE ...]

The default method is run as the harness runs it (``label_image``, same
strokes and seeds as ``run.py``), with the tile's inner steps recorded: (a)
the forest's probabilities, (b) the prior the CRF is given (the forest
times the geodesic proximity, with the confidence fading and the area
balance), (c) the CRF's marginals. Two more columns are made offline from
the same recorded arrays: (a') the forest with the area balance but no
proximity, and (c') the default's CRF on that prior (the CRF without the
proximity). Scored like run.py (stroke and ignored pixels left out): mean
IoU, pixel accuracy, per class IoU, and the accuracy on three kinds of
pixels: those in ground-truth regions (connected components of a class)
that hold no stroke ("unpainted instances"), those in regions that hold
one, and those within 3 px of a class boundary. The recorded arrays are
kept in ``--cache`` for sweeps (``stage_sweep.py``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import add_tuning_arguments, class_count, half, load_set, make_strokes, override_features  # noqa: E402

from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.metrics import mean_iou, pixel_accuracy  # noqa: E402
from napari_crf_label.pipeline import tile as tile_module  # noqa: E402

STAGES = ("a forest", "a' forest+balance", "b prior", "c' crf no prox", "c crf (default)")


def record_run(image: np.ndarray, strokes: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Run the default method once and return its tile's forest probabilities, proximity, prior and marginals.

    Run in one tile (``window=4096``): the hooks keep one tile's arrays. The harness's Dubai images of
    more than 1024 pixels a side run in several tiles there, so their figures here differ a little.
    """
    kept: dict[str, np.ndarray] = {}
    orig_cp, orig_fp, orig_ci = (tile_module.classifier_probabilities, tile_module.feature_prior,
                                 tile_module.cached_infer)

    def cp(*a, **k):
        kept["p"] = orig_cp(*a, **k)
        return kept["p"]

    def fp(q, near, *a, **k):
        kept["near"] = near
        kept["prior"] = orig_fp(q, near, *a, **k)
        return kept["prior"]

    def ci(*a, **k):
        q = yield from orig_ci(*a, **k)
        kept["q"] = q
        return q

    tile_module.classifier_probabilities, tile_module.feature_prior, tile_module.cached_infer = cp, fp, ci
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = label_image(image, strokes, classes=[f"c{k}" for k in range(1, n + 1)], window=4096)
    finally:
        tile_module.classifier_probabilities, tile_module.feature_prior, tile_module.cached_infer = (
            orig_cp, orig_fp, orig_ci)
    kept["labels"] = result.labels.astype(np.int32)
    kept["faded"] = np.array(result.params.get("proximity") == "faded")
    return kept


def no_proximity(rec: dict[str, np.ndarray], image: np.ndarray, strokes: np.ndarray, n: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return (prior, CRF marginals) of the default with a uniform proximity (the forest and balance only)."""
    from napari_crf_label.crf import CRFParams, TileCRF
    from napari_crf_label.features import FeatureParams
    from napari_crf_label.pipeline.combine import feature_prior
    from napari_crf_label.pipeline.inputs import method_crf_params

    fpar = FeatureParams()
    prior = feature_prior(rec["p"], np.full_like(rec["p"], 1.0 / n), fpar.confidence_power, fpar.area_balance)
    params = method_crf_params(CRFParams(), "features+crf", fpar)
    w = fpar.prior_weight
    q = TileCRF(image, n, params).infer(strokes, w * prior + (1 - w) / n)
    return prior, q


def pixel_kinds(truth: np.ndarray, strokes: np.ndarray) -> dict[str, np.ndarray]:
    """Return masks of unpainted-instance pixels, painted-region pixels and boundary pixels (within 3 px)."""
    unpainted = np.zeros(truth.shape, bool)
    for k in np.unique(truth[truth > 0]):
        comps, m = ndimage.label(truth == k)
        hit = np.unique(comps[(strokes > 0) & (comps > 0)])
        unpainted |= (comps > 0) & ~np.isin(comps, hit)
    edge = np.zeros(truth.shape, bool)
    edge[:-1] |= truth[:-1] != truth[1:]
    edge[1:] |= truth[:-1] != truth[1:]
    edge[:, :-1] |= truth[:, :-1] != truth[:, 1:]
    edge[:, 1:] |= truth[:, :-1] != truth[:, 1:]
    boundary = ndimage.binary_dilation(edge, iterations=3)
    return {"unpainted": unpainted & (truth > 0), "painted": ~unpainted & (truth > 0), "boundary": boundary}


def class_iou(labels: np.ndarray, truth: np.ndarray, valid: np.ndarray, n: int) -> np.ndarray:
    """Return per class IoU (NaN where the class is absent from both)."""
    out = np.full(n, np.nan)
    for k in range(1, n + 1):
        a, b = (labels == k) & valid, (truth == k) & valid
        union = (a | b).sum()
        if union:
            out[k - 1] = (a & b).sum() / union
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tuning_arguments(parser)
    parser.add_argument("--feature", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    override_features(args.feature)
    args.cache.mkdir(parents=True, exist_ok=True)
    for set_name in args.sets:
        items = half(list(load_set(set_name, args.data)), args.split)[: args.limit]
        n = class_count(items)
        rows: dict[str, list] = {s: [] for s in STAGES}
        for i, (name, image, truth, ignore, human) in enumerate(items):
            strokes = human if args.style == "human" else make_strokes(
                args.style, np.where(ignore, 0, truth), 0.01, args.seed + i, 0.5)
            key = args.cache / f"stages_{set_name}_{name}_{args.style}_{i}.npz"
            if key.exists():
                rec = dict(np.load(key))
            else:
                rec = record_run(image, strokes, n)
                rec["prior0"], rec["q0"] = no_proximity(rec, image, strokes, n)
                np.savez_compressed(key, **rec)
            skip = ignore | (strokes > 0)
            valid = ~skip
            kinds = pixel_kinds(np.where(ignore, 0, truth), strokes)
            stage_labels = {"a forest": rec["p"].argmax(0) + 1, "a' forest+balance": rec["prior0"].argmax(0) + 1,
                            "b prior": rec["prior"].argmax(0) + 1, "c' crf no prox": rec["q0"].argmax(0) + 1,
                            "c crf (default)": rec["labels"]}
            line = []
            for s, lab in stage_labels.items():
                lab = lab.astype(np.int32)
                acc = {k: float((lab == truth)[m & valid].mean()) if (m & valid).any() else np.nan
                       for k, m in kinds.items()}
                rows[s].append((100 * mean_iou(lab, truth, list(range(1, n + 1)), skip),
                                100 * pixel_accuracy(lab, truth, skip), *(100 * class_iou(lab, truth, valid, n)),
                                100 * acc["unpainted"], 100 * acc["painted"], 100 * acc["boundary"],
                                100 * float(kinds["unpainted"][valid].mean()), float(rec["faded"])))
                line.append(f"{rows[s][-1][0]:5.1f}")
            print(f"  {set_name} {name} faded={bool(rec['faded'])} " + " ".join(line), file=sys.stderr, flush=True)
        header = (["mIoU", "acc"] + [f"IoU c{k}" for k in range(1, n + 1)]
                  + ["acc unpainted", "acc painted", "acc boundary", "% unpainted", "faded"])
        print(f"\n{set_name} {args.split} {args.style} ({len(items)} images)")
        print("| stage | " + " | ".join(header) + " |")
        print("|---" * (len(header) + 1) + "|")
        for s, v in rows.items():
            m = np.nanmean(np.array(v, float), axis=0)
            print(f"| {s} | " + " | ".join(f"{x:.1f}" for x in m[:-1]) + f" | {int(round(m[-1] * len(v)))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
