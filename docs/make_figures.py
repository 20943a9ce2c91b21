"""Regenerate the README pictures from the bundled sample (run under Xvfb).

Usage: xvfb-run -a python docs/make_figures.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_crf_label._widget import CRFLabelWidget
from napari_crf_label.cli import main as cli_main

HERE = Path(__file__).resolve().parent


def mres_figure() -> None:
    """Run the demo and keep its three-panel figure."""
    out = Path(tempfile.mkdtemp())
    cli_main(["demo", "-o", str(out)])
    shutil.copy(out / "bahamas_landsat_mres.png", HERE / "bahamas_landsat_mres.png")


def widget_screenshot() -> None:
    """Open the sample in napari, run the CRF in the dock widget and save the window."""
    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample("napari-crf-label", "bahamas")
    widget = CRFLabelWidget(viewer)
    viewer.window.add_dock_widget(widget, name="CRF labelling")
    widget.run()
    t0 = time.time()
    while widget.worker is not None and time.time() - t0 < 120:
        QApplication.processEvents()
        time.sleep(0.02)
    viewer.layers["bahamas_landsat CRF labels"].opacity = 0.45
    viewer.layers.selection.active = viewer.layers["bahamas_landsat strokes"]
    for _ in range(20):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False)
    from PIL import Image

    Image.fromarray(np.asarray(shot)).save(HERE / "napari_widget.png", optimize=True)
    viewer.close()


if __name__ == "__main__":
    mres_figure()
    widget_screenshot()
