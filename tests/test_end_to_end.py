"""A user's session in a shown napari window: the panel opened from the
Plugins menu, brush strokes with real mouse events on the canvas, Run CRF
and Export clicked through Qt, files read back. A screenshot of the whole
window goes to ``test-artifacts/``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from qtpy.QtCore import QPoint, Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QFileDialog
from scipy.io import loadmat

from .conftest import two_region_scene

ARTIFACTS = Path(os.environ.get("NAPARI_CRF_LABEL_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def canvas_point(viewer, row: float, col: float) -> QPoint:
    """Return the canvas widget position showing image pixel (row, col)."""
    native = viewer.window._qt_viewer.canvas.native
    zoom = viewer.camera.zoom
    cy, cx = viewer.camera.center[-2:]
    return QPoint(round((col - cx) * zoom + native.width() / 2), round((row - cy) * zoom + native.height() / 2))


def brush_stroke(qtbot, viewer, points: list[tuple[float, float]]) -> None:
    """Drag the mouse with the left button through image pixels ``points``."""
    native = viewer.window._qt_viewer.canvas.native
    first = canvas_point(viewer, *points[0])
    QTest.mouseMove(native, first)
    QTest.mousePress(native, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, first)
    for row, col in points[1:]:
        QTest.mouseMove(native, canvas_point(viewer, row, col))
        qtbot.wait(5)
    QTest.mouseRelease(native, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       canvas_point(viewer, *points[-1]))
    qtbot.wait(20)




def open_from_plugins_menu(viewer):
    """Trigger *Plugins > CRF labelling* in the window's menu bar; return the panel it docked."""
    menu = next(a.menu() for a in viewer.window._qt_window.menuBar().actions() if a.text() == "&Plugins")
    action = next(a for a in menu.actions() if a.text().startswith("CRF labelling"))
    action.trigger()
    return next(w for name, w in viewer.window.dock_widgets.items() if name.startswith("CRF labelling"))


def scene_in_shown_window(make_napari_viewer, qtbot, path, size, transparent: int = 0):
    """Save the two-region scene to ``path``, open it in a shown window of ``size`` and the panel from the menu.

    ``transparent``: that many first columns get alpha 0 (no data).
    Returns (viewer, panel, truth).
    """
    image, truth, _ = two_region_scene(height=120, width=200, boundary=90)
    if transparent:
        image = np.dstack([image, np.full(truth.shape, 255, np.uint8)])
        image[:, :transparent, 3] = 0
    Image.fromarray(image).save(path)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*size)
    viewer.open(str(path))
    widget = open_from_plugins_menu(viewer)
    qtbot.waitExposed(viewer.window._qt_window)
    return viewer, widget, truth


def test_paint_with_brush_run_export_in_shown_window(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    viewer, widget, truth = scene_in_shown_window(make_napari_viewer, qtbot, tmp_path / "field photo.v1.png",
                                                  (1400, 900))

    qtbot.keyClicks(widget.class_names.native, "dark, bright")
    qtbot.mouseClick(widget.use_names_button.native, Qt.MouseButton.LeftButton)
    strokes = viewer.layers["field photo.v1 strokes"]
    viewer.camera.center = (60, 100)
    native = viewer.window._qt_viewer.canvas.native
    viewer.camera.zoom = 0.8 * min(native.width() / 200, native.height() / 120)
    qtbot.wait(50)

    strokes.brush_size = 5
    qtbot.mouseClick(widget.class_list.viewport(), Qt.MouseButton.LeftButton,
                     pos=widget.class_list.visualItemRect(widget.class_list.item(0)).center())
    assert strokes.selected_label == 1 and strokes.mode == "paint"
    brush_stroke(qtbot, viewer, [(r, 30) for r in range(30, 91, 5)])
    qtbot.mouseClick(widget.class_list.viewport(), Qt.MouseButton.LeftButton,
                     pos=widget.class_list.visualItemRect(widget.class_list.item(1)).center())
    assert strokes.selected_label == 2
    brush_stroke(qtbot, viewer, [(r, 150) for r in range(30, 91, 5)])

    painted = np.asarray(strokes.data)
    assert (painted == 1).sum() > 100 and (painted == 2).sum() > 100
    assert np.all(truth[painted == 1] == 1) and np.all(truth[painted == 2] == 2)  # strokes landed where aimed
    assert widget.image_state().clock.started

    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    result = np.asarray(viewer.layers["field photo.v1 CRF labels"].data)
    assert (result == truth).mean() > 0.99
    qtbot.mouseClick(widget.confidence.native, Qt.MouseButton.LeftButton)
    assert "field photo.v1 CRF confidence" in viewer.layers

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    qtbot.mouseClick(widget.export_button.native, Qt.MouseButton.LeftButton)
    assert not widget.export_button.enabled  # writing in the background
    qtbot.waitUntil(lambda: widget.export_worker is None, timeout=30_000)
    mat = loadmat(out / "field photo.v1_mres.mat")
    assert np.array_equal(mat["sparse"], painted.astype(np.int32))
    assert np.array_equal(np.array(Image.open(out / "field photo.v1_label.png")), result)
    report = (out / "field photo.v1_report.txt").read_text()
    assert "annotation time: " in report and "not recorded" not in report.split("annotation time:")[1].split("\n")[0]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = viewer.screenshot(str(ARTIFACTS / "end_to_end_window.png"), canvas_only=False)
    assert shot.shape[0] > 500 and shot.shape[1] > 1000


def test_restore_export_and_the_status_show_without_scrolling_at_1600_by_1000_and_paths_fit(make_napari_viewer, qtbot,
                                                                                           tmp_path):
    """Restore, Export and the status's first line are on screen in the docked panel, before and after a run.

    Trial 23 found the status below the panel's fold; trial 24, with the
    status above Output, found Export pushed below it by long messages;
    trial 25 found Restore below it.
    """
    from qtpy.QtCore import QPoint
    from qtpy.QtWidgets import QScrollArea

    from napari_crf_label.classes import ClassSet
    from napari_crf_label.io.session import Session, save_session

    viewer, widget, truth = scene_in_shown_window(make_napari_viewer, qtbot, tmp_path / "field photo.png",
                                                  (1600, 1000), transparent=10)
    scroll = widget.native.findChild(QScrollArea)

    def on_screen(shown, height=None):  # from the panel's top, as first seen (``height``: its first lines)
        top = shown.mapTo(scroll.widget(), QPoint(0, 0)).y()
        return shown.isVisible() and 0 <= top and top + (height or shown.height()) <= scroll.viewport().height()

    def first_line_on_screen():
        return on_screen(widget.status.native, widget.status.native.fontMetrics().lineSpacing())

    # an earlier session's autosave of this image: the panel offers it as when the image opens
    earlier = np.zeros(truth.shape, np.uint8)
    earlier[40:80, 60] = 1
    widget._autosave_path().parent.mkdir(parents=True, exist_ok=True)
    save_session(widget._autosave_path(), Session(strokes=earlier, classes=ClassSet.from_names(["a", "b"]),
                                                  params={}, image_path=str(tmp_path / "field photo.png")))
    widget._offer_autosave()
    qtbot.waitUntil(lambda: on_screen(widget.restore_button.native), timeout=5_000)
    assert on_screen(widget.export_button.native)
    # the Output folder's path field is as wide as the class files' (trial 30 found it half as wide)
    assert widget.outdir.line_edit.native.width() >= widget.labels_file.line_edit.native.width() - 10
    widget.restore_button.visible = False  # the user paints instead
    qtbot.keyClicks(widget.class_names.native, "dark, bright")
    qtbot.mouseClick(widget.use_names_button.native, Qt.MouseButton.LeftButton)
    strokes = np.zeros(truth.shape, np.uint8)
    strokes[30:90, 5:30], strokes[30:90, 150] = 1, 2  # some of class 1 on the transparent strip
    viewer.layers["field photo strokes"].data = strokes
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.worker is None and "CRF done" in widget.status.value, timeout=60_000)
    assert "Annotation time" in widget.status.value and "autosave" in widget.status.tooltip
    assert "Not used (on no-data): dark " in widget.status.value
    assert first_line_on_screen() and on_screen(widget.export_button.native)
    widget.outdir.value = tmp_path / "a folder with a long name for the exported files"
    qtbot.mouseClick(widget.export_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.export_worker is None and "Exported" in widget.status.value, timeout=60_000)
    assert first_line_on_screen() and on_screen(widget.export_button.native)


def test_a_six_band_geotiff_opened_by_napari_is_read_as_bands_and_the_panel_fits_its_dock(make_napari_viewer,
                                                                                         qtbot, tmp_path, notes):
    """Trial 27: napari's own reader opened a 6-band Landsat scene as 352 planes of 6 x 349 pixels (a grey strip
    with a slider), the panel took it, and *Use names* raised a traceback; with the bands shown, the R, G, B boxes
    widened the panel past its dock, cutting off *Use names*, *Cancel* and *Save session...*."""
    import rasterio
    from qtpy.QtWidgets import QScrollArea
    from rasterio.transform import from_origin

    from napari_crf_label._layers import image_data_from_layer

    image, truth, _ = two_region_scene(height=120, width=200, boundary=90)
    bands = np.concatenate([image, image[..., :2] // 2, image[..., :1] // 3], axis=2).transpose(2, 0, 1)
    path = tmp_path / "landsat.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=120, count=6, dtype="uint8",
                       crs="EPSG:32617", transform=from_origin(500000, 2700000, 30, 30)) as dst:
        dst.write(bands)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open(str(path), plugin="napari")  # napari's own reader
    assert viewer.layers["landsat"].data.shape == (120, 200, 6) and not viewer.layers["landsat"].rgb
    widget = open_from_plugins_menu(viewer)
    qtbot.waitExposed(viewer.window._qt_window)
    qtbot.waitUntil(lambda: viewer.layers["landsat"].rgb, timeout=5_000)  # replaced by the image read as bands
    assert len(viewer.layers) == 1 and widget.image_layer.name == "landsat"
    data = image_data_from_layer(viewer.layers["landsat"])
    assert data.array.shape == (120, 200, 6) and data.crs.to_epsg() == 32617 and data.transform.a == 30  # georef
    assert any("6 bands as 120 planes" in m and "file is unchanged" in m for m in notes.messages)
    assert widget.bands_row.visible
    qtbot.keyClicks(widget.class_names.native, "dark, bright")
    qtbot.mouseClick(widget.use_names_button.native, Qt.MouseButton.LeftButton)
    assert viewer.layers["landsat strokes"].data.shape == (120, 200)
    scroll = widget.native.findChild(QScrollArea)
    qtbot.wait(100)  # a layout pass with the band boxes shown
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()  # trial 27: 397 against 375
    for button in (widget.use_names_button, widget.cancel_button, widget.save_session_button):
        right = button.native.mapTo(scroll.viewport(), QPoint(button.native.width(), 0)).x()
        assert right <= scroll.viewport().width(), button.text


def test_a_geotiff_opened_by_naparis_reader_is_read_with_its_georeferencing_and_no_data(make_napari_viewer, qtbot,
                                                                                     tmp_path, notes):
    """Trial 29: a GeoTIFF opened with napari's own reader (``viewer.open(path)``, or "napari builtins" in the
    Choose reader dialog) lost its CRS and no-data: the run labelled the no-data border, the export wrote no label
    GeoTIFF, and nothing said so."""
    import rasterio
    from rasterio.transform import from_origin

    from napari_crf_label._layers import image_data_from_layer

    image, truth, _ = two_region_scene(height=120, width=200, boundary=90)
    image[:, :20] = 0  # a no-data border, as a scene's corners
    path = tmp_path / "scene.tif"
    transform = from_origin(500000, 2700000, 30, 30)
    with rasterio.open(path, "w", driver="GTiff", width=200, height=120, count=3, dtype="uint8", nodata=0,
                       crs="EPSG:32618", transform=transform) as dst:
        dst.write(image.transpose(2, 0, 1))
    viewer = make_napari_viewer(show=True)
    viewer.open(str(path), plugin="napari")  # napari's own reader: the pixels only
    assert "image" not in viewer.layers["scene"].metadata.get("napari-crf-label", {})
    widget = open_from_plugins_menu(viewer)
    qtbot.waitUntil(lambda: image_data_from_layer(viewer.layers["scene"]).crs is not None, timeout=5_000)
    assert len(viewer.layers) == 1 and widget.image_layer.name == "scene"
    data = image_data_from_layer(viewer.layers["scene"])
    assert data.crs.to_epsg() == 32618 and data.transform == transform and not data.valid[:, :20].any()
    assert any("without its georeferencing and no-data mask" in m and "file is unchanged" in m
               for m in notes.messages)
    qtbot.keyClicks(widget.class_names.native, "dark, bright")
    qtbot.mouseClick(widget.use_names_button.native, Qt.MouseButton.LeftButton)
    strokes = np.zeros((120, 200), np.uint8)
    strokes[30:90, 40:60], strokes[30:90, 150:170] = 1, 2
    viewer.layers["scene strokes"].data = strokes
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.worker is None and "CRF done" in widget.status.value, timeout=60_000)
    labels = np.asarray(viewer.layers["scene CRF labels"].data)
    assert (labels[:, :20] == 0).all() and (labels[:, 20:] == truth[:, 20:]).mean() > 0.97
    widget.outdir.value = tmp_path / "out"
    qtbot.mouseClick(widget.export_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.export_worker is None and "Exported" in widget.status.value, timeout=60_000)
    with rasterio.open(tmp_path / "out" / "scene_label.tif") as out:
        assert out.crs.to_epsg() == 32618 and out.transform == transform and out.shape == (120, 200)


def test_the_guided_buttons_changing_their_text_leave_the_dock_its_width(make_napari_viewer, qtbot, tmp_path):
    """Trial 32: "Resume guided annotation", longer than "Start...", widened the dock by 21 px, squeezing the canvas."""
    viewer, widget, _ = scene_in_shown_window(make_napari_viewer, qtbot, tmp_path / "scene.png", (1600, 1000))
    qtbot.keyClicks(widget.class_names.native, "dark, bright")
    qtbot.mouseClick(widget.use_names_button.native, Qt.MouseButton.LeftButton)
    qtbot.wait(100)
    width = widget.native.width()
    for _ in range(2):  # Start, then Stop: the button then offers to resume
        qtbot.mouseClick(widget.guided.start_button.native, Qt.MouseButton.LeftButton)
        qtbot.wait(100)
    assert widget.guided.start_button.text == "Resume guided annotation"
    assert widget.native.width() == width
