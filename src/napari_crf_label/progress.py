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

__all__ = ["Cancelled", "Latch", "Reporter", "as_stage", "checkpoint", "counted", "current_reporter", "reported",
           "reporting", "stop_when",
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


@contextmanager
def as_stage(stage: str, start: float = 0.0, end: float = 1.0) -> Iterator[None]:
    """Report this thread's checkpoints as ``stage``, within ``start``..``end`` of it, while the block runs.

    For a step of a stage that runs smaller versions of other stages (the
    held-out check trains forests and computes features): what it does
    inside is not the run's training or features, so they report the
    stage's fraction as it is. The block's own checkpoints of ``stage``
    move that fraction through ``start``..``end``, never back: a part that
    runs twice (each fold's distances) does not send the bar back to its
    start. Blocks nest: an inner span is a part of the outer one.
    """
    outer = current_reporter()
    if outer is None:
        yield
        return
    last = [start]

    def relay(name: str, fraction: float) -> None:
        if name == stage:
            last[0] = max(last[0], start + (end - start) * fraction)
        outer(stage, last[0])

    with reporting(relay):
        yield


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


class Latch:
    """A reporter for several threads of one run: once ``reporter`` raised, every later checkpoint stops.

    The stage at which the reporter raised is the last it sees, in any
    thread, as in a serial run; the other threads stop at their next
    checkpoint with Cancelled. Reports are passed on one at a time.
    """

    def __init__(self, reporter: Reporter | None) -> None:
        self._reporter = reporter
        self._lock = threading.Lock()
        self.stopped = threading.Event()

    def __call__(self, stage: str, fraction: float) -> None:
        """Pass a checkpoint on, or raise Cancelled once the reporter has raised."""
        with self._lock:
            if self.stopped.is_set():
                raise Cancelled
            if self._reporter is None:
                return
            try:
                self._reporter(stage, fraction)
            except BaseException:
                self.stopped.set()
                raise


def reported(gen: Generator[Any, None, Any], reporter: Reporter) -> Generator[Any, None, Any]:
    """Re-yield ``gen``'s items with ``reporter`` installed in this thread only while ``gen`` runs.

    Unlike ``with reporting(...)`` around a ``yield``, nothing stays
    installed while the consumer runs between two items.
    """
    try:
        while True:
            with reporting(reporter):
                try:
                    item = next(gen)
                except StopIteration as stop:
                    return stop.value
            yield item
    finally:
        gen.close()


def counted(gen: Generator[None, None, Any], stage: str, total: int) -> Generator[None, None, Any]:
    """Re-yield a CRF's iterations, reporting each as a checkpoint of ``stage`` (``total`` iterations)."""
    checkpoint(stage, 0.0)  # the first iteration is the stage's, not the build's before it
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
