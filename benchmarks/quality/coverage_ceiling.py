"""What the strokes' layout costs: the same pixel budget as the strokes, spread as single truth pixels.

Usage (from benchmarks/quality/):
    python coverage_ceiling.py [--sets dubai camvid grabcut] [--split even] [--style skipping] [--methods e c]

Per image, the simulated strokes (run.py's draw, seed 0 plus the image's
index) and, with as many labelled pixels as the strokes hold, truth pixels
drawn at random: anywhere; only in the regions (connected pieces of one
class) the strokes touched; only within ``--near`` pixels of the strokes in
those regions; and half of all pixels for a ceiling of the features. Each
is labelled by the classifier alone (e) and the default (c), scored as
run.py scores (the painted pixels excluded). The features are the same
throughout: what differs is only where the labelled pixels lie.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import EVAL, class_count, half, load_set, make_strokes, score  # noqa: E402

from napari_crf_label import label_image  # noqa: E402

METHODS = {"c": "features+crf", "e": "features"}


def truth_dots(allowed: np.ndarray, truth: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``count`` (at most) random pixels of ``allowed``, each labelled with its true class."""
    where = np.flatnonzero(allowed.ravel())
    pick = rng.choice(where, size=min(count, where.size), replace=False)
    out = np.zeros(truth.size, np.int32)
    out[pick] = truth.ravel()[pick]
    return out.reshape(truth.shape)


def touched_regions(truth: np.ndarray, strokes: np.ndarray, n: int) -> np.ndarray:
    """Return the pixels of every region (a connected piece of one class) that holds a stroke of its class."""
    out = np.zeros(truth.shape, bool)
    for k in range(1, n + 1):
        pieces, _ = ndimage.label(truth == k)
        hit = np.unique(pieces[strokes == k])
        out |= np.isin(pieces, hit[hit > 0])
    return out


def layouts(truth: np.ndarray, ignore: np.ndarray, strokes: np.ndarray, n: int, near: int,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return the stroke layouts compared: the strokes, and truth pixels of the same count placed four ways."""
    budget = int((strokes > 0).sum())
    labelled = (truth > 0) & ~ignore
    touched = touched_regions(truth, strokes, n) & labelled
    close = ndimage.binary_dilation(strokes > 0, iterations=near) & touched
    return {"strokes": strokes,
            "dots anywhere": truth_dots(labelled, truth, budget, rng),
            "dots in the regions the strokes touched": truth_dots(touched, truth, budget, rng),
            f"dots within {near} px of the strokes": truth_dots(close, truth, budget, rng),
            "half of all pixels": np.where(labelled & (rng.random(truth.shape) < 0.5), truth, 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=["dubai", "camvid", "grabcut"])
    parser.add_argument("--split", choices=["even", "odd", "all"], default="even")
    parser.add_argument("--style", choices=["simulator", "skeleton", "skipping"], default="skipping")
    parser.add_argument("--methods", nargs="*", default=["e", "c"], choices=sorted(METHODS))
    parser.add_argument("--near", type=int, default=15, help="pixels around the strokes for the near dots")
    parser.add_argument("--limit", type=int, help="at most this many images per set")
    args = parser.parse_args()
    for set_name in args.sets:
        items = half(list(load_set(set_name, EVAL)), args.split)[: args.limit]
        n = class_count(items)
        names = [f"c{k}" for k in range(1, n + 1)]
        table: dict[tuple[str, str], list[float]] = {}
        for i, (_name, image, truth, ignore, _human) in enumerate(items):
            strokes = make_strokes(args.style, np.where(ignore, 0, truth), 0.01, i, 0.5)
            rng = np.random.default_rng(i)
            for layout, marks in layouts(truth, ignore, strokes, n, args.near, rng).items():
                for letter in args.methods:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        labels = label_image(image, marks, classes=names, method=METHODS[letter]).labels
                    table.setdefault((layout, letter), []).append(score(labels, truth, ignore, marks, n)[1])
            print(f"{set_name}: {i + 1}/{len(items)}", file=sys.stderr, flush=True)
        print(f"\n{set_name}, {args.split} half, {args.style} strokes at 1 %, mean IoU ({len(items)} images)")
        for layout in dict.fromkeys(key[0] for key in table):
            cells = "  ".join(f"{letter} {np.mean(table[(layout, letter)]):5.1f}" for letter in args.methods)
            print(f"  {layout:<42} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
