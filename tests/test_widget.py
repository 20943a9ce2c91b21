"""The dock widget in a real napari viewer (needs a display: run under Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from napari.utils.notifications import notification_manager
from scipy.io import loadmat

from napari_crf_label._layers import META_KEY
from napari_crf_label._reader import get_reader
from napari_crf_label._widget import CRFLabelWidget
from napari_crf_label.labelling import DEFAULT_METHOD

from .conftest import two_region_scene


@pytest.fixture
def notes():
    """Messages of napari notifications shown during the test."""
    start = len(notification_manager.records)

    class Notes:
        @property
        def messages(self):
            return [n.message for n in notification_manager.records[start:]]

    return Notes()


def wait_for_run(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)


def paint_and_run(qtbot, viewer, widget, strokes, names="dark, bright", image="scene"):
    """Type class names, put strokes on the new strokes layer, run the CRF and wait for it."""
    widget.class_names.setText(names)
    widget.use_names_button.click()
    viewer.layers[f"{image} strokes"].data = strokes.astype(np.uint8)
    widget.run()
    wait_for_run(qtbot, widget)


@pytest.fixture
def scene_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    image, truth, strokes = two_region_scene(height=120, width=200, boundary=90)
    viewer.add_image(image, name="scene", rgb=True)
    widget = CRFLabelWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget, truth, strokes


def test_real_class_files_create_coloured_named_strokes_layer(shared_data, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((50, 60, 3), np.uint8), name="photo", rgb=True)
    w = CRFLabelWidget(viewer)
    w.labels_file.setText(str(shared_data / "class_files" / "monterey_labels.txt"))
    w.colors_file.setText(str(shared_data / "class_files" / "monterey_label_colors.txt"))
    w.load_classes_button.click()
    layer = viewer.layers["photo strokes"]
    assert layer.data.shape == (50, 60)
    assert layer.colormap.map(1) == pytest.approx([0x55 / 255, 0x6B / 255, 0x2F / 255, 1], abs=1e-3)  # #556B2F
    assert layer.colormap.map(2) == pytest.approx([1, 0, 0, 1])  # r
    assert layer.colormap.map(0)[3] == 0  # unpainted is transparent
    assert list(layer.features["class"][1:]) == ["agricultural", "anthro", "cliff", "drysand", "dune", "duneveg",
                                                 "foam", "marsh", "road", "shrubland", "swash", "terrain", "veg",
                                                 "water", "wetsand"]
    assert w.class_list.count() == 15
    w._class_clicked(w.class_list.item(13))
    assert layer.selected_label == 14 and layer.mode == "paint"
    # the status bar names the class under the cursor
    layer.data[10, 10] = 14
    assert "water" in layer.get_status((10, 10))["coordinates"]


def test_bad_class_files_notify_without_exception(scene_viewer, tmp_path, notes):
    viewer, w, _, _ = scene_viewer
    (tmp_path / "l.txt").write_text("a\nb\nc\n")
    (tmp_path / "c.txt").write_text("r\ng\n")
    w.labels_file.setText(str(tmp_path / "l.txt"))
    w.colors_file.setText(str(tmp_path / "c.txt"))
    w.load_classes_button.click()
    assert any("has 3 classes but" in m for m in notes.messages)
    assert "scene strokes" not in viewer.layers
    w.class_names.setText("water,,sand")
    w.use_names_button.click()
    assert any("blank class name" in m for m in notes.messages)


def test_paint_run_rerun_result_layer(scene_viewer, qtbot):
    viewer, w, truth, strokes = scene_viewer
    w.class_names.setText("dark, bright")
    w.use_names_button.click()
    layer = viewer.layers["scene strokes"]
    layer.data = strokes.astype(np.uint8)
    w.run_button.click()
    wait_for_run(qtbot, w)
    result = viewer.layers["scene CRF labels"]
    assert (np.asarray(result.data) == truth).mean() > 0.99
    assert result.colormap.map(2) == pytest.approx(layer.colormap.map(2))
    state = w._states[id(viewer.layers["scene"])]
    builds = state.cache.builds
    # more strokes, run again: same layer updated, lattices re-used
    more = strokes.copy()
    more[5, 100:190] = 2
    layer.data = more.astype(np.uint8)
    w.run_button.click()
    wait_for_run(qtbot, w)
    assert [lay.name for lay in viewer.layers].count("scene CRF labels") == 1
    assert state.cache.builds == builds and state.cache.hits >= 1
    assert w.progress_bar.value() == w.progress_bar.maximum() == 1


def test_method_defaults_to_the_best_measured_and_switches_to_crf_alone(scene_viewer, qtbot):
    viewer, w, truth, strokes = scene_viewer
    assert w.method.currentText() == DEFAULT_METHOD == "features+crf"
    w.reach.setValue(250)
    paint_and_run(qtbot, viewer, w, strokes)
    state = w._states[id(viewer.layers["scene"])]
    assert state.result.params["method"] == "features+crf" and state.result.params["reach"] == 250
    assert (np.asarray(viewer.layers["scene CRF labels"].data) == truth).mean() > 0.99
    w.method.setCurrentText("crf")
    assert not w.reach.isEnabled()  # reach only matters to features+crf
    w.run_button.click()
    wait_for_run(qtbot, w)
    assert state.result.params["method"] == "crf"
    assert (np.asarray(viewer.layers["scene CRF labels"].data) == truth).mean() > 0.99


def test_engine_choice_in_advanced_section(scene_viewer, qtbot):
    pytest.importorskip("pydensecrf", reason="the second engine needs the pydensecrf extra")
    viewer, w, truth, strokes = scene_viewer
    assert w.engine.currentText() == "numba"
    w.method.setCurrentText("crf")
    paint_and_run(qtbot, viewer, w, strokes)
    state = w._states[id(viewer.layers["scene"])]
    numba_labels = np.asarray(viewer.layers["scene CRF labels"].data).copy()
    assert state.result.params["engine"] == "numba"
    w.engine.setCurrentText("pydensecrf")
    w.run_button.click()
    wait_for_run(qtbot, w)
    assert state.result.params["engine"] == "pydensecrf"
    assert np.array_equal(np.asarray(viewer.layers["scene CRF labels"].data), numba_labels)


def test_result_layer_follows_image_transform(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, truth, strokes = two_region_scene()
    viewer.add_image(image, name="scene", rgb=True, scale=(2.0, 0.5), translate=(10, -4))
    w = CRFLabelWidget(viewer)
    w.class_names.setText("a, b")
    w.use_names_button.click()
    viewer.layers["scene strokes"].data = strokes.astype(np.uint8)
    assert tuple(viewer.layers["scene strokes"].scale) == (2.0, 0.5)
    w.run()
    wait_for_run(qtbot, w)
    result = viewer.layers["scene CRF labels"]
    assert tuple(result.scale) == (2.0, 0.5) and tuple(result.translate) == (10, -4)


def test_run_errors_become_notifications(scene_viewer, qtbot, notes):
    viewer, w, _, _ = scene_viewer
    w.run()  # no strokes layer yet
    assert any("Choose an image and a strokes layer" in m for m in notes.messages)
    w.class_names.setText("dark, bright")
    w.use_names_button.click()
    w.run()  # strokes layer is empty
    wait_for_run(qtbot, w)
    assert any("no strokes" in m for m in notes.messages)
    assert "scene CRF labels" not in viewer.layers
    assert w.run_button.isEnabled()


def test_class_without_strokes_warns(scene_viewer, qtbot, notes):
    viewer, w, truth, strokes = scene_viewer
    paint_and_run(qtbot, viewer, w, strokes, names="dark, bright, cloud")
    assert any("No strokes for cloud" in m for m in notes.messages)
    assert not (np.asarray(viewer.layers["scene CRF labels"].data) == 3).any()


def test_cancel_mid_run(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    image, truth, strokes = two_region_scene(height=900, width=900, boundary=400)
    viewer.add_image(image, name="big", rgb=True)
    w = CRFLabelWidget(viewer)
    w.class_names.setText("dark, bright")
    w.use_names_button.click()
    viewer.layers["big strokes"].data = strokes.astype(np.uint8)
    w.crf_fields["iterations"].setValue(200)
    w.window.setValue(300)
    seen = []
    worker = w.run()
    worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) > 2, timeout=30_000)
    w.cancel()
    wait_for_run(qtbot, w, timeout=10_000)
    assert seen[-1][0] < seen[-1][1]  # stopped before the last tile
    assert "big CRF labels" not in viewer.layers
    assert any("cancelled" in m for m in notes.messages)
    assert w.run_button.isEnabled()
    # the viewer is usable: a quick run works afterwards
    w.crf_fields["iterations"].setValue(2)
    w.scale.setValue(0.25)
    w.run()
    wait_for_run(qtbot, w)
    assert "big CRF labels" in viewer.layers


def test_export_asks_before_overwriting(scene_viewer, qtbot, tmp_path, monkeypatch):
    viewer, w, truth, strokes = scene_viewer
    paint_and_run(qtbot, viewer, w, strokes)
    assert w.export(tmp_path) is not None
    qtbot.waitUntil(lambda: w.export_worker is None, timeout=30_000)
    paths = w.last_export
    assert sorted(p.name for p in tmp_path.glob("scene_*")) == sorted(
        ["scene_mres.mat", "scene_mres.png", "scene_report.txt", "scene_label.png", "scene_session.npz"])
    mat = loadmat(paths["mat"])
    assert (mat["class"] + 1 == truth).mean() > 0.99
    paths["report"].write_text("keep me")
    monkeypatch.setattr(w, "_confirm_overwrite", lambda names: False)
    assert w.export(tmp_path) is None
    assert paths["report"].read_text() == "keep me"
    monkeypatch.setattr(w, "_confirm_overwrite", lambda names: True)
    w.export(tmp_path)
    qtbot.waitUntil(lambda: w.export_worker is None, timeout=30_000)
    assert paths["report"].read_text().startswith("napari-crf-label report")


def test_autosave_and_restore(make_napari_viewer, qtbot, autosave_dir):
    image, truth, strokes = two_region_scene()
    viewer = make_napari_viewer()
    viewer.add_image(image, name="scene", rgb=True)
    w = CRFLabelWidget(viewer)
    w.class_names.setText("dark, bright")
    w.use_names_button.click()
    layer = viewer.layers["scene strokes"]
    layer.data = strokes.astype(np.uint8)  # a data event counts as an edit
    assert w._autosave_timer.isActive()
    qtbot.waitUntil(lambda: any(autosave_dir.glob("*_session.npz")), timeout=10_000)
    assert str(autosave_dir) in w.status.text()
    viewer.layers.clear()

    # a new viewer on the same image is offered the autosave
    viewer2 = make_napari_viewer()
    viewer2.add_image(image, name="scene", rgb=True)
    w2 = CRFLabelWidget(viewer2)
    assert w2.restore_button.isVisibleTo(w2)
    assert w2.restore_autosave()
    restored = viewer2.layers["scene strokes"]
    assert np.array_equal(np.asarray(restored.data), strokes)
    assert w2.class_list.count() == 2 and "dark" in w2.class_list.item(0).text()


def test_multiband_geotiff_composite_and_all_bands_used(shared_data, make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    path = str(shared_data / "geotiff" / "L7_ETMs.tif")
    for data, kwargs, kind in get_reader(path)(path):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    layer = viewer.layers["L7_ETMs"]
    assert layer.rgb and layer.data.shape == (352, 349, 3)
    w = CRFLabelWidget(viewer)
    assert all(box.isVisibleTo(w) for box in w.bands) and w.bands[0].maximum() == 6
    before = np.array(layer.data)
    w.bands[0].setValue(4)  # near infrared as red
    assert not np.array_equal(before, layer.data)
    full = layer.metadata[META_KEY]["image"].array
    assert full.shape == (352, 349, 6)
    w.class_names.setText("water, land")
    w.use_names_button.click()
    strokes = np.zeros((352, 349), np.uint8)
    strokes[250:300, 320:330] = 1  # ocean (east)
    strokes[100:150, 50:60] = 2  # city / vegetation (west)
    viewer.layers["L7_ETMs strokes"].data = strokes
    w.run()
    wait_for_run(qtbot, w)
    labels = np.asarray(viewer.layers["L7_ETMs CRF labels"].data)
    # sea in the south-east corner, land in the north-west
    assert (labels[320:, 330:] == 1).mean() > 0.9 and (labels[:100, :100] == 2).mean() > 0.9


def test_geotiff_reader_writer_roundtrip(shared_data, make_napari_viewer, qtbot, tmp_path):
    src = shared_data / "geotiff" / "SPOT_UTM2GTIF.TIF"
    viewer = make_napari_viewer()
    viewer.open(str(src), plugin="napari-crf-label")
    image = viewer.layers["SPOT_UTM2GTIF"]
    assert image.metadata[META_KEY]["image"].crs.to_epsg() == 26716
    w = CRFLabelWidget(viewer)
    w.class_names.setText("dark, bright")
    w.use_names_button.click()
    grey = image.metadata[META_KEY]["image"].array[..., 0]
    strokes = np.zeros(grey.shape, np.uint8)
    strokes[grey < np.percentile(grey, 5)] = 1
    strokes[grey > np.percentile(grey, 95)] = 2
    viewer.layers["SPOT_UTM2GTIF strokes"].data = strokes
    w.run()
    wait_for_run(qtbot, w)
    out = tmp_path / "label.tif"
    viewer.layers["SPOT_UTM2GTIF CRF labels"].save(str(out), plugin="napari-crf-label")
    with rasterio.open(out) as lab, rasterio.open(src) as ref:
        assert lab.crs == ref.crs and lab.transform == ref.transform
        assert np.array_equal(lab.read(1), np.asarray(viewer.layers["SPOT_UTM2GTIF CRF labels"].data))
    png = tmp_path / "label.png"
    viewer.layers["SPOT_UTM2GTIF CRF labels"].save(str(png), plugin="napari-crf-label")
    from PIL import Image

    assert np.array_equal(np.array(Image.open(png)), np.asarray(viewer.layers["SPOT_UTM2GTIF CRF labels"].data))


def test_session_writer_and_reader(make_napari_viewer, tmp_path):
    from napari_crf_label.sample import sample_files

    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    strokes = viewer.layers["bahamas_landsat strokes"]
    strokes.metadata[META_KEY]["image_path"] = str(sample_files().image)
    out = tmp_path / "work_session.npz"
    strokes.save(str(out), plugin="napari-crf-label")
    viewer2 = make_napari_viewer()
    viewer2.open(str(out), plugin="napari-crf-label")
    assert [lay.name for lay in viewer2.layers] == ["bahamas_landsat", "bahamas_landsat strokes"]
    again = viewer2.layers["bahamas_landsat strokes"]
    assert np.array_equal(np.asarray(again.data), np.asarray(strokes.data))
    assert list(again.features["class"][1:]) == ["deep_water", "shallow_water", "land", "cloud"]


def test_sample_data_opens_and_runs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    w = CRFLabelWidget(viewer)
    assert w.image_combo.currentText() == "bahamas_landsat"
    assert w.strokes_combo.currentText() == "bahamas_landsat strokes"
    assert w.class_list.count() == 4
    w.run()
    wait_for_run(qtbot, w)
    labels = np.asarray(viewer.layers["bahamas_landsat CRF labels"].data)
    counts = np.bincount(labels.ravel(), minlength=5)
    assert counts[0] > 0 and all(counts[k] > 0.03 * labels.size for k in range(1, 5))


PAINTER = r"""
import sys, time
import napari
from qtpy.QtWidgets import QApplication
from napari_crf_label._widget import CRFLabelWidget

viewer = napari.Viewer(show=False)
viewer.open(sys.argv[1])
w = CRFLabelWidget(viewer)
w.class_names.setText("dark, bright")
w.use_names_button.click()
layer = w.strokes_layer
layer.brush_size = 3
for row in range(30, 90, 2):  # brush dabs, as napari's paint tool makes them
    layer.paint((row, 30), 1)
    layer.paint((row, 150), 2)
    QApplication.processEvents()
while not list(w._autosave_path().parent.glob("*_session.npz")):
    QApplication.processEvents()
    time.sleep(0.05)
print("SAVED", flush=True)
while True:  # still "painting" when killed
    QApplication.processEvents()
    time.sleep(0.05)
"""


def test_autosave_survives_kill_9(tmp_path, make_napari_viewer, qtbot, autosave_dir):
    import signal
    import subprocess
    import sys

    from PIL import Image

    image, truth, _ = two_region_scene()
    path = tmp_path / "scene.png"
    Image.fromarray(image).save(path)
    proc = subprocess.Popen([sys.executable, "-c", PAINTER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "SAVED"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    viewer = make_napari_viewer()
    viewer.open(str(path))
    w = CRFLabelWidget(viewer)
    assert w.restore_button.isVisibleTo(w)
    assert w.restore_autosave()
    strokes = np.asarray(viewer.layers["scene strokes"].data)
    assert (strokes[30:89, 30] == 1).all() and (strokes[30:89, 150] == 2).all()
    assert w.class_list.count() == 2


def test_corrupt_autosave_reported_and_kept(scene_viewer, autosave_dir, notes):
    viewer, w, _, _ = scene_viewer
    path = w._autosave_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a session")
    assert not w.restore_autosave()
    assert any("not a readable session" in m and "kept" in m for m in notes.messages)
    assert path.read_bytes() == b"not a session"


def test_memory_guard_is_a_notification(scene_viewer, qtbot, notes, monkeypatch):
    viewer, w, truth, strokes = scene_viewer
    monkeypatch.setattr("napari_crf_label.labelling.available_memory", lambda: 1000)
    monkeypatch.setattr("napari_crf_label.resources.available_memory", lambda: 1000)
    paint_and_run(qtbot, viewer, w, strokes)
    assert any("of memory is available" in m for m in notes.messages)
    assert "scene CRF labels" not in viewer.layers


def test_export_failure_is_a_notification(scene_viewer, qtbot, tmp_path, monkeypatch, notes):
    import errno

    viewer, w, truth, strokes = scene_viewer
    paint_and_run(qtbot, viewer, w, strokes)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("napari_crf_label._widget.export_all", full)
    w.export(tmp_path)
    qtbot.waitUntil(lambda: w.export_worker is None, timeout=30_000)
    assert any("Export failed" in m and "No space left" in m for m in notes.messages)
    assert w.export_button.isEnabled() and w.last_export is None
