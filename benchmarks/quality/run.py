"""Label quality of five methods on images with human ground truth, several stroke styles, held-out half.

Usage (from benchmarks/quality/): python run.py            # the full held-out table, one command
       python run.py [--sets camvid grabcut dubai doodler] [--styles simulator skeleton skipping human]
                     [--budgets 0.01] [--split odd|even|all] [--limit N] [--methods a b c d e]
                     [--seed S] [--seeds N] [--folder DIR --ignore V ...]

Sets: CamVid (11 classes), GrabCut (2), Dubai aerial land cover (5) and
Doodler's saved sessions (its real strokes, scored against its own labels:
agreement with that tool, not correctness). Stroke styles, the same
strokes for every method: ``simulator`` (simulate.py: every region gets a
scribble, then by area), ``skeleton`` (short pieces of region centrelines,
classes taking turns, biggest pieces first), ``skipping`` (the simulator
painting only each class's largest region and a share of the others) and
``human`` (GrabCut's strokes_sparse, Doodler's doodles). The defaults were
tuned on the even half with the skipping style; by default this prints
the odd (held-out) half at 1 % for every style, each row marked with its
half. Methods: (a) the original tool's CRF settings, (b) our CRF alone,
(c) our CRF with the prior of the feature classifier and the geodesic
proximity (the default), (d) scikit-image random_walker, (e) the feature
classifier alone. Metrics per image, averaged: pixel accuracy, mean IoU
over classes, boundary F-score (3 px tolerance), seconds per image.
``--seeds N`` draws each image's simulated strokes N times (seeds S to
S + N - 1) and shows the lowest and highest per-draw mean beside the
mean: with 6-18 images a set's mean moves by points between draws.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _eval import EVAL  # noqa: E402
from doodler_agreement import session  # noqa: E402
from simulate import simulate_strokes, skeleton_strokes  # noqa: E402

from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.metrics import boundary_f_score, mean_iou, pixel_accuracy  # noqa: E402

ORIGINAL = {"compat_gaussian": 0, "sxy_bilateral": 60, "schan": 1, "compat_bilateral": 100, "iterations": 30}


def original_tool(image: np.ndarray, strokes: np.ndarray, names: list[str]) -> np.ndarray:
    """Return labels as the original tool made them (see ../shared/reference/original-tool.md).

    It used pydensecrf's unary_from_labels with N + 1 labels and gt_prob 0.5
    (a painted class 0.5, each other label 0.5 / N); over N labels that is
    gt_prob N / (2N - 1). Bilateral kernel only, 30 iterations, then a
    5-pixel median filter.
    """
    from scipy.ndimage import median_filter

    n = len(names)
    labels = label_image(image, strokes, classes=names, method="crf", gt_prob=n / (2 * n - 1), **ORIGINAL).labels
    return median_filter(labels, size=5)


def load_set(name: str, root: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
    """Yield (name, image, truth 1..N, ignore mask, human strokes or None) of a known eval set."""
    folder = root / ("doodler_sessions" if name == "doodler" else name)
    if name == "camvid":
        for img in sorted((folder / "images").glob("*.png")):
            mask = np.array(Image.open(folder / "masks" / img.name)).astype(np.int32)
            yield img.stem, np.array(Image.open(img).convert("RGB")), mask + 1, mask == 11, None
    elif name == "dubai":
        for img in sorted((folder / "images").glob("*.jpg")):
            mask = np.array(Image.open(folder / "masks" / f"{img.stem}.png")).astype(np.int32)
            ignore = (mask == 5) | (mask == 255)  # the annotators' "unlabeled" and never annotated
            yield img.stem, np.array(Image.open(img).convert("RGB")), np.where(ignore, 0, mask + 1), ignore, None
    elif name == "grabcut":
        for img in sorted((folder / "images").glob("*.jpg")):
            mask = np.array(Image.open(folder / "masks" / f"{img.stem}.png"))
            human = np.array(Image.open(folder / "strokes_sparse" / f"{img.stem}.png")).astype(np.int32)
            truth = np.where(mask == 255, 1, 2).astype(np.int32)
            yield img.stem, np.array(Image.open(img).convert("RGB")), truth, mask == 128, human
    elif name == "doodler":  # Doodler's own labels as the "truth": agreement, not correctness
        for path in sorted(folder.glob("*.npz")):
            image, strokes, label, _n = session(path)
            yield path.stem, image, label.astype(np.int32), np.zeros(label.shape, bool), strokes
    else:
        raise ValueError(f"unknown set {name}")


def load_folder(folder: Path, ignore: list[int]) -> Iterator[tuple]:
    """Yield image/mask pairs of any folder with images/ and masks/ (same stems); mask values are classes."""
    for img in sorted((folder / "images").iterdir()):
        masks = list((folder / "masks").glob(f"{img.stem}.*"))
        if not masks:
            continue
        mask = np.array(Image.open(masks[0])).astype(np.int32)
        values = [v for v in np.unique(mask) if v not in ignore]
        truth = np.zeros_like(mask)
        for k, v in enumerate(values, start=1):
            truth[mask == v] = k
        yield img.stem, np.array(Image.open(img).convert("RGB")), truth, np.isin(mask, ignore), None


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every tuning sweep takes: data, sets, half (the tuning one by default), style, limit, cache."""
    parser.add_argument("--data", type=Path, default=EVAL)
    parser.add_argument("--sets", nargs="*", default=["dubai", "camvid", "grabcut"])
    parser.add_argument("--split", choices=["even", "odd", "all"], default="even")
    parser.add_argument("--style", default="skipping")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/q2"))


def half(items: list, split: str) -> list:
    """Return the images of a split: all, the even-indexed (tuning) or the odd-indexed (held-out) half."""
    return items if split == "all" else items[0::2] if split == "even" else items[1::2]


def class_count(items: list) -> int:
    """Return the number of classes of a set's items (ignored mask values, CamVid's 12, are no class)."""
    return max(int(t[~ign].max()) for _, _, t, ign, _ in items)


def method_results(image: np.ndarray, strokes: np.ndarray, n: int, only: list[str] | None = None
                   ) -> dict[str, tuple[np.ndarray, float]]:
    """Return {method: (labels, seconds)} for the five methods (or those whose letter is in ``only``)."""
    from skimage.segmentation import random_walker

    out = {}
    names = [f"c{k}" for k in range(1, n + 1)]

    def timed(key, fn):
        if (only and key[0] not in only) or (not only and key[0] == "f"):
            return
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                labels = fn()
        out[key] = (labels, time.perf_counter() - t0)

    timed("a original CRF", lambda: original_tool(image, strokes, names))
    timed("b CRF alone", lambda: label_image(image, strokes, classes=names, method="crf").labels)
    timed("c CRF + features (default)",
          lambda: label_image(image, strokes, classes=names, method="features+crf").labels)
    timed("d random_walker", lambda: random_walker(image.astype(float) / 255, strokes, beta=130,
                                                   channel_axis=-1, mode="cg_j").astype(np.int32))
    timed("e features only", lambda: label_image(image, strokes, classes=names, method="features").labels)
    timed("f default before issue 16", lambda: old_default(image, strokes, names))
    return out


def old_default(image: np.ndarray, strokes: np.ndarray, names: list[str]) -> np.ndarray:
    """Return the labels of features+crf as it was before issue 16 (full proximity, no balance, sxy 60)."""
    from napari_crf_label.pipeline import images

    settings = images.feature_params

    def before(method: str, reach: float, proximity: str = "auto"):
        return dataclasses.replace(settings(method, reach, proximity), confidence_power=0.0, area_balance=0.0,
                                   bilateral_share=1.0, compat_share=1.0, reach_growth=0.0, texture=False,
                                   holdout_margin=np.inf)

    images.feature_params = before  # label_image reads its settings there (as tune.py does)
    try:
        return label_image(image, strokes, classes=names).labels
    finally:
        images.feature_params = settings


def override_features(settings: list[str]) -> None:
    """Make label_image run with these FeatureParams settings ("name=value", value a Python literal)."""
    import ast

    from napari_crf_label.pipeline import images

    if not settings:
        return
    changes = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in settings)}
    settings_of_run = images.feature_params
    images.feature_params = lambda method, reach, proximity="auto": dataclasses.replace(
        settings_of_run(method, reach, proximity), **changes)
    print(f"feature settings changed: {changes}", flush=True)


def score(labels: np.ndarray, truth: np.ndarray, ignore: np.ndarray, strokes: np.ndarray, n: int) -> tuple:
    """Return (pixel accuracy, mean IoU, boundary F) in percent; ignored and stroke pixels excluded."""
    skip = ignore | (strokes > 0)
    classes = list(range(1, n + 1))
    return (100 * pixel_accuracy(labels, truth, skip), 100 * mean_iou(labels, truth, classes, skip),
            100 * boundary_f_score(labels, truth, 3.0, ignore))


def seed_spread(miou: np.ndarray, seeds: np.ndarray) -> str:
    """Return the lowest and highest of the per-draw means (``"53.8-56.4"``), or "" for one draw."""
    means = [miou[seeds == s].mean() for s in np.unique(seeds)]
    return "" if len(means) < 2 else f"{min(means):.1f}-{max(means):.1f}"


STYLES = ("simulator", "skeleton", "skipping", "human")

#: The half and style the defaults were tuned on (RESULTS.md); every other row is held out.
TUNED = ("even", "skipping")


def make_strokes(style: str, truth: np.ndarray, budget: float, seed: int, region_share: float) -> np.ndarray:
    """Return simulated strokes of one style (see simulate.py) for ground truth 1..N (0 = never painted)."""
    if style == "skeleton":
        return skeleton_strokes(truth, budget, seed=seed)
    share = region_share if style == "skipping" else 1.0
    return simulate_strokes(truth, budget, seed=seed, region_share=share)


def settings_of(styles: list[str], budgets: list[float], has_human: bool, share: float) -> list[tuple]:
    """Return (row label, style, budget) of every stroke setting a set is run with."""
    out = []
    for style in styles:
        if style == "human":
            if has_human:
                out.append(("human strokes", "human", None))
            continue
        name = f"skipping {share:g}" if style == "skipping" else style
        out += [(f"{b * 100:g}% {name}", style, b) for b in budgets]
    return out


def half_label(set_name: str, split: str, style: str) -> str:
    """Return how a row relates to the tuning: the half it scores and whether that half and style were tuned on."""
    if set_name == "doodler":
        return "all, never tuned"
    if split == "all":
        return "all (both halves)"
    return f"{split} (tuned)" if (split, style) == TUNED else f"{split} (held out)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=EVAL)
    parser.add_argument("--sets", nargs="*", default=["camvid", "grabcut", "dubai", "doodler"])
    parser.add_argument("--folder", type=Path, help="any folder with images/ and masks/")
    parser.add_argument("--ignore", type=int, nargs="*", default=[], help="mask values to ignore (with --folder)")
    parser.add_argument("--styles", nargs="*", default=list(STYLES), choices=STYLES)
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.01])
    parser.add_argument("--split", choices=["all", "even", "odd"], default="odd")
    parser.add_argument("--limit", type=int, help="at most this many images per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1,
                        help="stroke draws per image (seeds --seed .. --seed + N - 1; human strokes once): with "
                             "6-18 images a set's mean moves by points between draws, which a row then shows")
    parser.add_argument("--region-share", type=float, default=0.5,
                        help="share of regions the skipping style paints (largest per class always; default 0.5)")
    parser.add_argument("--methods", nargs="*", default=None,
                        help="letters of the methods to run (default a-e; f, the default before issue 16, on request)")
    parser.add_argument("--feature", nargs="*", default=[], metavar="NAME=VALUE",
                        help="FeatureParams settings to run with instead of the defaults (Python literals), "
                             "e.g. context_sigmas='(2, 8)'")
    parser.add_argument("--per-image", type=Path, metavar="FILE",
                        help="also write every image's scores there (JSON lines: set, strokes, image, method, ...)")
    args = parser.parse_args()
    override_features(args.feature)

    if args.sets and not args.data.is_dir():
        print(f"run.py: no evaluation data at {args.data} (give --data, or set NAPARI_CRF_LABEL_SHARED to the "
              "folder that holds data/eval)", file=sys.stderr)
        return 2
    per_image = args.per_image.open("w") if args.per_image else None
    t_start = time.perf_counter()
    sets = {s: list(load_set(s, args.data)) for s in args.sets}
    if args.folder:
        sets[args.folder.name] = list(load_folder(args.folder, args.ignore))
    rows = []
    for set_name, items in sets.items():
        if set_name != "doodler":  # Doodler's sessions were never tuned on: all of them count
            items = half(items, args.split)
        items = items[: args.limit] if args.limit else items
        if not items:
            continue
        n_set = class_count(items)
        for label, style, budget in settings_of(args.styles, args.budgets, items[0][4] is not None,
                                                args.region_share):
            if set_name == "doodler" and style != "human":
                continue  # Doodler's labels are its own output: only its own strokes compare with it
            acc: dict[str, list] = {}
            draws = range(args.seed, args.seed + (1 if budget is None else args.seeds))
            for seed in draws:
                for i, item in enumerate(items):
                    _name, image, truth, ignore, human = item
                    n = class_count([item]) if set_name == "doodler" else n_set
                    strokes = human if budget is None else make_strokes(style, np.where(ignore, 0, truth), budget,
                                                                        seed + i, args.region_share)
                    if not strokes.any():
                        continue
                    for method, (labels, seconds) in method_results(image, strokes, n, args.methods).items():
                        acc.setdefault(method, []).append((*score(labels, truth, ignore, strokes, n), seconds, seed))
                        if per_image:
                            a, m, bf, _, _ = acc[method][-1]
                            per_image.write(json.dumps({"set": set_name, "strokes": label, "image": _name,
                                                        "seed": seed, "method": method, "acc": a, "miou": m,
                                                        "bf": bf}) + "\n")
                            per_image.flush()
            where = half_label(set_name, args.split, style)
            for method, values in acc.items():
                v = np.array(values)
                spread, n_draws = seed_spread(v[:, 1], v[:, 4]), len(np.unique(v[:, 4]))
                count = f"{len(v) // n_draws} images" + (f" x {n_draws} draws" if n_draws > 1 else "")
                rows.append((set_name, where, label, method, *v[:, :4].mean(axis=0), count, spread))
                print(f"{set_name:8s} {where:18s} {label:18s} {method:26s} acc {v[:, 0].mean():6.2f}"
                      f"  mIoU {v[:, 1].mean():6.2f}{spread:>15s}  BF {v[:, 2].mean():6.2f}  {v[:, 3].mean():6.2f} "
                      f"s/img  ({count})", flush=True)
    print("\n| set | half | strokes | method | pixel acc | mean IoU | mean IoU per draw | boundary F | s/image | "
          "runs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.1f} | {r[9] or '-'} | {r[6]:.1f} | "
              f"{r[7]:.2f} | {r[8]} |")
    print(f"\n{time.perf_counter() - t_start:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
