"""Simulated user strokes from ground truth: seeded centreline scribbles inside eroded regions.

Protocol (in the spirit of the centreline scribbles of ScribblePrompt,
Wong et al., ECCV 2024, arXiv:2312.07381, and the deterministic evaluation
scribbles of ScribbleSeg, Chen et al. 2023, arXiv:2303.11320):

1. For every class, split its ground-truth mask into connected components;
   ignore components smaller than ``min_area`` pixels and ignored labels.
2. Erode each component by ``margin`` pixels (less if it would vanish), so
   no stroke reaches a boundary, and take the skeleton of what remains.
3. A stroke is a walk of up to ``length`` pixels along the skeleton from a
   random skeleton pixel, drawn with a ``width``-pixel brush and clipped to
   the eroded component. While the budget is small for the number of
   components, strokes are shortened (to no less than 8 pixels) so that
   every component can get one, as a person would dab each region briefly.
4. Every component gets one stroke first (largest first); further strokes
   go to components drawn at random with probability proportional to their
   area, until the painted pixels reach ``budget`` (a fraction of the
   labelled pixels) or no more can be added.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same
inputs and seed give the same strokes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["simulate_strokes", "skeleton_strokes"]


def _walk(skeleton: np.ndarray, start: tuple[int, int], length: int, rng: np.random.Generator) -> list:
    """Return up to ``length`` skeleton pixels visited by a walk that avoids revisiting pixels."""
    path = [start]
    seen = {start}
    y, x = start
    h, w = skeleton.shape
    for _ in range(length - 1):
        steps = [(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if (dy or dx) and 0 <= y + dy < h and 0 <= x + dx < w
                 and skeleton[y + dy, x + dx] and (y + dy, x + dx) not in seen]
        if not steps:
            break
        y, x = steps[rng.integers(len(steps))]
        seen.add((y, x))
        path.append((y, x))
    return path


def simulate_strokes(truth: np.ndarray, budget: float, *, seed: int = 0, ignore: tuple[int, ...] = (),
                     min_area: int = 100, margin: int = 5, length: int = 80, width: int = 3,
                     max_strokes: int = 2000, region_share: float = 1.0) -> np.ndarray:
    """Return strokes (0 = none, k = truth class k) painted from ground truth.

    Parameters
    ----------
    truth : ndarray of int, shape (H, W)
        Ground-truth classes, 1-based (0 and ``ignore`` values are never painted).
    budget : float
        Fraction of labelled pixels to paint, e.g. 0.01 for 1 %.
    seed : int
        Seed of every random choice.
    ignore : tuple of int
        Truth values never painted (e.g. an "unlabelled" class).
    min_area, margin, length, width : int
        Smallest region painted, erosion from its boundary, stroke length
        along the skeleton and brush width (pixels).
    max_strokes : int
        Upper bound on strokes, whatever the budget.
    region_share : float
        Share of regions painted at all: each class's largest region always
        is, every other region with this probability, as a person who skips
        some instances (1.0, the protocol above, paints every region).
    """
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(seed)
    labelled = (truth > 0) & ~np.isin(truth, ignore)
    target = budget * labelled.sum()
    regions = []
    for k in np.unique(truth[labelled]):
        comps, n = ndimage.label(truth == k)
        for i, sl in enumerate(ndimage.find_objects(comps), start=1):
            mask = comps[sl] == i
            if mask.sum() < min_area:
                continue
            eroded = mask
            for m in range(margin, 0, -1):
                eroded = ndimage.binary_erosion(mask, iterations=m)
                if eroded.any():
                    break
            else:
                eroded = mask
            skeleton = skeletonize(eroded)
            points = np.argwhere(skeleton)
            if len(points):
                regions.append({"k": int(k), "slice": sl, "eroded": eroded, "skeleton": skeleton,
                                "points": points, "area": int(mask.sum())})
    strokes = np.zeros(truth.shape, np.int32)
    if not regions:
        return strokes
    regions.sort(key=lambda r: -r["area"])
    if region_share < 1.0:
        seen: set[int] = set()
        kept = []
        for r in regions:  # largest first: a class's first region is its largest
            if r["k"] not in seen or rng.random() < region_share:
                kept.append(r)
            seen.add(r["k"])
        regions = kept
    areas = np.array([r["area"] for r in regions], float)
    order = list(range(len(regions)))
    brush = np.ones((width, width), bool)
    first_length = int(min(length, max(8, target / (len(regions) * width))))
    painted = 0
    for n_strokes in range(max_strokes):
        if painted >= target:
            break
        first = n_strokes < len(order)
        i = order[n_strokes] if first else int(rng.choice(len(regions), p=areas / areas.sum()))
        r = regions[i]
        start = tuple(r["points"][rng.integers(len(r["points"]))])
        path = _walk(r["skeleton"], start, first_length if first else length, rng)
        line = np.zeros(r["eroded"].shape, bool)
        line[tuple(np.array(path).T)] = True
        line = ndimage.binary_dilation(line, brush) & r["eroded"]
        view = strokes[r["slice"]]
        new = line & (view == 0)
        view[new] = r["k"]
        painted += int(new.sum())
    return strokes


def skeleton_strokes(truth: np.ndarray, budget: float, *, seed: int = 0, min_area: int = 100, margin: int = 5,
                     piece: int = 40, width: int = 3) -> np.ndarray:
    """Return strokes (0 = none, k = truth class k) made of short pieces of region centrelines.

    A second protocol, unlike :func:`simulate_strokes` in three ways a
    person's strokes can be: every region of a class is eroded by
    ``margin`` pixels and skeletonised, the skeleton is cut into pieces of
    at most ``piece`` x ``piece`` pixels (grid cells, offset by the seed),
    and the classes take turns, each painting its biggest remaining piece
    (``width``-pixel brush, clipped to the eroded region), until the budget
    is spent. Small regions have only small pieces, so with a small budget
    they are left unpainted, as a hurried person leaves them.

    Parameters
    ----------
    truth : ndarray of int, shape (H, W)
        Ground-truth classes, 1-based (0 is never painted).
    budget : float
        Fraction of labelled pixels to paint, e.g. 0.01 for 1 %.
    seed : int
        Offset of the cutting grid (the only random choice).
    min_area, margin, piece, width : int
        Smallest region painted, erosion, piece size and brush width (pixels).
    """
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(seed)
    labelled = truth > 0
    target = budget * labelled.sum()
    oy, ox = rng.integers(piece, size=2)
    rows = (np.arange(truth.shape[0]) + oy) // piece
    cols = (np.arange(truth.shape[1]) + ox) // piece
    cell = rows[:, None] * (cols.max() + 1) + cols[None, :]
    queues: dict[int, list] = {}
    brush = np.ones((width, width), bool)
    for k in np.unique(truth[labelled]):
        comps, _ = ndimage.label(truth == k)
        sizes = np.bincount(comps.ravel())
        keep = np.flatnonzero(sizes >= min_area)
        keep = keep[keep > 0]
        eroded = ndimage.binary_erosion(np.isin(comps, keep), iterations=margin)
        skeleton = skeletonize(eroded)
        # a piece: what one grid cell holds of one connected stretch of skeleton
        ids, n = ndimage.label(skeleton, np.ones((3, 3)))
        key = ids.astype(np.int64) * int(cell.max() + 1) + cell
        key[~skeleton] = -1
        uniq, inverse, counts = np.unique(key[skeleton], return_inverse=True, return_counts=True)
        points = np.argwhere(skeleton)
        order = np.argsort(-counts, kind="stable")
        groups = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
        queues[int(k)] = [(points[groups[j]], eroded) for j in order]
    strokes = np.zeros(truth.shape, np.int32)
    painted = 0
    while painted < target and any(queues.values()):
        for k in sorted(queues):
            if not queues[k] or painted >= target:
                continue
            pts, eroded = queues[k].pop(0)
            y0, x0 = np.maximum(pts.min(axis=0) - width, 0)
            y1, x1 = pts.max(axis=0) + width + 1
            line = np.zeros((y1 - y0, x1 - x0), bool)
            line[pts[:, 0] - y0, pts[:, 1] - x0] = True
            line = ndimage.binary_dilation(line, brush) & eroded[y0:y1, x0:x1]
            view = strokes[y0:y1, x0:x1]
            new = line & (view == 0)
            view[new] = k
            painted += int(new.sum())
    return strokes
