"""Guided annotation: a walk over the CRF's windows asking for every class in each (no Qt).

The original tool showed one ``-w`` window at a time and asked for
examples of each class in turn. :class:`GuidedWalk` is that walk over the
same tiling the CRF uses (:func:`guide_windows`): the current window and
class, moving on, going back, marking a class absent from a window, time
spent per window. :func:`window_coverage` counts stroke pixels per window
and class; :func:`coverage_lines` writes them for the report;
:func:`weak_windows` ranks windows by the CRF's uncertainty, for a review
walk after a run; and :func:`suggest_points` picks the places where a
result is least sure, for a user to click a class on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .strokes import downscale_strokes
from .tiling import Tile, tile_tasks

__all__ = ["GuidedWalk", "guide_windows", "window_coverage", "coverage_lines", "weak_windows", "window_states",
           "suggest_points", "places_csv", "unmarked_missing", "DEFAULT_GUIDE_WINDOW", "SUGGESTED_POINTS"]

#: Window side at CRF resolution when none is given (the CRF's own default tile core).
DEFAULT_GUIDE_WINDOW = 1024
#: Places suggested at a time. A simulated user who clicked the true class on each of the 30 after a
#: run (a 5-pixel dot) took the default, held-out half, from 51.0 to 59.0 mean IoU on Dubai (skipping
#: strokes), 36.2 to 50.8 on CamVid (skeleton strokes) and 86.8 to 93.7 on GrabCut (human strokes);
#: 30 random places gave 57.7 / 49.4 / 92.6 (benchmarks/quality/RESULTS.md, stop 26, places_gain.py).
SUGGESTED_POINTS = 30
#: Full-resolution pixels a suggested place keeps from the result's class edges: a dot on an edge
#: could not say which side it means.
SUGGEST_EDGE = 4


def guide_windows(shape: tuple[int, int], window: int | None = None, scale: float = 1.0) -> list[Tile]:
    """Return the windows (tile cores, full-resolution pixels) a run with these settings uses.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.
    window : int, optional
        The ``-w`` window in image pixels; default the CRF's
        (:data:`DEFAULT_GUIDE_WINDOW` pixels at CRF resolution).
    scale : float
        The CRF's downscale factor (only used for the default window).
    """
    core = max(1, round(DEFAULT_GUIDE_WINDOW / scale)) if not window else int(window)
    return [task.core for task in tile_tasks(shape[0], shape[1], core, 0)]


def window_coverage(strokes: np.ndarray, windows: Sequence[Tile], n_classes: int) -> np.ndarray:
    """Return (W, N) stroke pixel counts: window w, class k + 1."""
    out = np.zeros((len(windows), n_classes), np.int64)
    for i, win in enumerate(windows):
        counts = np.bincount(np.asarray(strokes[win.slices]).ravel().astype(np.int64), minlength=n_classes + 1)
        out[i] = counts[1:n_classes + 1]
    return out


def window_states(coverage: np.ndarray, skipped: set[tuple[int, int]] | frozenset = frozenset()) -> list[str]:
    """Return per window "done" (every class painted or marked absent), "started" or "empty" (no stroke)."""
    states = []
    for w, counts in enumerate(coverage):
        answered = [counts[k] > 0 or (w, k) in skipped for k in range(len(counts))]
        states.append("done" if all(answered) else "started" if counts.any() else "empty")
    return states


def weak_windows(probabilities: np.ndarray, windows: Sequence[Tile], shape: tuple[int, int]) -> list[int]:
    """Return window indices, least certain first: mean of 1 - the winning class's probability.

    ``probabilities`` (N, h, w) are at CRF resolution for an image of ``shape``.
    """
    height, width = shape
    uncertainty = 1.0 - probabilities.max(axis=0)
    h, w = uncertainty.shape
    scores = []
    for win in windows:
        rows = slice(int(win.y0 * h / height), max(int(win.y0 * h / height) + 1, round(win.y1 * h / height)))
        cols = slice(int(win.x0 * w / width), max(int(win.x0 * w / width) + 1, round(win.x1 * w / width)))
        scores.append(float(uncertainty[rows, cols].mean()))
    return sorted(range(len(windows)), key=lambda i: (-scores[i], i))


def suggest_points(probabilities: np.ndarray, shape: tuple[int, int], avoid: np.ndarray | None = None,
                   count: int = SUGGESTED_POINTS, spacing: float | None = None, edge: float = SUGGEST_EDGE
                   ) -> np.ndarray:
    """Return up to ``count`` places where a result is least sure, as (row, col) pixels of the image.

    Least sure: the smallest margin between the two likeliest classes.
    Passed over: places within ``edge`` pixels of a change of the
    result's class or of the image's border, in ``avoid`` (strokes, no data), or within
    ``spacing`` pixels of a place already chosen (default: the image's
    shorter side / 25, at least 25), so that the places spread over the
    image's doubtful areas instead of lining one boundary.

    Parameters
    ----------
    probabilities : ndarray, shape (N, h, w)
        The result's class probabilities at CRF resolution.
    shape : tuple of int
        The image's (H, W).
    avoid : ndarray of bool, shape (H, W), optional
        Pixels no place may fall on.
    count : int
        Most places returned.
    spacing, edge : float
        Full-resolution pixels.

    Returns
    -------
    ndarray of int, shape (k, 2), k <= count
        Least sure first.
    """
    height, width = shape
    n, h, w = probabilities.shape
    if n < 2 or count < 1 or h == 0 or w == 0:  # one class, or a result that kept no probabilities
        return np.zeros((0, 2), np.int64)
    top = np.sort(probabilities, axis=0)[-2:]
    margin = (top[1] - top[0]).astype(np.float64)
    per_pixel = h / height  # grid pixels per image pixel (the same along both axes, up to rounding)
    labels = probabilities.argmax(axis=0)
    across, down = labels[:, 1:] != labels[:, :-1], labels[1:] != labels[:-1]
    edges = np.zeros((h, w), bool)  # both pixels of every pair whose classes differ
    edges[:, 1:] |= across
    edges[:, :-1] |= across
    edges[1:] |= down
    edges[:-1] |= down
    reach = int(np.ceil(edge * per_pixel))
    if reach > 1:
        from scipy.ndimage import binary_dilation

        edges = binary_dilation(edges, iterations=reach - 1)
    margin[edges] = np.inf
    # nor at the image's border, where a ring is cut off (trial 36 got three on the top rows)
    margin[:reach], margin[h - reach:], margin[:, :reach], margin[:, w - reach:] = np.inf, np.inf, np.inf, np.inf
    if avoid is not None:  # every grid cell holding an avoided pixel, as a run maps its strokes
        margin[downscale_strokes(avoid, (h, w)) > 0] = np.inf
    spacing = max(25.0, min(height, width) / 25) if spacing is None else spacing
    radius = spacing * per_pixel
    flat = margin.ravel()
    # the lowest margins first; a few thousand candidates per place are plenty once the spacing blocks some
    pool = min(flat.size, count * 4000)
    candidates = np.argpartition(flat, pool - 1)[:pool] if pool < flat.size else np.arange(flat.size)
    candidates = candidates[np.argsort(flat[candidates], kind="stable")]
    taken = np.zeros((h, w), bool)  # within the spacing of a place chosen
    span = int(np.ceil(radius))
    dy, dx = np.mgrid[-span:span + 1, -span:span + 1]
    disc = dy**2 + dx**2 < radius**2
    chosen: list[tuple[int, int]] = []
    for index in candidates:
        if not np.isfinite(flat[index]) or len(chosen) == count:
            break
        r, c = divmod(int(index), w)
        if taken[r, c]:
            continue
        chosen.append((r, c))
        r0, c0 = max(0, r - span), max(0, c - span)
        window = taken[r0:r + span + 1, c0:c + span + 1]
        window |= disc[r0 - (r - span):r0 - (r - span) + window.shape[0],
                       c0 - (c - span):c0 - (c - span) + window.shape[1]]
    points = np.array(chosen, np.float64).reshape(-1, 2)
    # the grid pixel's centre, in image pixels
    points[:, 0] = np.minimum(((points[:, 0] + 0.5) * height / h).astype(np.int64), height - 1)
    points[:, 1] = np.minimum(((points[:, 1] + 0.5) * width / w).astype(np.int64), width - 1)
    return points.astype(np.int64)


def unmarked_missing(missing: Sequence[str], names: Sequence[str], walk: GuidedWalk | None) -> list[str]:
    """Return the classes without strokes (``missing``, by name) that ``walk`` did not mark absent in every window.

    A class marked *Absent here* in every window is one the user said the
    image has none of: the panel and the command line warn of the others
    only (trial 31 was warned of a class it had marked absent everywhere).
    """
    absent = walk.absent_everywhere() if walk is not None else set()
    return [name for name in missing if list(names).index(name) + 1 not in absent]


def places_csv(points: np.ndarray, labels: np.ndarray, names: Sequence[str], transform=None) -> str:
    """Return the places to check as CSV: row, column, the class the result gives there, and map x, y.

    ``transform`` (an affine transform of a georeferenced image) adds the
    map coordinates of each pixel's centre, for a GIS; without it they are empty.
    """
    lines = ["row,col,class,x,y"]
    for row, col in points:
        k = int(labels[row, col])
        name = names[k - 1] if 0 < k <= len(names) else ""
        # the affine's terms written out: ``transform * point`` warns in affine 3 (trial 33 saw it 30 times)
        x, y = ((transform.a * (col + 0.5) + transform.b * (row + 0.5) + transform.c,
                 transform.d * (col + 0.5) + transform.e * (row + 0.5) + transform.f)
                if transform is not None else ("", ""))
        lines.append(f"{row},{col},{name},{x},{y}")
    return "\n".join(lines) + "\n"


def coverage_lines(windows: Sequence[Tile], coverage: np.ndarray, names: Sequence[str],
                   skipped: set[tuple[int, int]] | frozenset = frozenset(),
                   seconds: Sequence[float] | None = None) -> list[str]:
    """Return the report's per-window lines: stroke pixels per class, classes marked absent, time spent."""
    lines = []
    for w, (win, counts) in enumerate(zip(windows, coverage)):
        parts = [f"{name} {'absent' if (w, k) in skipped and not counts[k] else int(counts[k])}"
                 for k, name in enumerate(names)]
        time = f"; {seconds[w]:.1f} s" if seconds is not None else ""
        flag = "" if counts.any() else " (no strokes)"
        lines.append(f"  window {w + 1} (rows {win.y0}-{win.y1}, cols {win.x0}-{win.x1}){flag}: "
                     f"{', '.join(parts)}{time}")
    return lines


@dataclass
class GuidedWalk:
    """Where a guided pass is: which window and which class is asked for, what was skipped, time per window.

    ``order`` is the sequence of windows visited (all of them in reading
    order for annotation; ranked by uncertainty for a review, which asks
    for no particular class).
    """

    windows: list[Tile]
    n_classes: int
    order: list[int] = field(default_factory=list)
    step: int = 0
    class_index: int = 0
    ask_classes: bool = True
    skipped: set[tuple[int, int]] = field(default_factory=set)
    seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.windows:
            raise ValueError("a guided walk needs at least one window")
        if self.n_classes < 1:
            raise ValueError(f"a guided walk needs at least one class, got {self.n_classes}")
        self.order = list(self.order) or list(range(len(self.windows)))
        self.seconds = list(self.seconds) or [0.0] * len(self.windows)

    @property
    def window(self) -> int:
        """Index of the current window."""
        return self.order[self.step]

    @property
    def label(self) -> int:
        """The class asked for (1-based)."""
        return self.class_index + 1

    @property
    def finished(self) -> bool:
        """True on the last class of the last window."""
        return self.step == len(self.order) - 1 and (not self.ask_classes or self.class_index == self.n_classes - 1)

    def next(self) -> bool:
        """Move to the next class, or to the next window after the last class; False at the very end."""
        if self.finished:
            return False
        if self.ask_classes and self.class_index < self.n_classes - 1:
            self.class_index += 1
        else:
            self.step += 1
            self.class_index = 0
        return True

    def previous(self) -> bool:
        """Move back one class (to the last class of the previous window from the first); False at the start."""
        if self.step == 0 and self.class_index == 0:
            return False
        if self.ask_classes and self.class_index > 0:
            self.class_index -= 1
        else:
            self.step -= 1
            self.class_index = self.n_classes - 1 if self.ask_classes else 0
        return True

    def skip(self) -> bool:
        """Mark the asked class absent from the current window and move on."""
        self.skipped.add((self.window, self.class_index))
        return self.next()

    def absent_everywhere(self) -> set[int]:
        """Return the classes (1-based) marked absent in every window: the user said the image has none."""
        return {k + 1 for k in range(self.n_classes)
                if all((w, k) in self.skipped for w in range(len(self.windows)))}

    def add_time(self, seconds: float) -> None:
        """Count annotation time to the current window."""
        self.seconds[self.window] += max(0.0, float(seconds))

    def to_dict(self) -> dict:
        """Return the walk as plain JSON values (saved with the session)."""
        return {"windows": [[t.y0, t.y1, t.x0, t.x1] for t in self.windows], "n_classes": self.n_classes,
                "order": self.order, "step": self.step, "class_index": self.class_index,
                "ask_classes": self.ask_classes, "skipped": sorted([list(p) for p in self.skipped]),
                "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict) -> GuidedWalk:
        """Rebuild a walk saved with :meth:`to_dict` (ValueError when it is not one)."""
        try:
            windows = [Tile(*map(int, w)) for w in d["windows"]]
            walk = cls(windows, int(d["n_classes"]), order=[int(i) for i in d["order"]], step=int(d["step"]),
                       class_index=int(d["class_index"]), ask_classes=bool(d["ask_classes"]),
                       skipped={(int(w), int(k)) for w, k in d["skipped"]},
                       seconds=[float(s) for s in d["seconds"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a saved guided walk ({exc})") from None
        if not (0 <= walk.step < len(walk.order) and 0 <= walk.class_index < walk.n_classes):
            raise ValueError("not a saved guided walk (position out of range)")
        return walk
