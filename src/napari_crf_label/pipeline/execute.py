"""Running a plan's tile tasks: in this process (serially or on threads), or on dask workers."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from ..crf import drain
from ..errors import InputError
from ..parallel import imap_threads
from ..progress import with_progress
from ..sources import ArraySource
from .cache import CRFCache
from .plan import Plan
from .priors import CoarsePrior, PendingPrior, task_prior
from .tile import TileResult, iter_tile, run_tile


def iter_results(source: Any, plan: Plan, prior: CoarsePrior | PendingPrior | None, cache: CRFCache | None,
                 base: tuple, workers: int, client: Any, threads: int = 1
                 ) -> Generator[tuple[int, int] | TileResult, None, None]:
    """Yield progress tuples and TileResults: serially, on ``threads`` threads, or on dask workers."""
    total = len(plan.tasks)
    if workers <= 1 and client is None and threads > 1 and total > 1:
        yield 0, total
        run = lambda i: drain(iter_tile(source, plan.tasks[i], plan.spec, task_prior(plan, prior, i),  # noqa: E731
                                        cache, base))
        for done, (_, result) in enumerate(imap_threads(run, range(total), threads), start=1):
            yield result
            yield done, total
        return
    if workers <= 1 and client is None:
        for i, task in enumerate(plan.tasks):
            yield i, total
            result = yield from with_progress(
                iter_tile(source, task, plan.spec, task_prior(plan, prior, i), cache, base), i, total)
            yield result
            yield i + 1, total
        return
    yield from _iter_dask(source, plan, prior, workers, client)


def _iter_dask(source: Any, plan: Plan, prior: CoarsePrior | None, workers: int, client: Any
               ) -> Generator[tuple[int, int] | TileResult, None, None]:
    """Run the tasks on a dask cluster (a local one of ``workers`` processes unless ``client`` is given).

    At most two tasks per worker are in flight, so memory stays bounded by
    the tile size whatever the scene size.
    """
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    own = None
    if client is None:
        own = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
        client = Client(own)
    elif isinstance(client, str):
        try:
            own_client = Client(client, timeout="10s")  # a wrong address fails in seconds, not minutes
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"cannot reach the dask scheduler {client!r}: {exc}") from None
        try:
            yield from _iter_dask(source, plan, prior, workers, own_client)
        finally:
            own_client.close()
        return
    # each task carries its own window of pixels: large by design, not a graph to optimise
    quiet = dask.config.set({"distributed.admin.large-graph-warning-threshold": "2GB"})
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        pending = iter(range(len(plan.tasks)))
        futures = as_completed()

        def submit_next() -> bool:
            i = next(pending, None)
            if i is None:
                return False
            task = plan.tasks[i]
            # in-memory sources ship only the task's window; raster sources are paths
            src = source.crop(task.outer) if isinstance(source, ArraySource) else source
            futures.add(client.submit(run_tile, src, task, plan.spec, task_prior(plan, prior, i),
                                      pure=False, key=f"crf-tile-{i}-{time.time_ns()}"))
            return True

        for _ in range(2 * n_workers):
            if not submit_next():
                break
        done = 0
        yield 0, len(plan.tasks)
        for future in futures:
            result = future.result()
            future.release()
            submit_next()
            done += 1
            yield result
            yield done, len(plan.tasks)
    finally:
        quiet.__exit__(None, None, None)  # dask.config.set restores the old value on exit
        if own is not None:
            client.close()
            own.close()
