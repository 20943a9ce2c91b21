"""Does the held-out stroke check tell, per image, when the proximity should fade fast? (tuning half)

Usage (from benchmarks/quality/): python holdout_sweep.py [--sets dubai camvid grabcut] [--split even]
                                  [--style skipping] [--limit N] [--cache DIR]

Per image: the mean IoU of the CRF result with each candidate fading
(cached classifier probabilities and geodesic distances as in sweep2.py,
full resolution, the default's CRF), and the held-out check's score of each
candidate (``pipeline.holdout``, on its small grid). Prints per set the mean
IoU of each fixed candidate, of the per-image best (the oracle) and, per
margin, of fading to no proximity or to growth 1 where the classifier alone
is ahead on the held-out pieces by more than that margin (the default's rule:
``FeatureParams.holdout_margin``, ``holdout_growth``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import add_tuning_arguments, class_count, half, load_set, make_strokes, score  # noqa: E402
from sweep2 import cached_inputs  # noqa: E402

from napari_crf_label.crf import CRFParams, TileCRF  # noqa: E402
from napari_crf_label.features import FeatureParams  # noqa: E402
from napari_crf_label.geodesic import proximity  # noqa: E402
from napari_crf_label.pipeline import holdout  # noqa: E402
from napari_crf_label.pipeline.plan import crf_size  # noqa: E402
from napari_crf_label.pipeline.priors import feature_prior  # noqa: E402
from napari_crf_label.resample import resize_bands  # noqa: E402
from napari_crf_label.strokes import downscale_strokes  # noqa: E402

#: (reach_growth, confidence_power); the first is today's default.
CANDIDATES = ((0.1, 1.0), (0.0, 1.0), (0.25, 1.0), (0.5, 1.0), (1.0, 1.0), (1e6, 1.0))
#: The growths the check compares: today's default and none of the proximity (the classifier decides).
CHECKED = (0.1, np.inf)


def check_scores(image: np.ndarray, strokes: np.ndarray, n: int, fp: FeatureParams) -> tuple[np.ndarray, float]:
    """Return the held-out check's candidate scores on its grid, and its seconds."""
    h, w = strokes.shape
    f = min(1.0, (holdout.HOLDOUT_PIXELS / (h * w)) ** 0.5)
    shape = crf_size((h, w), f)
    t0 = time.perf_counter()
    s = holdout.holdout_scores(resize_bands(image, shape), downscale_strokes(strokes, shape), n, fp,
                               fp.reach * f, CHECKED)
    return s, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tuning_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("/tmp/q3"))
    parser.add_argument("--pixels", type=int, default=holdout.HOLDOUT_PIXELS, help="the check's grid")
    parser.add_argument("--trees", type=int, default=holdout.HOLDOUT_TREES, help="the check's forest")
    args = parser.parse_args()
    holdout.HOLDOUT_PIXELS, holdout.HOLDOUT_TREES = args.pixels, args.trees
    args.cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    fp = FeatureParams()
    crf_kw = {"sxy_bilateral": 20.0, "compat_bilateral": 5.0}
    for set_name in args.sets:
        items = half(list(load_set(set_name, args.data)), args.split)[: args.limit]
        n = class_count(items)
        ious, checks, times = [], [], []
        for i, (name, image, truth, ignore, human) in enumerate(items):
            strokes = human if args.style == "human" else make_strokes(args.style, np.where(ignore, 0, truth),
                                                                      0.01, i, 0.5)
            p, d, _ = cached_inputs(args.cache, "tex", f"{set_name}_{name}_{args.style}_{i}", image, strokes, n)
            ki = args.out / f"iou_{set_name}_{name}_{args.style}_{i}.npy"
            if ki.exists():
                row = np.load(ki)
            else:
                crf = TileCRF(image, n, CRFParams(**crf_kw))
                skip = strokes > 0
                row = []
                for growth, power in CANDIDATES:
                    prior = fp.prior_weight * feature_prior(p, proximity(d, fp.reach, growth), power,
                                                            fp.area_balance) + (1 - fp.prior_weight) / n
                    labels = crf.infer(strokes, prior).argmax(0).astype(np.int32) + 1
                    labels[skip] = strokes[skip]
                    row.append(score(labels, truth, ignore, strokes, n)[1])
                row.append(score(p.argmax(0).astype(np.int32) + 1, truth, ignore, strokes, n)[1])
                row = np.array(row)
                np.save(ki, row)
            s, t = check_scores(image, strokes, n, fp)
            ious.append(row)
            checks.append(s)
            times.append(t)
            pick = 4 if s[1] - s[0] > fp.holdout_margin else 0
            print(f"  {set_name} {name} iou " + " ".join(f"{v:5.1f}" for v in row) + "  check "
                  + " ".join(f"{v:.3f}" for v in s) + f"  pick {pick} {t:.1f}s", file=sys.stderr, flush=True)
        iou, chk = np.array(ious), np.array(checks)
        picks = [4 if s[1] - s[0] > fp.holdout_margin else 0 for s in chk]
        gaps = chk[:, 1] - chk[:, 0]
        for th in (0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18):
            faded = np.isfinite(gaps) & (gaps > th)
            means = [np.mean([iou[k, j if f else 0] for k, f in enumerate(faded)]) for j in (5, 4)]
            print(f"{set_name:8s} margin {th:g}: to no proximity {means[0]:6.2f}, to growth 1 {means[1]:6.2f}"
                  f"  ({int(faded.sum())} of {len(gaps)} faded)")
        for j, c in enumerate(CANDIDATES):
            print(f"{set_name:8s} {args.split} {args.style:9s} growth {c[0]:g} power {c[1]:g}: {iou[:, j].mean():6.2f}")
        print(f"{set_name:8s} classifier alone: {iou[:, -1].mean():6.2f}")
        print(f"{set_name:8s} oracle: {iou[:, :-1].max(axis=1).mean():6.2f}")
        print(f"{set_name:8s} check's choice: {np.mean([iou[k, j] for k, j in enumerate(picks)]):6.2f}"
              f"  picks {np.bincount(picks, minlength=len(CANDIDATES)).tolist()}  check {np.mean(times):.2f} s/image",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
