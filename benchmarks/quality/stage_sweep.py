"""Variants of the default's prior and CRF on the arrays stages.py recorded (tuning half only).

Usage (from benchmarks/quality/): python stage_sweep.py [--sets dubai camvid grabcut] [--split even]
                                  [--style skipping] [--limit N] [--cache DIR] [--variants NAME ...]

Per image the forest's probabilities and the sampled proximity recorded by
``stages.py`` (run it first, same options) are combined per variant
and the default's CRF settings run on the result (one tile, as stages.py).
Prints the mean IoU and pixel accuracy per variant and set; "default"
reproduces the recorded run's labels.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import add_tuning_arguments, class_count, half, load_set, make_strokes, score  # noqa: E402

from napari_crf_label.crf import CRFParams, TileCRF  # noqa: E402
from napari_crf_label.features import FeatureParams  # noqa: E402
from napari_crf_label.pipeline.combine import feature_prior  # noqa: E402
from napari_crf_label.pipeline.inputs import method_crf_params  # noqa: E402

Prior = Callable[..., np.ndarray]  # (p, near, fp, gap) -> prior


def check_gap(cache: Path, key: str, image: np.ndarray, strokes: np.ndarray, n: int) -> float:
    """Return the held-out check's balanced accuracy of the classifier alone minus that with the proximity.

    As the pipeline's check scores them (``holdout_sweep.check_scores``: the
    default's growth against none); NaN when the check has nothing to
    compare. Kept in ``cache``.
    """
    from holdout_sweep import check_scores

    path = cache / f"gap_{key}.npy"
    if not path.exists():
        np.save(path, check_scores(image, strokes, n, FeatureParams())[0])
    s = np.load(path)
    return float(s[1] - s[0])


def default_prior(p: np.ndarray, near: np.ndarray, fp: FeatureParams, gap: float = np.nan) -> np.ndarray:
    """Return the default's prior (pipeline.combine.feature_prior with the settings ``fp``)."""
    return feature_prior(p, near, fp.confidence_power, fp.area_balance)


def floored(eps: float) -> Prior:
    """Return a prior whose proximity is mixed with the uniform: (1 - eps) near + eps / N."""
    def prior(p, near, fp, gap=np.nan):
        return feature_prior(p, (1 - eps) * near + eps / near.shape[0], fp.confidence_power, fp.area_balance)
    return prior


def gated(threshold: float, above: float = -np.inf) -> Prior:
    """Return a prior that drops the proximity wherever the forest's confidence exceeds ``threshold``.

    Only on images whose check gap exceeds ``above`` (elsewhere the default).
    """
    def prior(p, near, fp, gap=np.nan):
        if gap <= above:  # a NaN gap (nothing to compare) gates
            return default_prior(p, near, fp)
        n = p.shape[0]
        conf = np.clip((p.max(axis=0) - 1 / n) / (1 - 1 / n), 0.0, 1.0)
        near = np.where(conf[None] > threshold, 1.0 / n, near)
        return feature_prior(p, near, fp.confidence_power, fp.area_balance)
    return prior


def margin_gated(threshold: float) -> Prior:
    """Return a prior that drops the proximity where the forest's two likeliest classes differ by > ``threshold``."""
    def prior(p, near, fp, gap=np.nan):
        top = np.sort(p, axis=0)
        near = np.where((top[-1] - top[-2])[None] > threshold, 1.0 / p.shape[0], near)
        return feature_prior(p, near, fp.confidence_power, fp.area_balance)
    return prior


def ramped(low: float, high: float) -> Prior:
    """Return a prior whose proximity exponent falls linearly to 0 between confidences ``low`` and ``high``."""
    def prior(p, near, fp, gap=np.nan):
        n = p.shape[0]
        conf = np.clip((p.max(axis=0) - 1 / n) / (1 - 1 / n), 0.0, 1.0)
        scale = np.clip((high - conf) / (high - low), 0.0, 1.0)
        near = np.where(near > 0, near, 1e-30) ** scale[None]  # feature_prior raises it to (1 - c) ** power
        return feature_prior(p, near / near.sum(axis=0, keepdims=True), fp.confidence_power, fp.area_balance)
    return prior


def two_gates(kept: float, faded: float, margin: float = FeatureParams.holdout_margin) -> Prior:
    """Return a prior gated at ``kept``, or at ``faded`` on images whose check faded the proximity (gap > margin)."""
    def prior(p, near, fp, gap=np.nan):
        return gated(faded if gap > margin else kept)(p, near, fp, gap)
    return prior


def variants() -> dict[str, tuple[Prior, dict, dict]]:
    """Return {name: (prior function, FeatureParams changes, CRF changes)}."""
    out: dict[str, tuple[Prior, dict, dict]] = {"default": (default_prior, {}, {})}
    for power in (2.0, 3.0):
        out[f"pow{power:g}"] = (default_prior, {"confidence_power": power}, {})
    for eps in (0.05, 0.2):
        out[f"floor{eps:g}"] = (floored(eps), {}, {})
    for t in (0.5, 0.7):
        out[f"gate{t:g}"] = (gated(t), {}, {})
    for g0 in (-0.05, 0.0, 0.05):
        for power in (2.0, 3.0):
            out[f"pow{power:g} if gap>{g0:g}"] = (
                default_prior, lambda gap, g0=g0, power=power: {"confidence_power": power if gap > g0 else 1.0}, {})
    for t in (0.6, 0.8):
        out[f"gate{t:g}"] = (gated(t), {}, {})
    for g0 in (-0.05, 0.0, 0.05):
        out[f"gate0.5 if gap>{g0:g}"] = (gated(0.5, g0), {}, {})
    for t in (0.65, 0.75):
        out[f"gate{t:g}"] = (gated(t), {}, {})
    for m in (0.4, 0.5, 0.6):
        out[f"margin{m:g}"] = (margin_gated(m), {}, {})
    out["ramp0.6-0.8"] = (ramped(0.6, 0.8), {}, {})
    out["ramp0.5-0.9"] = (ramped(0.5, 0.9), {}, {})
    for kept, faded in ((0.75, 0.5), (0.75, 0.3), (0.7, 0.5), (0.75, 0.0)):
        out[f"gate{kept:g}, faded {faded:g}"] = (two_gates(kept, faded), {}, {})
    for keep in (0.8, 0.9):
        out[f"gate0.7 keep{keep:g}"] = (gated(0.7), {}, {"keep": keep})
    for b in (0.25, 0.35):
        out[f"gate0.75 balance{b:g}"] = (gated(0.75), {"area_balance": b}, {})
    out["gate0.75 compat0.25"] = (gated(0.75), {"compat_share": 0.25}, {})
    out["gate0.75 pow1.25"] = (gated(0.75), {"confidence_power": 1.25}, {})
    out["balance0.25"] = (default_prior, {"area_balance": 0.25}, {})
    out["compat0.25"] = (default_prior, {"compat_share": 0.25}, {})
    out["compat1"] = (default_prior, {"compat_share": 1.0}, {})
    out["sxy0.167"] = (default_prior, {"bilateral_share": 1 / 6}, {})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tuning_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="*")
    args = parser.parse_args()
    vs = variants()
    if args.variants:
        vs = {k: v for k, v in vs.items() if k in args.variants}
    for set_name in args.sets:
        items = half(list(load_set(set_name, args.data)), args.split)[: args.limit]
        n = class_count(items)
        scores: dict[str, list] = {}
        for i, (name, image, truth, ignore, human) in enumerate(items):
            strokes = human if args.style == "human" else make_strokes(
                args.style, np.where(ignore, 0, truth), 0.01, args.seed + i, 0.5)
            rec = np.load(args.cache / f"stages_{set_name}_{name}_{args.style}_{i}.npz")
            p, near = rec["p"], rec["near"]
            gap = check_gap(args.cache, f"{set_name}_{name}_{args.style}_{i}", image, strokes, n)
            skip = strokes > 0
            crfs: dict[tuple, TileCRF] = {}
            for vname, (fn, fchanges, cchanges) in vs.items():
                if callable(fchanges):  # settings chosen per image from the check's gap
                    fchanges = fchanges(gap)
                fp = replace(FeatureParams(), **fchanges)
                params = replace(method_crf_params(CRFParams(), "features+crf", fp),
                                 **{k: v for k, v in cchanges.items() if k != "keep"})
                if params.kernel_key() not in crfs:
                    crfs[params.kernel_key()] = TileCRF(image, n, params)
                w = fp.prior_weight
                q = crfs[params.kernel_key()].infer(strokes, w * fn(p, near, fp, gap) + (1 - w) / n)
                labels = q.argmax(0).astype(np.int32) + 1
                if "keep" in cchanges:  # where the forest is this sure, the prior's class stays (no CRF flip)
                    n_ = p.shape[0]
                    sure = (p.max(axis=0) - 1 / n_) / (1 - 1 / n_) > cchanges["keep"]
                    labels[sure] = fn(p, near, fp, gap).argmax(0)[sure] + 1
                labels[skip] = strokes[skip]
                scores.setdefault(vname, []).append(score(labels, truth, ignore, strokes, n)[:2])
            print(f"  {set_name} {name} gap {gap:.3f} " + " ".join(f"{k} {v[-1][1]:.1f}" for k, v in scores.items()),
                  file=sys.stderr, flush=True)
        for vname, v in scores.items():
            m = np.mean(v, axis=0)
            print(f"{set_name:8s} {args.split} {args.style:10s} {vname:16s} mIoU {m[1]:6.2f}  acc {m[0]:6.2f}"
                  f"  ({len(v)} images)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
