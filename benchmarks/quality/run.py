"""Label quality of five methods on images with human ground truth, at several stroke budgets.

Usage: python benchmarks/quality/run.py [--data ../shared/data/eval] [--sets camvid grabcut]
                                       [--budgets 0.0025 0.01 0.03] [--folder DIR --ignore V ...]

Strokes are simulated from the ground truth (see simulate.py), the same for
every method; GrabCut is also scored with its real human strokes. Methods:
(a) the original tool's CRF settings, (b) our CRF alone, (c) our CRF with
the prior of the feature classifier and the geodesic proximity (the
default), (d) scikit-image random_walker, (e) the feature classifier alone.
Metrics per image, averaged: pixel accuracy, mean IoU over classes,
boundary F-score (3 px tolerance), seconds per image. Prints one table;
``--split even|odd`` scores only half of each set.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulate import simulate_strokes  # noqa: E402

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
    folder = root / name
    if name == "camvid":
        for img in sorted((folder / "images").glob("*.png")):
            mask = np.array(Image.open(folder / "masks" / img.name)).astype(np.int32)
            yield img.stem, np.array(Image.open(img).convert("RGB")), mask + 1, mask == 11, None
    elif name == "grabcut":
        for img in sorted((folder / "images").glob("*.jpg")):
            mask = np.array(Image.open(folder / "masks" / f"{img.stem}.png"))
            human = np.array(Image.open(folder / "strokes_sparse" / f"{img.stem}.png")).astype(np.int32)
            truth = np.where(mask == 255, 1, 2).astype(np.int32)
            yield img.stem, np.array(Image.open(img).convert("RGB")), truth, mask == 128, human
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
        if only and key[0] not in only:
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
    return out


def score(labels: np.ndarray, truth: np.ndarray, ignore: np.ndarray, strokes: np.ndarray, n: int) -> tuple:
    """Return (pixel accuracy, mean IoU, boundary F) in percent; ignored and stroke pixels excluded."""
    skip = ignore | (strokes > 0)
    classes = list(range(1, n + 1))
    return (100 * pixel_accuracy(labels, truth, skip), 100 * mean_iou(labels, truth, classes, skip),
            100 * boundary_f_score(labels, truth, 3.0, ignore))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data" / "eval")
    parser.add_argument("--sets", nargs="*", default=["camvid", "grabcut"])
    parser.add_argument("--folder", type=Path, help="any folder with images/ and masks/")
    parser.add_argument("--ignore", type=int, nargs="*", default=[], help="mask values to ignore (with --folder)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.0025, 0.01, 0.03])
    parser.add_argument("--split", choices=["all", "even", "odd"], default="all")
    parser.add_argument("--limit", type=int, help="at most this many images per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--region-share", type=float, default=1.0,
                        help="share of regions the simulated strokes visit (largest per class always; default 1)")
    parser.add_argument("--methods", nargs="*", default=None, help="letters of the methods to run (default all)")
    args = parser.parse_args()

    sets = {s: list(load_set(s, args.data)) for s in args.sets}
    if args.folder:
        sets[args.folder.name] = list(load_folder(args.folder, args.ignore))
    rows = []
    for set_name, items in sets.items():
        items = half(items, args.split)
        items = items[: args.limit] if args.limit else items
        n = class_count(items)
        settings = [(f"{b * 100:g}% simulated", b) for b in args.budgets]
        if items and items[0][4] is not None:
            settings.append(("human strokes", None))
        for label, budget in settings:
            acc: dict[str, list] = {}
            for i, (_name, image, truth, ignore, human) in enumerate(items):
                truth_ok = np.where(ignore, 0, truth)
                strokes = human if budget is None else simulate_strokes(truth_ok, budget, seed=args.seed + i,
                                                                          region_share=args.region_share)
                if not strokes.any():
                    continue
                for method, (labels, seconds) in method_results(image, strokes, n, args.methods).items():
                    acc.setdefault(method, []).append((*score(labels, truth, ignore, strokes, n), seconds))
            for method, values in acc.items():
                v = np.array(values)
                rows.append((set_name, label, method, *v.mean(axis=0), len(v)))
                print(f"{set_name:8s} {label:16s} {method:26s} acc {v[:, 0].mean():6.2f}  mIoU {v[:, 1].mean():6.2f}"
                      f"  BF {v[:, 2].mean():6.2f}  {v[:, 3].mean():6.2f} s/img  ({len(v)} images)", flush=True)
    print("\n| set | strokes | method | pixel acc | mean IoU | boundary F | s/image | images |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.2f} | {r[7]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
