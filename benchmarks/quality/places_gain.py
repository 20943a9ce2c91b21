"""What painting the places *Mark places to check* rings adds: a simulated user clicks the true class on each.

Usage (from benchmarks/quality/):
    python places_gain.py [--sets dubai camvid grabcut] [--styles skipping skeleton human] [--split odd]
                          [--rounds R] [--per-image FILE]

Per image: the default (c) on the strokes (run.py's draw); then the places
the panel rings after that run (``guided.suggest_points``, the product's
own code, :data:`~napari_crf_label.guided.SUGGESTED_POINTS` of them), each
clicked by a simulated user with the true class as a 5-pixel dot, and the
same number of places drawn at random for comparison; the default and the
classifier alone (e) run again on each. Places the ground truth leaves
unlabelled are skipped, as a user would skip what they cannot name.
With ``--rounds R`` the user marks and paints again after each run, R
times (the default only). Scored as run.py scores (the painted pixels
excluded).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import EVAL, class_count, half, load_set, make_strokes, score  # noqa: E402

from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.guided import SUGGESTED_POINTS, suggest_points  # noqa: E402

#: A click of napari's brush at size 5: the pixels within 2 steps of the clicked one (13 pixels).
DOT = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), 2)


def click(strokes: np.ndarray, places: np.ndarray, truth: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """Return the strokes with a dot of the true class at each place (unlabelled places skipped)."""
    out = strokes.copy()
    for row, col in places:
        k = truth[row, col]
        if k == 0 or ignore[row, col]:
            continue
        dot = np.zeros(truth.shape, bool)
        dot[row, col] = True
        dot = ndimage.binary_dilation(dot, DOT) & (out == 0)
        out[dot] = k
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=["dubai", "camvid", "grabcut"])
    parser.add_argument("--styles", nargs="*", default=["skipping", "skeleton", "human"],
                        choices=["simulator", "skeleton", "skipping", "human"])
    parser.add_argument("--split", choices=["even", "odd", "all"], default="odd")
    parser.add_argument("--limit", type=int, help="at most this many images per set")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of marking and painting (default 1)")
    parser.add_argument("--per-image", type=Path, metavar="FILE", help="append one JSON line per image")
    args = parser.parse_args()
    for set_name in args.sets:
        items = half(list(load_set(set_name, EVAL)), args.split)[: args.limit]
        n = class_count(items)
        names = [f"c{k}" for k in range(1, n + 1)]
        for style in args.styles:
            if (style == "human") != (items[0][4] is not None and set_name != "doodler"):
                continue  # human strokes where the set has them, simulated ones elsewhere
            table: dict[str, list[float]] = {}
            for i, (name, image, truth, ignore, human) in enumerate(items):
                strokes = human if style == "human" else make_strokes(style, np.where(ignore, 0, truth), 0.01, i,
                                                                      0.5)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    first = label_image(image, strokes, classes=names)
                    labelled = np.flatnonzero(((truth > 0) & ~ignore).ravel())
                    random = np.array([divmod(int(j), truth.shape[1]) for j in np.random.default_rng(i).choice(
                        labelled, SUGGESTED_POINTS, replace=False)])
                    marks = {"strokes": strokes,
                             f"+{SUGGESTED_POINTS} random places": click(strokes, random, truth, ignore),
                             f"+{SUGGESTED_POINTS} places marked": click(
                                 strokes, suggest_points(first.probabilities, truth.shape, strokes > 0), truth,
                                 ignore)}
                    row = {"set": set_name, "style": style, "split": args.split, "image": name}
                    for layout, painted in marks.items():
                        for letter, method in (("c", "features+crf"), ("e", "features")):
                            result = first if (layout == "strokes" and letter == "c") else label_image(
                                image, painted, classes=names, method=method)
                            miou = score(result.labels, truth, ignore, painted, n)[1]
                            table.setdefault(f"{layout}|{letter}", []).append(miou)
                            row[f"{layout}|{letter}"] = round(miou, 2)
                            if letter == "c" and layout.endswith("marked"):
                                after = result
                    for r in range(2, args.rounds + 1):  # mark again on the last result, paint, run
                        painted = click(painted, suggest_points(after.probabilities, truth.shape, painted > 0),
                                        truth, ignore)
                        after = label_image(image, painted, classes=names)
                        key = f"round {r}: +{r * SUGGESTED_POINTS} places marked|c"
                        table.setdefault(key, []).append(score(after.labels, truth, ignore, painted, n)[1])
                        row[key] = round(table[key][-1], 2)
                if args.per_image:
                    with open(args.per_image, "a") as fh:
                        fh.write(json.dumps(row) + "\n")
                print(f"{set_name} {style}: {i + 1}/{len(items)}", file=sys.stderr, flush=True)
            print(f"\n{set_name}, {style} strokes, {args.split} half ({len(items)} images), mean IoU c / e")
            for layout in marks:
                print(f"  {layout:<24} {np.mean(table[layout + '|c']):5.1f} / {np.mean(table[layout + '|e']):5.1f}")
            for key in [k for k in table if k.startswith("round")]:
                print(f"  {key[:-2]:<24} {np.mean(table[key]):5.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
