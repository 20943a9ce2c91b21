"""Seconds from Run / from a stroke edit to the preview and to the full result, in the panel's own job code.

Usage: python benchmarks/panel_speed.py [--side 2048] [--edits 3] [--threads N]

The panel runs ``_label_job`` (``napari_crf_label._widget``) in a worker
thread with the image's caches (``ImageState``); this script runs the same
function, the same way, on a 4.2 MP real photo (``orthomosaic.jpg`` from
../shared, 4 k-means colour classes, 60 strokes per class) with the default
method: the first run, then ``--edits`` times one new 60-pixel stroke of one
class (as a user paints) and the re-run; each yields a reduced-resolution
preview before the full result, as in the panel. Then the first run again on a
new image state after the panel's build ahead (``_ahead``: the CRFs and
features it builds while the user paints), with that build's own time. Printed per run: seconds to the preview,
seconds to the full result, the CPU seconds of the process for the whole
job (all threads: on a shared machine the wall times depend on the other
jobs, the CPU seconds much less), and the share of pixels where the full
result agrees with a fresh run on the same strokes. Works on the code
before the preview existed too (then the preview column is "-").
"""

from __future__ import annotations

import argparse
import inspect
import os
import threading
import time

import numpy as np

from _scenes import photo_scene
from napari_crf_label._panel_state import ImageState
from napari_crf_label._widget import _label_job, _Relay
from napari_crf_label.crf import prepare_engine
from napari_crf_label.image_io import as_image_data
from napari_crf_label.labelling import label_image

try:  # the panel's build ahead of the first run (absent from older code)
    from napari_crf_label._ahead import _build as build_ahead
except ImportError:
    build_ahead = None


def one_stroke(strokes: np.ndarray, classes: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Return strokes with one more 60-pixel horizontal stroke of class ``k`` inside that class."""
    rng = np.random.default_rng(seed)
    out = strokes.copy()
    ys, xs = np.nonzero(classes[:, :-60] == k)
    for i in rng.permutation(len(ys)):
        y, x = ys[i], xs[i]
        if (classes[y, x:x + 60] == k).all():
            out[y, x:x + 60] = k
            return out
    raise ValueError(f"no room for a stroke of class {k}")


def timed_job(data, strokes, state: ImageState, params: dict, with_preview: bool
              ) -> tuple[float | None, float, float, object]:
    """Run the panel's job like its worker thread does; return (s to the preview, s to the result, CPU s, result)."""
    relay, stop = _Relay(), threading.Event()
    if "preview_proximity" in inspect.signature(_label_job).parameters:  # as the panel: the last run's choice
        last = state.result.params.get("proximity", "kept") if state.result is not None else "kept"
        job = _label_job(data, strokes, None, state.cache, params, stop, relay, state.preview,
                         preview_proximity=last)
    elif with_preview:
        job = _label_job(data, strokes, None, state.cache, params, stop, relay, state.preview)
    else:
        job = _label_job(data, strokes, None, state.cache, params, stop, relay)
    t0, c0 = time.perf_counter(), time.process_time()
    to_preview = None
    while True:
        try:
            step = next(job)
        except StopIteration as done:
            state.result = done.value  # the panel keeps the image's last result
            return to_preview, time.perf_counter() - t0, time.process_time() - c0, done.value
        if to_preview is None and hasattr(step, "labels"):
            to_preview = time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--threads", type=int, help="tile threads (default: the run's own default)")
    args = parser.parse_args()
    prepare_engine("numba")  # compiled once per machine; not part of a run
    image, classes, strokes = photo_scene(side=args.side)
    data = as_image_data(image)
    params: dict = {"method": "features+crf"}
    if args.threads is not None:
        params["threads"] = args.threads
    with_preview = "preview" in inspect.signature(_label_job).parameters
    print(f"{args.side} x {args.side} ({args.side**2 / 1e6:.1f} MP) photo, 4 classes, default method, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'run':<22} {'to preview s':>12} {'to full s':>10} {'CPU s':>7} {'agrees with fresh %':>20}")
    state = ImageState()
    painted = strokes
    to_preview, seconds, cpu, first = timed_job(data, strokes, state, params, with_preview)
    shown = "-" if to_preview is None else f"{to_preview:.2f}"
    print(f"{'first run':<22} {shown:>12} {seconds:10.2f} {cpu:7.2f} {'':>20}")
    for e in range(args.edits):
        strokes = one_stroke(strokes, classes, e % 4 + 1, e)
        to_preview, seconds, cpu, result = timed_job(data, strokes, state, params, with_preview)
        fresh = label_image(data, strokes, **params)
        agree = (result.labels == fresh.labels).mean() * 100
        shown = "-" if to_preview is None else f"{to_preview:.2f}"
        print(f"{f'edit {e + 1} (class {e % 4 + 1})':<22} {shown:>12} {seconds:10.2f} {cpu:7.2f} {agree:20.2f}")
    if build_ahead is not None:  # the panel builds the CRFs while the user paints, then Run
        state = ImageState()
        t0, c0 = time.perf_counter(), time.process_time()
        outcome = build_ahead(data, int(painted.max()), params, state, threading.Event())
        built, built_cpu = time.perf_counter() - t0, time.process_time() - c0
        to_preview, seconds, cpu, result = timed_job(data, painted, state, params, with_preview)
        agree = (result.labels == first.labels).mean() * 100
        shown = "-" if to_preview is None else f"{to_preview:.2f}"
        print(f"{'first run, built ahead':<22} {shown:>12} {seconds:10.2f} {cpu:7.2f} {agree:20.2f}")
        print(f"  (the build ahead, while the user paints: {built:.2f} s, {built_cpu:.2f} CPU s, {outcome}; "
              "the last column compares with the first run)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
