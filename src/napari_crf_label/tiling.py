"""Splitting a scene into overlapping tiles and blending tile results back.

Tiles are independent tasks (dask's ``map_overlap`` is the model): each is a
rectangle of the grid including its overlap with its neighbours. Results are
blended with weights that ramp linearly across the overlap, so the blended
field is continuous and a region boundary that crosses a tile edge shows no
seam.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "tile_grid", "tile_weights", "Blender"]


@dataclass(frozen=True)
class Tile:
    """A rectangle ``[y0:y1, x0:x1]`` of the grid, overlap included."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices of this tile."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width of this tile."""
        return self.y1 - self.y0, self.x1 - self.x0


def _axis_tiles(size: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Return (start, stop) of equal tiles along one axis, each at most ``window`` long.

    Uses the fewest tiles that cover ``size`` with at least ``overlap``
    shared pixels between neighbours, and spreads them evenly so no tile is
    a thin sliver.
    """
    if size <= window:
        return [(0, size)]
    n = -(-(size - overlap) // (window - overlap))
    length = -(-(size + (n - 1) * overlap) // n)
    return [((i * (size - length)) // (n - 1), (i * (size - length)) // (n - 1) + length) for i in range(n)]


def tile_grid(height: int, width: int, window: int, overlap: int) -> list[Tile]:
    """Return the tiles covering an ``height`` x ``width`` grid.

    Parameters
    ----------
    height, width : int
        Grid size, both >= 1.
    window : int
        Largest tile edge length (>= 1).
    overlap : int
        Least number of pixels shared by neighbouring tiles,
        ``0 <= overlap < window``.

    Returns
    -------
    list of Tile
        Row-major, of equal size, as few as cover the grid: every pixel lies
        in at least one tile.

    """
    if height < 1 or width < 1:
        raise ValueError(f"grid must be at least 1 x 1, got {height} x {width}")
    if window < 1:
        raise ValueError(f"window must be >= 1 pixel, got {window}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be >= 0 and smaller than the window ({window}), got {overlap}")
    return [Tile(y0, y1, x0, x1)
            for y0, y1 in _axis_tiles(height, window, overlap)
            for x0, x1 in _axis_tiles(width, window, overlap)]


def _ramp(n: int, ramp_start: int, ramp_end: int) -> np.ndarray:
    """Return 1-D blending weights of length ``n``, never 0.

    They rise over the first ``ramp_start`` samples, fall over the last
    ``ramp_end`` samples and are 1 in between.
    """
    w = np.ones(n, np.float32)
    if ramp_start > 0:
        k = min(ramp_start, n)
        w[:k] = np.minimum(w[:k], (np.arange(k, dtype=np.float32) + 1) / (ramp_start + 1))
    if ramp_end > 0:
        k = min(ramp_end, n)
        w[n - k:] = np.minimum(w[n - k:], (np.arange(k, 0, -1, dtype=np.float32)) / (ramp_end + 1))
    return w


def tile_weights(tile: Tile, height: int, width: int, overlap: int) -> np.ndarray:
    """Return the (h, w) blending weights of ``tile``.

    They ramp over the overlap on sides facing a neighbour and are flat on
    sides at the grid edge.
    """
    wy = _ramp(tile.y1 - tile.y0, overlap if tile.y0 > 0 else 0, overlap if tile.y1 < height else 0)
    wx = _ramp(tile.x1 - tile.x0, overlap if tile.x0 > 0 else 0, overlap if tile.x1 < width else 0)
    return wy[:, None] * wx[None, :]


class Blender:
    """Accumulates per-tile class probabilities into one (N, H, W) field."""

    def __init__(self, n_classes: int, height: int, width: int, overlap: int) -> None:
        self.shape = (height, width)
        self.overlap = overlap
        self.total = np.zeros((n_classes, height, width), np.float32)
        self.weight = np.zeros((height, width), np.float32)

    def add(self, tile: Tile, probabilities: np.ndarray) -> None:
        """Add one tile's (N, h, w) probabilities with its blending weights."""
        w = tile_weights(tile, *self.shape, self.overlap)
        ys, xs = tile.slices
        self.total[:, ys, xs] += probabilities * w
        self.weight[ys, xs] += w

    def result(self) -> np.ndarray:
        """Return the blended (N, H, W) probabilities (sums to 1 per pixel)."""
        if (self.weight <= 0).any():
            raise RuntimeError("some pixels were not covered by any tile")
        return self.total / self.weight
