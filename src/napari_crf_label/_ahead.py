"""Building an image's CRFs and features in the background while the user paints (the panel's first run).

A run's lattices and classifier features need no strokes
(:mod:`~napari_crf_label.pipeline.prepare`). The panel starts this once an
image and its strokes layer are chosen; *Run CRF* stops it and waits for
the step under way (at most a tile's build, about a second), then finds
what it built in the image's caches. Knows nothing of Qt.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ._panel_state import ImageState
from .crf import DEFAULT_ENGINE
from .image_io import ImageData
from .kernels import prepare, ready
from .pipeline import CRFCache
from .pipeline.prepare import iter_prepare
from .pipeline.preview import iter_prepare_preview
from .progress import Cancelled, reporting, stop_when

__all__ = ["AheadBuilder"]

#: Every builder, so that builds still going on are stopped before Python shuts down.
_BUILDERS: weakref.WeakSet[AheadBuilder] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Stop every build and wait for it: a thread still inside compiled code at shutdown aborts the process."""
    threads = [builder.halt() for builder in list(_BUILDERS)]
    for thread in threads:
        if thread is not None:
            thread.join(timeout=60)


class AheadBuilder:
    """At most one background build at a time, for the image the panel shows."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._finished = threading.Event()  # set by the build under way before it calls ``done``
        _BUILDERS.add(self)
        #: What the last build did: "prepared", "stopped", "skipped" (no compiled engine, or the cache
        #: could not keep it) or "failed: <message>" (a run then builds what it needs, and reports errors).
        self.outcome = ""

    @property
    def busy(self) -> bool:
        """Return True while a build runs (False already when its ``done`` is called)."""
        return self._thread is not None and not self._finished.is_set()

    def start(self, data: ImageData, n_classes: int, params: dict[str, Any], state: ImageState,
              wait_for: Callable[[], None] = lambda: None, drop: Sequence[CRFCache] = (),
              done: Callable[[], None] = lambda: None) -> None:
        """Stop any build under way and start one for ``data`` with run keywords ``params`` into ``state``.

        ``wait_for`` is called first in the thread (the panel's background
        compile: the kernels must be compiled before they are used). The
        caches in ``drop`` are emptied once the build before has stopped
        (other images' builds that no run used: their memory is freed).
        ``done`` is called from the thread at its end, however it ended.
        """
        previous = self.halt()
        stop = self._stop = threading.Event()
        finished = self._finished = threading.Event()

        def work() -> None:
            try:
                if previous is not None:
                    previous.join()  # two builds into one cache at once would race
                for cache in drop:
                    cache.clear()
                wait_for()
                self.outcome = _build(data, n_classes, params, state, stop)
            finally:
                # before done(): the panel asks ``busy`` when done's signal arrives, and this thread may
                # not have ended by then (on a loaded machine it often has not)
                finished.set()
                done()

        self._thread = threading.Thread(target=work, name="crf-prepare-ahead", daemon=True)
        self._thread.start()

    def halt(self) -> threading.Thread | None:
        """Ask the build under way to stop at its next step; return its thread (to join), or None."""
        self._stop.set()
        thread, self._thread = self._thread, None
        return thread if thread is not None and thread.is_alive() else None


def _build(data: ImageData, n_classes: int, params: dict[str, Any], state: ImageState,
           stop: threading.Event) -> str:
    """Build the preview's and then the full run's CRFs and features; return the outcome."""
    engine = params.get("engine", DEFAULT_ENGINE)
    if not ready(engine):
        return "skipped"  # compiling here would hold the GIL for seconds: the run compiles, as before
    _lower_priority()
    try:
        with reporting(stop_when(stop)):
            _load_code(engine)
            built = False
            for gen in (iter_prepare_preview(data, n_classes, params, state.preview),
                        iter_prepare(data, n_classes, state.cache, **params)):
                while True:
                    if stop.is_set():
                        return "stopped"
                    try:
                        next(gen)
                    except StopIteration as end:
                        built = bool(end.value)  # the full run's (a small image has no preview)
                        break
    except Cancelled:
        return "stopped"
    except Exception as exc:  # noqa: BLE001 - ahead of time only: the run itself builds and reports
        return f"failed: {exc}"
    return "prepared" if built else "skipped"


def _load_code(engine: str) -> None:
    """Load what a first run would load on the way: the compiled kernels (from the disk cache) and the forest.

    About 2 s of a first run in a fresh napari (0.6 s the kernels, 1.4 s
    importing scikit-learn's forest), here while the user paints.
    """
    prepare(engine)  # ready(): every kernel is on disk, so this loads and does not compile
    import sklearn.ensemble  # noqa: F401 - imported for its side effect: the first fit does not wait for it


def _lower_priority() -> None:
    """Lower this thread's scheduling priority where the system allows it (painting stays smooth)."""
    if sys.platform.startswith("linux"):  # elsewhere the call would lower the whole process (napari's window)
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
