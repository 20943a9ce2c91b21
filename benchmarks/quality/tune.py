"""Mean IoU of the default method under other settings of the geodesic proximity (the tuning objective).

Usage: python benchmarks/quality/tune.py [--edge-sigma 2] [--edge-weight 120000] [--reach 100]
                                        [--prior-weight 0.97] [--split even|odd|all] [--data ../shared/data/eval]

Prints the mean IoU of ``features+crf`` on the three tuning sets of
``RESULTS.md`` (CamVid at 1 % simulated strokes, GrabCut at 1 % simulated
strokes and with the human strokes) and their mean, the objective by which
the defaults were chosen on the even half. Strokes and seeds are those of
``run.py --split`` on the same half, so its table and this script agree.
The settings reach the library through :class:`FeatureParams`, as the
defaults do.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _eval import EVAL  # noqa: E402
from run import class_count, half, load_set, score  # noqa: E402
from simulate import simulate_strokes  # noqa: E402

from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.features import FeatureParams  # noqa: E402
from napari_crf_label.pipeline import images as pipeline_images  # noqa: E402


def use_settings(edge_sigma: float, edge_weight: float, prior_weight: float) -> None:
    """Make every run take these settings of FeatureParams (the reach has its own keyword)."""
    feature_params = pipeline_images.feature_params

    def tuned(method: str, reach: float, proximity: str = "auto"):
        return dataclasses.replace(feature_params(method, reach, proximity), edge_sigma=edge_sigma,
                                   edge_weight=edge_weight, prior_weight=prior_weight)

    pipeline_images.feature_params = tuned  # where label_image looks it up


def set_score(name: str, data: Path, budget: float | None, split: str, reach: float) -> float:
    """Return the mean IoU of features+crf over one half of a set (budget None: the human strokes)."""
    items = half(list(load_set(name, data)), split)
    n = class_count(items)
    values = []
    for i, (_name, image, truth, ignore, human) in enumerate(items):
        strokes = human if budget is None else simulate_strokes(np.where(ignore, 0, truth), budget, seed=i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = label_image(image, strokes, classes=[f"c{k}" for k in range(1, n + 1)], reach=reach).labels
        values.append(score(labels, truth, ignore, strokes, n)[1])
    return float(np.mean(values))


def main() -> int:
    defaults = FeatureParams()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EVAL)
    parser.add_argument("--edge-sigma", type=float, default=defaults.edge_sigma)
    parser.add_argument("--edge-weight", type=float, default=defaults.edge_weight)
    parser.add_argument("--reach", type=float, default=defaults.reach)
    parser.add_argument("--prior-weight", type=float, default=defaults.prior_weight)
    parser.add_argument("--split", choices=["all", "even", "odd"], default="even")
    args = parser.parse_args()
    use_settings(args.edge_sigma, args.edge_weight, args.prior_weight)
    scores = {"CamVid 1 %": set_score("camvid", args.data, 0.01, args.split, args.reach),
              "GrabCut 1 %": set_score("grabcut", args.data, 0.01, args.split, args.reach),
              "GrabCut human": set_score("grabcut", args.data, None, args.split, args.reach)}
    print(f"edge sigma {args.edge_sigma:g}, edge weight {args.edge_weight:g}, reach {args.reach:g}, "
          f"prior weight {args.prior_weight:g}, "
          f"{args.split} half: " + "  ".join(f"{k} {v:.2f}" for k, v in scores.items())
          + f"  objective {np.mean(list(scores.values())):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
