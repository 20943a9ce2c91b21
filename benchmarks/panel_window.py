"""Seconds from a click on Run CRF to the preview and to the full result on screen, in a real napari window.

Usage: xvfb-run -a python benchmarks/panel_window.py [--side 2048] [--edits 4] [--user [--brush 1.6]]
       [--window WxH]

What a user sees, unlike ``panel_speed.py`` (the panel's job code alone):
napari's window, the panel opened as the Plugins menu opens it
(``viewer.window.add_plugin_dock_widget``), the same 4.2 MP real photo,
classes and strokes as ``panel_speed.py`` (``orthomosaic.jpg`` from
../shared, 4 k-means colour classes, 60 strokes per class), classes typed
into the panel, the strokes set on its strokes layer as a paint would. The
panel builds ahead while the user paints; the script waits for that build
(and prints its time), clicks Run, then ``--edits`` times adds one 60-pixel
stroke of one class and clicks Run again. Per run: seconds from the click
until the preview layer and the result layer are updated (the layer work on
napari's main thread included), the longest single stall of the main thread
during the run (the window does not respond for that long), the CPU
seconds of the process, and of them those of Mesa's rendering threads
(llvmpipe; Linux only). Under Xvfb napari draws with Mesa's software
OpenGL, so layer updates cost more than with a GPU, and Qt redraws the whole
window through it for every widget that changes.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from _scenes import photo_scene
from panel_speed import one_stroke


def rendering_cpu() -> float | None:
    """Return the CPU seconds so far of this process's Mesa software rendering threads (None: not Linux)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    total = 0.0
    for task in tasks.iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")].startswith("llvmpipe"):
            fields = stat[stat.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def pump(qapp) -> None:
    """Handle the window's pending events as napari's event loop does, deferred deletes included.

    ``processEvents`` alone leaves the widgets Qt deletes later alive: napari's
    "Opening Files" progress bar then never goes, and its activity spinner
    keeps the window repainting (under Xvfb, 0.5 CPU s of Mesa per second in
    a 1600 x 1150 window) as it never does in ``napari.run()``.
    """
    from qtpy.QtCore import QEvent

    qapp.processEvents()
    qapp.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def timed_run(panel, qapp) -> tuple[float | None, float, float, float, float | None, str]:
    """Click Run and pump events until the run ends.

    Return (s to preview, s to result, worst stall, CPU, rendering CPU, status).
    """
    marks: dict[str, float] = {}
    panel._bench_marks = marks
    t0, c0, r0 = time.perf_counter(), time.process_time(), rendering_cpu()
    panel.run_button.native.click()
    worst = time.perf_counter() - t0  # the click's own handling holds the window too
    while panel.worker is not None or "result" not in marks:
        t = time.perf_counter()
        pump(qapp)
        worst = max(worst, time.perf_counter() - t)
        time.sleep(0.002)
        if time.perf_counter() - t0 > 600:
            raise RuntimeError("the run did not end within 10 minutes")
    preview = marks.get("preview")
    status = str(panel.status.value).splitlines()[0] if panel.status.value else ""
    rendering = None if r0 is None else rendering_cpu() - r0
    return ((None if preview is None else preview - t0), marks["result"] - t0, worst, time.process_time() - c0,
            rendering, status)


def instrument() -> None:
    """Record when the panel has shown a preview and a result (the end of its show_* methods)."""
    from napari_crf_label import _widget

    for name, mark in (("show_preview", "preview"), ("show_result", "result")):
        real = getattr(_widget.CRFLabelWidget, name)

        def timed(self, *args, _real=real, _mark=mark, **kwargs):
            out = _real(self, *args, **kwargs)
            getattr(self, "_bench_marks", {}).setdefault(_mark, time.perf_counter())
            return out

        setattr(_widget.CRFLabelWidget, name, timed)


def repainted(strokes: np.ndarray, k: int, n: int) -> np.ndarray:
    """Return strokes with the upper half of class ``k``'s strokes painted as the next class (a user's correction)."""
    out = strokes.copy()
    rows = np.nonzero((strokes == k).any(axis=1))[0]
    upper = np.zeros(strokes.shape, bool)
    upper[: rows[len(rows) // 2] + 1] = True
    out[(strokes == k) & upper] = k % n + 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--edits", type=int, default=4)
    parser.add_argument("--user", action="store_true",
                        help="the photo opened as a file (its no-data corner included) and a user's strokes: "
                             "three classes in eleven thick strokes (tile_seams.py); each edit repaints part of one")
    parser.add_argument("--brush", type=float, default=1.0,
                        help="with --user: brushes this many times wider (1.6 gives about 72 000 stroke pixels, "
                             "as the heaviest new-user trial painted)")
    parser.add_argument("--window", metavar="WxH",
                        help="the window's size in pixels (default: napari's saved size); run under Xvfb with a "
                             "screen at least that large, e.g. xvfb-run -a -s '-screen 0 1920x1200x24'")
    args = parser.parse_args()
    import napari
    from qtpy.QtWidgets import QApplication

    instrument()
    viewer = napari.Viewer(show=True)
    qapp = QApplication.instance()
    _, panel = viewer.window.add_plugin_dock_widget("napari-crf-label", "CRF labelling")
    if args.window:  # Mesa draws the whole window in software: its cost grows with the size
        viewer.window._qt_window.resize(*map(int, args.window.lower().split("x")))
    for _ in range(10):
        pump(qapp)
    if args.user:
        from tile_seams import PHOTO, trial_strokes

        viewer.open(str(PHOTO))  # as File > Open does: napari's reader, the panel's handling of the 4-band JPEG
        name, names, classes = viewer.layers[0].name, "water, marsh, green_veg", None
        strokes = trial_strokes(viewer.layers[0].data.shape[:2], args.brush).astype(np.int32)
    else:
        image, classes, strokes = photo_scene(side=args.side)
        viewer.add_image(image, name="photo", rgb=True)
        name, names = "photo", "c1, c2, c3, c4"
    panel.class_names.value = names
    panel.use_names_button.native.click()
    layer = viewer.layers[f"{name} strokes"]
    layer.data = strokes.astype(layer.data.dtype)
    n = int(strokes.max())
    print(f"{strokes.shape[1]} x {strokes.shape[0]} ({strokes.size / 1e6:.1f} MP) photo, {n} classes "
          f"({'a user' if args.user else 'short'} strokes: {int((strokes > 0).sum())} pixels), default method, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    window, canvas = viewer.window._qt_window.size(), viewer.window._qt_viewer.canvas._scene_canvas.size
    print(f"window {window.width()} x {window.height()}, canvas {canvas[0]} x {canvas[1]} pixels")
    t0, c0 = time.perf_counter(), time.process_time()
    ahead = getattr(panel, "_ahead", None)
    while ahead is not None and (ahead.busy or ahead.outcome == ""):  # the user paints meanwhile
        pump(qapp)
        time.sleep(0.01)
        if time.perf_counter() - t0 > 600:
            break
    if ahead is not None:
        print(f"build ahead while the user paints: {time.perf_counter() - t0:.2f} s, "
              f"{time.process_time() - c0:.2f} CPU s, {ahead.outcome}")
    print(f"{'run':<20} {'to preview s':>12} {'to result s':>11} {'worst stall s':>13} {'CPU s':>6} "
          f"{'of it GL':>8}  status")
    for e in range(args.edits + 1):
        k = (e - 1) % n + 1
        if e:
            strokes = repainted(strokes, k, n) if args.user else one_stroke(strokes, classes, k, e - 1)
            layer.data = strokes.astype(layer.data.dtype)
        preview, result, worst, cpu, rendering, status = timed_run(panel, qapp)
        name = "first run" if e == 0 else f"edit {e} (class {k})"
        shown = "-" if preview is None else f"{preview:.2f}"
        gl = "-" if rendering is None else f"{rendering:.2f}"
        print(f"{name:<20} {shown:>12} {result:11.2f} {worst:13.2f} {cpu:6.2f} {gl:>8}  {status}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    viewer.close()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
