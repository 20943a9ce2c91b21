"""What the panel's bar and stage text say during a run or an export, from the job's reports (no Qt).

A run reports stages from several threads at once: the scene prior's
thread (the proximity) beside the training and the preview, and one
thread per tile, each at its own stage. Named as they come, the text would
jump back and forth; :class:`RunProgress` decides which report to name and
where the bar goes, and the panel shows what it returns.
"""

from __future__ import annotations

__all__ = ["BEFORE_TILES", "BEFORE_SHARE", "TILE_STAGES", "RunProgress"]

#: The stages before the tiles, which run side by side (training the classifier, the scene's proximity).
BEFORE_TILES = ("training", "proximity")
#: Share of the bar they take, moved by the mean of their fractions: on a 9 MP GeoTIFF they took 3.1 s of a
#: 5.4 s run and the bar, which gave them 10 %, stood still meanwhile (trial 29).
BEFORE_SHARE = 0.4
#: Share of a tile's span of the bar taken by each stage inside a tile (start, end).
TILE_STAGES = {"features": (0.0, 0.25), "classifier": (0.25, 0.45), "building the CRF": (0.45, 0.5),
               "CRF": (0.5, 1.0)}
#: The text while the job computes its preview.
PREVIEW_TEXT = "Preview..."


class RunProgress:
    """The stage to name and the bar's position for one run or export.

    Parameters
    ----------
    exporting : bool
        An export: each report names its stage and sets the bar to its
        fraction, whatever came before.
    """

    def __init__(self, exporting: bool = False) -> None:
        self.exporting = exporting
        self.tiles = (0, 1)  # tiles done, tiles in all
        self._rank = 0  # how far the stages named went (0: training, 1: proximity, 2: tiles)
        self._complete = False  # the stage of that rank named last has reached 100 %
        self._tile_mark = (-1, -1, -1.0)  # (tiles done, stage, fraction) of the tile stage named last
        self._previewing = False  # the job computes its preview
        self._ended: set[str] = set()  # stages before the tiles that reported 100 %
        self._before: dict[str, float] = {}  # the fraction each stage before the tiles reported last

    def on_tiles(self, done: int, total: int) -> float | None:
        """Record tiles done / total; return the bar's new fraction (None: no change)."""
        if (done, total) == self.tiles:
            return None
        self.tiles = (done, total)
        return BEFORE_SHARE + (1 - BEFORE_SHARE) * done / max(total, 1)

    def _before_bar(self, stage: str, fraction: float) -> float:
        """Return the bar for a report of a stage before the tiles: their share times the mean of their fractions.

        The mean over the stages that reported so far: a run of the CRF
        alone trains nothing.
        """
        self._before[stage] = max(fraction, self._before.get(stage, 0.0))
        return BEFORE_SHARE * sum(self._before.values()) / len(self._before)

    def on_stage(self, stage: str, fraction: float) -> tuple[str | None, float | None] | None:
        """Return (text or None, bar fraction or None) to show for a stage report, or None to show nothing new.

        A text of None keeps the stage named, a bar of None keeps the bar.

        The proximity runs beside the preview and the training, and tiles
        run side by side: an earlier stage is named again only once the one
        named is complete (never back from the tiles), a stage before the
        tiles that reached 100 % is not named again, and among tiles only
        the one furthest on is named, until one ends.
        """
        if stage == "preview":
            self._previewing = True
            return PREVIEW_TEXT, None
        if stage == "proximity" and self._previewing:  # its thread starts beside the preview: Preview... still
            return None
        self._previewing = False  # the job's own stages come after its preview
        done, total = self.tiles
        if self.exporting:
            return f"{stage}: {fraction:.0%}", fraction
        if stage in self._ended:  # a stage that ended reports again (the prior's last step): not named back
            return None
        if stage in BEFORE_TILES and fraction >= 1.0:
            self._ended.add(stage)
        rank = (BEFORE_TILES.index(stage) if stage in BEFORE_TILES else
                len(BEFORE_TILES) if stage in TILE_STAGES else None)
        if rank is not None:
            if rank < self._rank and not self._complete:
                # not named, but the bar moves with it: both stages make the wait before the tiles
                waiting = stage in BEFORE_TILES and self._rank < len(BEFORE_TILES)
                return (None, self._before_bar(stage, fraction)) if waiting else None
            self._rank, self._complete = rank, stage in BEFORE_TILES and fraction >= 1.0
        if stage in TILE_STAGES and total > 1:
            mark = (done, list(TILE_STAGES).index(stage), fraction)
            if mark < self._tile_mark:
                return None
            self._tile_mark = mark
        where = f" (tile {min(done + 1, total)} of {total})" if total > 1 and stage in TILE_STAGES else ""
        ended = [other for other in BEFORE_TILES if other in self._ended and other != stage]
        if stage in BEFORE_TILES and ended:  # named after a later stage: not a step back (trial 31 read one)
            where = f" ({', '.join(ended)} done)"
        text = f"{stage}: {fraction:.0%}{where}"
        if stage in BEFORE_TILES:
            return text, self._before_bar(stage, fraction)
        if stage in TILE_STAGES:
            start, end = TILE_STAGES[stage]
            return text, BEFORE_SHARE + (1 - BEFORE_SHARE) * (done + start + (end - start) * fraction) / max(total, 1)
        return text, None
