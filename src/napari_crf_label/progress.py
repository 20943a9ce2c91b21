"""Progress inside long stages, and cancelling them (no Qt).

The pipeline's generators yield ``(tiles done, total)`` between tiles and
CRF iterations. Stages that run as one call (features, the classifier, the
geodesic proximity, an export) call :func:`checkpoint` between their steps
instead: a no-op unless the caller installed a reporter with
:func:`reporting`, which then sees the stage and how far it is, and may
raise :class:`Cancelled` to stop the work at that point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Cancelled", "Reporter", "checkpoint", "counted", "current_reporter", "reporting", "stop_when",
           "with_progress"]

#: ``reporter(stage, fraction)``: stage name and its share done (0..1).
Reporter = Callable[[str, float], None]

_local = threading.local()


class Cancelled(Exception):  # noqa: N818 - it is a request, not a failure
    """Raised inside a stage when its caller asked it to stop."""


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send the checkpoints of this thread to ``reporter`` while the block runs."""
    previous = getattr(_local, "reporter", None)
    _local.reporter = reporter
    try:
        yield
    finally:
        _local.reporter = previous


def stop_when(stop: threading.Event) -> Reporter:
    """Return a reporter that only raises Cancelled once ``stop`` is set (work that shows no progress)."""

    def reporter(stage: str, fraction: float) -> None:
        if stop.is_set():
            raise Cancelled

    return reporter


def checkpoint(stage: str, fraction: float = 0.0) -> None:
    """Report that ``stage`` is ``fraction`` done; raises Cancelled when the reporter does."""
    reporter = getattr(_local, "reporter", None)
    if reporter is not None:
        reporter(stage, min(max(float(fraction), 0.0), 1.0))


def current_reporter() -> Reporter | None:
    """Return this thread's reporter (to install it in helper threads), or None."""
    return getattr(_local, "reporter", None)


def counted(gen: Generator[None, None, Any], stage: str, total: int) -> Generator[None, None, Any]:
    """Re-yield a CRF's iterations, reporting each as a checkpoint of ``stage`` (``total`` iterations)."""
    done = 0
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        done += 1
        checkpoint(stage, done / max(total, 1))
        yield


def with_progress(gen: Generator[None, None, Any], done: int, total: int
                  ) -> Generator[tuple[int, int], None, Any]:
    """Re-yield a CRF's per-iteration steps as ``(done, total)`` tile progress."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        yield done, total
