"""Labelling a (Geo)TIFF larger than memory, window by window, into a tiled GeoTIFF."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import ClassSet
from ..crf import DEFAULT_ENGINE, check_engine
from ..errors import InputError
from ..features import FeatureParams
from ..parallel import resolve_threads
from ..resources import check_memory, estimate_run_bytes
from ..sources import RasterSource
from .classifier import attach_classifier
from .execute import iter_results
from .images import consume
from .inputs import (
    check_crf_params,
    check_geometry,
    feature_params,
    method_crf_params,
    method_settings,
    report_dropped,
    resolve_classes,
)
from .plan import crf_size, make_plan
from .priors import prior_alongside, scene_prior
from .results import RasterResult
from .settings import DEFAULT_METHOD, GDAL_CACHE_BYTES, ProgressCallback
from .tile import TileResult


def label_raster(
    image_path: str | Path,
    strokes_path: str | Path,
    out_path: str | Path,
    *,
    classes: ClassSet | list[str] | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    scale: float = 1.0,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    client: Any = None,
    threads: int | None = None,
    overwrite: bool = False,
    method: str = DEFAULT_METHOD,
    reach: float = FeatureParams.reach,
    proximity: str = "auto",
    staging: Any = None,
    engine: str = DEFAULT_ENGINE,
    **crf_params,
) -> RasterResult:
    """Label a (Geo)TIFF larger than memory, window by window, into a tiled GeoTIFF.

    The image and the strokes (a raster of the same grid: 0 = none, k =
    class k) are read per tile window and the labels written per window
    into ``out_path`` (uint8, deflate, 512-pixel blocks, nodata 0, the
    input's CRS and transform), so peak memory depends on the tile size,
    not the image size. Tiles are the same as :func:`label_image`'s, so on
    an image that fits in memory both give the same labels. Parameters as
    for :func:`label_image`; the file appears only when complete (with a
    ``staging``, an :class:`~napari_crf_label.io.atomic.Staging`, at its
    commit, together with the caller's other files). The inputs are never
    written over.

    Returns
    -------
    RasterResult
    """
    return consume(iter_label_raster(image_path, strokes_path, out_path, classes=classes, window=window,
                                      overlap=overlap, scale=scale, workers=workers, client=client,
                                      threads=threads, overwrite=overwrite, method=method, reach=reach,
                                      proximity=proximity, staging=staging, engine=engine, **crf_params), progress)


def iter_label_raster(image_path: str | Path, strokes_path: str | Path, out_path: str | Path, *,
                      classes: ClassSet | list[str] | str | None = None, window: int | None = None,
                      overlap: int | None = None, scale: float = 1.0, workers: int = 1, client: Any = None,
                      threads: int | None = None, overwrite: bool = False, method: str = DEFAULT_METHOD,
                      reach: float = FeatureParams.reach, proximity: str = "auto", staging: Any = None,
                      engine: str = DEFAULT_ENGINE,
                      **crf_params
                      ) -> Generator[tuple[int, int], None, RasterResult]:
    """Do what :func:`label_raster` does, yielding ``(tiles done, tiles total)``."""
    import rasterio  # here, not at the top: the panel imports this package and streams nothing

    from ..io.atomic import check_targets
    from ..io.raster import label_raster_writer

    # GDAL keeps the blocks it read up to 5 % of the machine's memory by default (1.2 GB of 24 GB: most of a
    # 1 GP run's 4.2 GB peak, filled by the stroke counts alone); a tile row's blocks are enough for the next
    # row's halo
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        t0 = time.perf_counter()
        inputs = [Path(image_path), Path(strokes_path)]
        check_targets([out_path], overwrite, inputs)
        params = check_crf_params(crf_params)
        check_geometry(scale, window, overlap, None, workers)
        check_engine(engine)
        source = RasterSource(Path(image_path), Path(strokes_path))
        info = source.describe()
        height, width = info["shape"]
        check_geometry(scale, window, overlap, (height, width), workers)
        cls = resolve_classes(classes, source.max_stroke() if classes is None else 0)
        n = len(cls)
        features = feature_params(method, reach, proximity)
        run_params = method_crf_params(params, method, features)  # the user's settings stay on record
        plan = make_plan(source, n, run_params, scale, window, overlap, source.stretch(), keep_probabilities=False,
                     engine=engine)
        core_counts = source.stroke_counts([t.core for t in plan.tasks], n).sum(axis=0)
        if core_counts[1:].sum() == 0:
            raise InputError("no strokes: paint at least one stroke (label > 0) before running")
        dropped = source.nodata_strokes(n)  # the cores cover the scene once, so counts subtract
        report_dropped(cls, dropped, core_counts[1:], info["nodata"])
        core_counts[1:] -= dropped
        missing = [name for name, c in zip(cls.names, core_counts[1:]) if c == 0]
        in_flight = max(int(np.prod(crf_size(t.outer.shape, scale))) for t in plan.tasks)
        threads = resolve_threads(threads)
        in_flight *= min(threads, len(plan.tasks)) if workers <= 1 and client is None else 2 * max(workers, 1)
        tile_full = max(int(np.prod(t.outer.shape)) for t in plan.tasks)
        side = int(np.sqrt(tile_full))
        check_memory(estimate_run_bytes((side, side), crf_size((side, side), scale), in_flight, n, source.bands),
                     f"labelling {width} x {height} pixels in {len(plan.tasks)} tile(s)")
        counts = np.zeros(n + 1, np.int64)
        with prior_alongside(source, plan, method, features, None, None, (), threads, workers, client
                             ) as (early, guard):
            yield from guard(attach_classifier(source, plan, method, features, threads=threads))
            prior = early if early is not None else (yield from scene_prior(source, plan))
            with label_raster_writer(out_path, (height, width), info["crs"], info["transform"], info["gcps"],
                                     overwrite, staging, inputs, classes=cls) as out:
                for item in guard(iter_results(source, plan, prior, None, (), workers, client, threads)):
                    if isinstance(item, TileResult):
                        core = plan.tasks[item.task.index].core
                        out.write(item.labels, core.y0, core.x0)
                        counts += np.bincount(item.labels.ravel(), minlength=n + 1)[: n + 1]
                    else:
                        yield item
        used = {"scale": scale, "window": window, "overlap": overlap, "core": plan.window, "halo": plan.halo,
                "tiles": len(plan.tasks), "workers": workers, "method": method, "engine": engine,
                **method_settings(method, features),
                **(prior.settings if prior is not None else {}), **params.as_dict()}
        return RasterResult(Path(out_path), cls, counts, missing, used, time.perf_counter() - t0)
