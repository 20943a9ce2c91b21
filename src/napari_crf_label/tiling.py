"""Splitting a scene into tiles: disjoint cores, each read with a halo.

Tiles are independent tasks, as in dask's ``map_overlap``: a task reads
its core plus ``halo`` pixels of context on every side (clipped at the
scene edge), runs the CRF on all of it and keeps the labels of its core
only. Every pixel belongs to exactly one core, so results assemble without
blending and the same tasks run serially, in worker processes, on a dask
cluster, or window by window on a raster larger than memory. With a halo
wider than the CRF's reach, a region boundary crossing a core edge sees the
same context from both sides and shows no seam.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Tile", "TileTask", "split_axis", "tile_tasks"]


@dataclass(frozen=True)
class Tile:
    """A rectangle ``[y0:y1, x0:x1]`` of the scene."""

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


@dataclass(frozen=True)
class TileTask:
    """One unit of work: the ``core`` whose labels it produces, read as ``outer`` (core plus halo)."""

    index: int
    core: Tile
    outer: Tile

    @property
    def core_in_outer(self) -> tuple[slice, slice]:
        """Slices of the core within the outer rectangle."""
        return (slice(self.core.y0 - self.outer.y0, self.core.y1 - self.outer.y0),
                slice(self.core.x0 - self.outer.x0, self.core.x1 - self.outer.x0))


def split_axis(size: int, window: int) -> list[tuple[int, int]]:
    """Return the fewest near-equal (start, stop) chunks of at most ``window`` covering ``size``."""
    n = -(-size // window)
    bounds = [(i * size) // n for i in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def tile_tasks(height: int, width: int, window: int, halo: int) -> list[TileTask]:
    """Return the tasks covering a ``height`` x ``width`` scene.

    Parameters
    ----------
    height, width : int
        Scene size, both >= 1.
    window : int
        Largest core edge (>= 1); cores are near-equal, as few as cover the scene.
    halo : int
        Context read beyond the core on each side (>= 0), clipped at the edges.

    Returns
    -------
    list of TileTask
        Row-major; the cores partition the scene (every pixel in exactly one).
    """
    if height < 1 or width < 1:
        raise ValueError(f"grid must be at least 1 x 1, got {height} x {width}")
    if window < 1:
        raise ValueError(f"window must be >= 1 pixel, got {window}")
    if halo < 0:
        raise ValueError(f"overlap must be >= 0, got {halo}")
    tasks = []
    for y0, y1 in split_axis(height, window):
        for x0, x1 in split_axis(width, window):
            core = Tile(y0, y1, x0, x1)
            outer = Tile(max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo))
            tasks.append(TileTask(len(tasks), core, outer))
    return tasks
