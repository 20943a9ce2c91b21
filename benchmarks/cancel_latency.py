"""Seconds from Cancel to the end of the run (or export), at each stage, in the panel's own job code.

The panel runs ``_label_job`` / ``_export_job`` in a worker thread; Cancel
sets their stop event (they raise at the next stage checkpoint) and asks
napari's worker to quit (it stops at the next yield). This script runs the
same job functions in a thread, presses Cancel at the first checkpoint of
each stage, and prints how long the thread takes to end. Goal: under 1 s.

Usage: python cancel_latency.py [--mp 4] [--method features+crf]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from qtpy.QtCore import Qt

from _scenes import synthetic_scene
from napari_crf_label._widget import _export_job, _label_job, _Relay
from napari_crf_label.image_io import as_image_data
from napari_crf_label.pipeline import CRFCache, label_image
from napari_crf_label.progress import Cancelled

STAGES = ("training", "proximity", "features", "classifier", "building the CRF", "CRF")


def _cancel_at(stage: str, job, relay: _Relay, stop: threading.Event, after: float = 0.0
               ) -> tuple[float | None, str]:
    """Run ``job`` in a thread, set ``stop`` at the first checkpoint of ``stage`` at least ``after`` done.

    Returns (seconds from the stop to the end of the thread, how it ended).
    """
    pressed: list[float] = []

    def on_stage(name: str, fraction: float) -> None:
        if name == stage and fraction >= after and not pressed:
            pressed.append(time.perf_counter())
            stop.set()

    # called in the worker thread itself: no Qt event loop is needed here
    relay.stage.connect(on_stage, Qt.ConnectionType.DirectConnection)
    ended: list[str] = []

    def work() -> None:
        try:
            out = job()
            if hasattr(out, "__next__"):  # a generator job: napari's worker stops at the yield after quit()
                for _ in out:
                    if stop.is_set():
                        out.close()
                        ended.append("stopped at a yield")
                        return
            ended.append("ran to the end")
        except Cancelled:
            ended.append("stopped at a checkpoint")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    relay.stage.disconnect(on_stage)
    if not pressed:
        return None, "stage not reached"
    return time.perf_counter() - pressed[0], ended[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, default=4.0)
    parser.add_argument("--method", default="features+crf")
    args = parser.parse_args()
    image, truth, strokes = synthetic_scene(args.mp)
    data = as_image_data(image)
    params = {"method": args.method}
    print(f"{args.mp:g} MP synthetic scene, method {args.method}, one process")
    print(f"{'stage':<18} {'seconds to stop':>16}  how")
    for stage in STAGES:
        stop, relay = threading.Event(), _Relay()
        seconds, how = _cancel_at(stage, lambda stop=stop, relay=relay: _label_job(
            data, strokes, None, CRFCache(), params, stop, relay), relay, stop)
        shown = "-" if seconds is None else f"{seconds:.3f}"
        print(f"{stage:<18} {shown:>16}  {how}")
    result = label_image(data, strokes, **params)
    for after, during in ((0.0, "the .mat"), (0.3, "the figure"), (0.7, "report, PNG, session")):
        with tempfile.TemporaryDirectory() as out:
            stop, relay = threading.Event(), _Relay()
            seconds, how = _cancel_at("export", lambda stop=stop, relay=relay, out=out: _export_job(
                stop, relay, result, data, out, "bench"), relay, stop, after)
            left = len(list(Path(out).iterdir()))
            print(f"{'export: ' + during:<18} {seconds:>16.3f}  {how}; files left in the folder: {left}")


if __name__ == "__main__":
    main()
