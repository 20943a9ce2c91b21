"""Tiles and other independent steps on a few threads of this process (no Qt, no dask).

The CRF engine, the random forest's prediction and numpy release the GIL,
so threads use every core while the built CRFs stay in this process, where
the panel's cache keeps them between runs. Stage checkpoints of the
threads go to the caller's reporter (:mod:`~napari_crf_label.progress`),
which may stop them all; closing the generator stops them too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from .progress import Latch, current_reporter, reporting

__all__ = ["default_threads", "imap_threads", "resolve_threads"]

T = TypeVar("T")


def default_threads() -> int:
    """Return the number of cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def imap_threads(fn: Callable[[T], Any], items: Iterable[T], threads: int) -> Generator[tuple[int, Any], None, None]:
    """Yield ``(index, fn(item))`` as items complete, at most ``threads`` running at a time.

    Items start in order and only ``threads`` are in flight, so memory is
    bounded by the largest items. An exception of ``fn`` (``Cancelled``
    included) is raised here once the running items have stopped.
    """
    # one report at a time, and none after the reporter stopped a thread: the stage it stopped at is the last
    # it sees, as in a serial run
    latch = Latch(current_reporter())

    def run(item: T) -> Any:
        with reporting(latch):
            return fn(item)

    queue = iter(enumerate(items))
    pending: dict[Future, int] = {}
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="crf-tile") as pool:
        def submit() -> None:
            nxt = next(queue, None)
            if nxt is not None:
                pending[pool.submit(run, nxt[1])] = nxt[0]

        try:
            for _ in range(max(1, threads)):
                submit()
            while pending:
                # wake up now and then: a Ctrl-C that another thread received is raised here, promptly
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    result = future.result()
                    submit()
                    yield index, result
        finally:
            latch.stopped.set()  # the running items stop at their next checkpoint; the pool waits for them


def resolve_threads(threads: int | None) -> int:
    """Return the thread count of a run: ``threads``, or one per core when None (checked: >= 1)."""
    from .checks import finite_number
    from .errors import InputError

    if threads is None:
        return default_threads()
    if finite_number("threads", threads, integer=True) < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    return int(threads)
