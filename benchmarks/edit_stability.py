"""How much of the scene far from a short edit changes, re-checking the proximity at every edit or as the panel does.

Usage: python benchmarks/edit_stability.py [--edits 8] [--seed 3] [--brush 1.6]

The 4.2 MP photo and the user's strokes of ``tile_seams.py`` (``--brush``
widens them; 1.6 gives trial 20's 73 500 stroke pixels). Each edit adds one
short stroke (40-120 px long, 12 px brush) of the class the last result
shows at a random point, as a user confirming a region does; the run keeps
a cache between edits, as the panel does. Two ways, with the same edits:
"every edit" runs the held-out check at every run (the API's and the
command line's ``proximity="auto"``); "panel" keeps the check's choice
while :class:`~napari_crf_label._panel_state.ProximityCheck` says it holds
(the panel's rule). Prints, per edit, the proximity used and the share of
the valid pixels more than 200 px from the edit whose label changed.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage
from skimage.draw import disk, line

from napari_crf_label import label_image, read_image
from napari_crf_label._panel_state import ProximityCheck
from napari_crf_label.pipeline import CRFCache
from tile_seams import PHOTO, trial_strokes

CLASSES = ["water", "marsh", "green_veg"]
FAR = 200  # pixels from the edit


def short_stroke(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Return a short stroke's mask at a random labelled point and the class the result shows there."""
    h, w = labels.shape
    while True:
        y, x = rng.integers(100, min(h, w) - 100, 2)
        if labels[y, x] > 0:
            break
    angle, length = rng.uniform(0, np.pi), rng.integers(40, 120)
    y1, x1 = np.clip(int(y + length * np.sin(angle)), 0, h - 1), np.clip(int(x + length * np.cos(angle)), 0, w - 1)
    mask = np.zeros(labels.shape, bool)
    for yy, xx in zip(*line(y, x, y1, x1)):
        mask[disk((yy, xx), 6, shape=labels.shape)] = True
    return mask, int(labels[y, x])


def session(data, strokes: np.ndarray, edits: int, seed: int, panel: bool) -> list[tuple[str, float]]:
    """Return (proximity used, share of far pixels changed) per edit of one session."""
    rng, cache, params = np.random.default_rng(seed), CRFCache(), {"method": "features+crf", "reach": 100.0}
    check, labels, rows = None, None, []
    for _ in range(edits + 1):
        edit = np.zeros(strokes.shape, bool)
        if labels is not None:
            edit, k = short_stroke(labels, rng)
            strokes[edit] = k
        kept = panel and check is not None and check.holds_for(strokes, params)
        result = label_image(data, strokes, classes=CLASSES, cache=cache,
                             proximity=check.choice if kept else "auto")
        check = ProximityCheck.of(result, strokes, params) or check
        if labels is not None:
            far = ndimage.distance_transform_edt(~edit) > FAR
            rows.append((result.params["proximity"] + ("" if kept else " (checked)"),
                         float((result.labels != labels)[far & data.valid].mean())))
        labels = result.labels
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--brush", type=float, default=1.6)
    args = parser.parse_args()
    data = read_image(PHOTO)
    strokes = trial_strokes(data.shape, args.brush).astype(np.int32)
    print(f"{PHOTO.name}, {int((strokes > 0).sum())} stroke pixels, {args.edits} short edits (seed {args.seed}); "
          f"share of the pixels more than {FAR} px from each edit whose label changed")
    for name, panel in (("every edit checked", False), ("the panel's rule", True)):
        rows = session(data, strokes.copy(), args.edits, args.seed, panel)
        shares = [share for _, share in rows]
        print(f"{name}: " + ", ".join(f"{100 * share:.1f} % {used}" for used, share in rows))
        print(f"  mean {100 * np.mean(shares):.1f} %, max {100 * np.max(shares):.1f} %")


if __name__ == "__main__":
    main()
