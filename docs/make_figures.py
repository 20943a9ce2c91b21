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

from napari_crf_label.cli import main as cli_main

HERE = Path(__file__).resolve().parent


def mres_figure() -> None:
    """Run the demo and keep its three-panel figure."""
    out = Path(tempfile.mkdtemp())
    cli_main(["demo", "-o", str(out)])
    shutil.copy(out / "bahamas_landsat_mres.png", HERE / "bahamas_landsat_mres.png")


def widget_screenshot() -> None:
    """Open the sample, open the panel from the Plugins menu, run with the confidence layer, save the window."""
    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample("napari-crf-label", "bahamas")
    menu = next(a.menu() for a in viewer.window._qt_window.menuBar().actions() if a.text() == "&Plugins")
    next(a for a in menu.actions() if a.text().startswith("CRF labelling")).trigger()
    panel = next(w for name, w in viewer.window.dock_widgets.items() if name.startswith("CRF labelling"))
    panel.confidence.value = True
    panel.run()
    t0 = time.time()
    while panel.worker is not None and time.time() - t0 < 120:
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False)
    from PIL import Image

    Image.fromarray(np.asarray(shot)).save(HERE / "napari_widget.png", optimize=True)
    viewer.close()


def guided_screenshot() -> None:
    """Open the sample and the panel, start guided annotation with 4 windows, step to window 2, save the window."""
    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample("napari-crf-label", "bahamas")
    _, panel = viewer.window.add_plugin_dock_widget("napari-crf-label", "CRF labelling")
    panel.window.value = 256
    panel.guided.start_button.native.click()
    for _ in range(5):
        panel.guided.next_button.native.click()
    panel.native.layout().itemAt(0).widget().ensureWidgetVisible(panel.guided.native)  # the panel's scroll area
    for _ in range(20):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False)
    from PIL import Image

    Image.fromarray(np.asarray(shot)).save(HERE / "guided_mode.png", optimize=True)
    viewer.close()


if __name__ == "__main__":
    mres_figure()
    widget_screenshot()
    guided_screenshot()
