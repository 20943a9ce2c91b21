"""The panel's preview after a stroke edit, and its Live mode, in a real viewer opened as the Plugins menu does."""

from __future__ import annotations

import numpy as np
from PIL import Image

from napari_crf_label.pipeline.preview import PREVIEW_PIXELS, PREVIEW_TREES, preview_params

PLUGIN, PANEL = "napari-crf-label", "CRF labelling"


def three_bands(height: int = 640, width: int = 960, seed: int = 0):
    """Return (image, truth, strokes of classes 1 and 2 only, a stroke of class 3): dark | mid | bright columns."""
    rng = np.random.default_rng(seed)
    truth = np.ones((height, width), np.int32)
    truth[:, width // 3:] = 2
    truth[:, 2 * width // 3:] = 3
    levels = np.array([0, 40, 128, 215], float)
    image = np.clip(levels[truth][..., None] + rng.normal(0, 10, (height, width, 3)), 0, 255).astype(np.uint8)
    strokes = np.zeros((height, width), np.uint8)
    strokes[height // 4: 3 * height // 4, width // 6] = 1
    strokes[height // 4: 3 * height // 4, width // 2] = 2
    third = np.zeros_like(strokes)
    third[height // 4: 3 * height // 4, 5 * width // 6] = 3
    return image, truth, strokes, third


def at_grid(full: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return ``full`` sampled at the pixel centres of a coarser grid of ``shape`` covering it."""
    rows = ((np.arange(shape[0]) + 0.5) * full.shape[0] / shape[0]).astype(int)
    cols = ((np.arange(shape[1]) + 0.5) * full.shape[1] / shape[1]).astype(int)
    return full[rows][:, cols]


def open_with_image(make_napari_viewer, image):
    """Return (viewer, panel) with ``image`` open and the panel opened from the Plugins menu."""
    viewer = make_napari_viewer()
    viewer.add_image(image, name="scene", rgb=True)
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, PANEL)
    panel.class_names.value = "dark, mid, bright"
    panel.use_names_button.native.click()
    return viewer, panel


def test_preview_params_shrink_large_runs_only():
    assert preview_params((500, 500), {"scale": 1.0}) is None  # the run is as small as a preview
    small = preview_params((2000, 2000), {"scale": 1.0, "window": 512, "method": "crf"})
    pixels = 2000 * 2000 * small["scale"] ** 2
    assert 0.9 * PREVIEW_PIXELS < pixels < 1.1 * PREVIEW_PIXELS
    assert small["window"] is None and small["method"] == "crf"  # one tile, same method
    assert small["trees"] == PREVIEW_TREES  # a smaller forest: the full result keeps the run's own


def test_a_run_trains_the_forest_it_is_asked_for_and_the_preview_a_smaller_one():
    """``trees`` reaches the pixel classifier (other probabilities, recorded); the preview asks for PREVIEW_TREES."""
    import pytest

    from napari_crf_label import label_image
    from napari_crf_label.errors import InputError
    from napari_crf_label.pipeline.preview import iter_preview

    image, truth, strokes, third = three_bands(300, 450)
    strokes = strokes | third
    default = label_image(image, strokes, method="features")
    one = label_image(image, strokes, method="features", trees=1)
    assert "trees" not in default.params and one.params["trees"] == 1
    assert not np.array_equal(one.probabilities, default.probabilities)
    assert (one.labels == truth).mean() > 0.9  # still a forest that labels the three bands
    with pytest.raises(InputError, match="trees"):
        label_image(image, strokes, trees=0)
    big, big_truth, big_strokes, big_third = three_bands(1200, 1800)
    from napari_crf_label.crf import drain

    shown = drain(iter_preview(big, big_strokes | big_third, {"method": "features"}))
    assert shown.params["preview"] and shown.params["trees"] == PREVIEW_TREES


def test_stroke_edit_shows_a_marked_preview_then_the_full_result(make_napari_viewer, qtbot):
    image, truth, strokes, third = three_bands()
    viewer, panel = open_with_image(make_napari_viewer, image)
    layer = viewer.layers["scene strokes"]
    layer.data = strokes
    first, when = [], []

    def on_first(event):
        first.append(event.value.name)
        when.append((panel.worker is not None, event.value.visible, np.asarray(event.value.data).any()))

    viewer.layers.events.inserted.connect(on_first)
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    assert first == ["scene CRF preview", "scene CRF labels"]  # the first run previews too
    # both added at the click, hidden and empty, while the run computes (adding a layer holds the window)
    assert when == [(True, False, False), (True, False, False)]
    result = viewer.layers["scene CRF labels"]
    assert not (np.asarray(result.data)[truth == 3] == 3).any()  # no stroke of class 3 yet
    preview_layer = viewer.layers["scene CRF preview"]
    assert not preview_layer.visible and result.visible  # hidden once the result came, kept for the next run

    arrived, old_shown, preview_shown = [], [], []
    preview_layer.events.data.connect(lambda event: arrived.append(np.asarray(event.source.data).copy()))
    preview_layer.events.visible.connect(lambda event: preview_shown.append(event.source.visible))
    result.events.visible.connect(lambda event: old_shown.append(event.source.visible))
    inserted, before_preview = [], []
    viewer.layers.events.inserted.connect(lambda event: inserted.append(event.value.name))
    # the full run's proximity starts beside the preview: until the preview shows, the panel says so
    panel._relay.stage.connect(lambda name, fraction: None if arrived else before_preview.append(
        (name, panel.stage_label.value)))
    layer.data = np.maximum(strokes, third)  # the user paints the third class
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)

    # the preview arrived first, in the same preview layer (no layer added), with the old result hidden under it
    assert inserted == [] and len(arrived) == 1 and preview_shown == [True, False]
    assert {text for _, text in before_preview} == {"Preview..."}
    preview, small_truth = arrived[0], at_grid(truth, arrived[0].shape)
    assert preview.size < truth.size  # a coarser grid...
    assert (preview == small_truth).mean() > 0.95  # ...on which the third class is there already
    assert (preview[small_truth == 3] == 3).mean() > 0.95
    assert "scene CRF preview" not in [name for name, _ in panel._stroke_choices()]  # never painted on
    assert old_shown[0] is False  # the old result was hidden under the preview
    # then the full result replaced it: the preview hidden again, the result layer shown and updated
    names = [lay.name for lay in viewer.layers]
    assert names.count("scene CRF preview") == 1 and names.count("scene CRF labels") == 1
    assert not preview_layer.visible
    final = np.asarray(viewer.layers["scene CRF labels"].data)
    assert viewer.layers["scene CRF labels"].visible and old_shown[-1] is True
    assert (final == truth).mean() > 0.99
    assert panel.image_state().result.params["scale"] == 1.0 and "preview" not in panel.image_state().result.params
    assert panel.stage_label.value == "Done."


def test_a_deleted_preview_layer_comes_back_under_the_result(make_napari_viewer, qtbot):
    image, truth, strokes, third = three_bands()
    viewer, panel = open_with_image(make_napari_viewer, image)
    layer = viewer.layers["scene strokes"]
    layer.data = strokes
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    viewer.layers.remove("scene CRF preview")  # the user deletes it
    layer.data = np.maximum(strokes, third)
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    names = [lay.name for lay in viewer.layers]
    assert names.index("scene CRF preview") < names.index("scene CRF labels") < names.index("scene strokes")
    assert not viewer.layers["scene CRF preview"].visible and viewer.layers["scene CRF labels"].visible


def test_the_label_says_preview_while_the_proximity_reports_beside_it(make_napari_viewer, qtbot):
    _, panel = open_with_image(make_napari_viewer, three_bands()[0])
    label = panel.stage_label
    panel._start_feedback("Starting...")
    panel._on_stage("preview", 0.0)
    panel._on_stage("proximity", 0.5)  # the full run's prior thread, started beside the preview
    qtbot.wait(400)
    assert label.value == "Preview..." and panel.progress_bar.value == 0
    panel._on_stage("training", 0.5)  # the full run itself, after the preview
    qtbot.waitUntil(lambda: label.value == "training: 50%", timeout=2000)
    panel._on_stage("proximity", 0.75)
    qtbot.waitUntil(lambda: label.value == "proximity: 75%", timeout=2000)
    panel._on_stage("training", 0.75)  # beside an unfinished proximity: not named...
    qtbot.wait(400)
    assert label.value == "proximity: 75%"
    panel._on_stage("proximity", 1.0)
    panel._on_stage("training", 0.8)  # ...but once the proximity is complete, the training goes on being named
    qtbot.waitUntil(lambda: label.value == "training: 80% (proximity done)", timeout=2000)
    panel._on_stage("features", 1.0)  # a tile's features are complete while the proximity still runs:
    panel._on_stage("proximity", 0.5)  # the text stays with the tiles
    qtbot.wait(400)
    assert label.value == "features: 100%"
    panel._start_feedback("Starting...")  # a run without a preview names the proximity at once
    panel._on_stage("proximity", 0.25)
    assert label.value == "proximity: 25%"


def test_tiles_side_by_side_name_the_stage_of_the_one_furthest_on(make_napari_viewer, qtbot):
    # two threads label two tiles at once, each reporting its own stage: the text never goes back
    from napari_crf_label._widget import FEEDBACK_MS

    _, panel = open_with_image(make_napari_viewer, three_bands()[0])
    label = panel.stage_label
    panel._start_feedback("Starting...")
    panel._on_tiles((0, 4))
    expected = ["CRF: 60%", "CRF: 60%", "CRF: 60%", "CRF: 80%", "CRF: 80%"]
    for (stage, fraction), text in zip([("CRF", 0.6), ("features", 0.1), ("classifier", 0.5), ("CRF", 0.8),
                                        ("features", 0.9)], expected):
        panel._on_stage(stage, fraction)
        qtbot.waitUntil(lambda text=text: label.value == f"{text} (tile 1 of 4)", timeout=3000)
        qtbot.wait(FEEDBACK_MS + 50)  # and it stays so
        assert label.value == f"{text} (tile 1 of 4)"
    panel._on_tiles((1, 4))  # the first tile ended: the other one leads now
    panel._on_stage("features", 0.9)
    qtbot.waitUntil(lambda: label.value == "features: 90% (tile 2 of 4)", timeout=2000)


def test_a_burst_of_stage_reports_updates_the_panel_a_few_times_and_ends_on_the_last(make_napari_viewer, qtbot):
    # every update of the window costs a redraw of all of it with software OpenGL: the run needs that CPU
    from napari_crf_label._widget import FEEDBACK_MS

    _, panel = open_with_image(make_napari_viewer, three_bands()[0])
    bar = []
    panel.progress_bar.changed.connect(bar.append)
    panel._start_feedback("Starting...")
    panel._on_tiles((0, 2))
    for i in range(1, 101):  # a CRF's iterations on a small tile, as fast as they come
        panel._on_stage("CRF", i / 100)
    assert len(bar) == 1 and panel.stage_label.value == "Starting..."  # the tiles' count at once, then a pause
    qtbot.wait(FEEDBACK_MS + 200)
    assert panel.stage_label.value == "CRF: 100% (tile 1 of 2)"  # then the last one, not each one
    assert len(bar) == 2 and bar[-1] == panel.progress_bar.value > bar[0]
    panel._on_stage("CRF", 1.0)
    panel.cancel_button.enabled = True
    panel._on_finished()  # the run's end is shown at once, whatever waited
    assert panel.stage_label.value == "Done." and not panel._feedback_timer.isActive()


def test_live_mode_previews_after_painting_pauses(make_napari_viewer, qtbot):
    image, truth, strokes, third = three_bands()
    viewer, panel = open_with_image(make_napari_viewer, image)
    assert panel.live.enabled and not panel.live.value  # off until asked for
    layer = viewer.layers["scene strokes"]
    layer.data = strokes
    panel.live.value = True
    for row in range(200, 440, 40):  # brush dabs of the third class, as a user paints
        layer.paint((row, 5 * 960 // 6), 3)
    qtbot.waitUntil(lambda: "scene CRF preview" in [lay.name for lay in viewer.layers], timeout=120_000)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    layer = viewer.layers["scene CRF preview"]
    preview = np.asarray(layer.data)
    small_truth = at_grid(truth, preview.shape)
    assert (preview[small_truth == 3] == 3).mean() > 0.95 and (preview == small_truth).mean() > 0.95
    # laid over the whole image: the coarse grid spans the same world extent
    assert np.allclose(np.asarray(layer.scale) * preview.shape, truth.shape)
    assert "scene CRF labels" not in [lay.name for lay in viewer.layers]  # a preview only: no result yet
    assert panel.stage_label.value.startswith("Preview shown")
    assert panel.progress_bar.native.text() == ""  # no full run's bar (it read "0% in all")


def test_live_mode_is_unavailable_on_images_too_big_to_preview_in_a_second(make_napari_viewer, monkeypatch):
    from napari_crf_label import _widget

    monkeypatch.setattr(_widget, "LIVE_MAX_PIXELS", 100_000)
    image, *_ = three_bands()
    _, panel = open_with_image(make_napari_viewer, image)
    assert not panel.live.enabled and not panel.live.value


def test_live_mode_on_an_image_no_larger_than_a_preview_shows_the_result(make_napari_viewer, qtbot):
    """A small image is its own preview: Live runs it fully and the result layer follows the painting."""
    image, truth, strokes, third = three_bands(height=320, width=480)
    assert preview_params(truth.shape, {"scale": 1.0}) is None
    viewer, panel = open_with_image(make_napari_viewer, image)
    layer = viewer.layers["scene strokes"]
    layer.data = strokes
    panel.live.value = True
    for row in range(100, 220, 20):
        layer.paint((row, 5 * 480 // 6), 3)
    qtbot.waitUntil(lambda: "scene CRF labels" in [lay.name for lay in viewer.layers], timeout=120_000)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    result = np.asarray(viewer.layers["scene CRF labels"].data)
    assert (result == truth).mean() > 0.99 and (result[truth == 3] == 3).mean() > 0.99
    assert np.array_equal(panel.image_state().result.strokes, np.asarray(layer.data))
    assert panel.stage_label.value == "Done."


def test_export_creates_the_folder_and_warns_about_strokes_painted_after_the_run(make_napari_viewer, qtbot,
                                                                                   tmp_path, monkeypatch):
    from napari_crf_label import _result_layers, _widget

    warned = []
    monkeypatch.setattr(_widget, "show_warning", warned.append)
    monkeypatch.setattr(_result_layers, "show_warning", warned.append)  # the run's own warnings
    image, truth, strokes, third = three_bands(height=320, width=480)
    viewer, panel = open_with_image(make_napari_viewer, image)
    layer = viewer.layers["scene strokes"]
    layer.data = strokes
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    layer.paint((150, 400), 3)  # painted after the run, not run
    outdir = tmp_path / "new" / "labels"
    panel.export(outdir)
    qtbot.waitUntil(lambda: panel.export_worker is None, timeout=120_000)
    assert sorted(p.name for p in outdir.iterdir()) == sorted(
        ["scene_mres.mat", "scene_mres.png", "scene_report.txt", "scene_label.png", "scene_session.npz"])
    assert warned[0].startswith("No strokes for bright")  # the run's own warning
    assert len(warned) == 2 and "strokes changed since the last run" in warned[1]
    assert panel.status.value.splitlines()[0] == f"Exported 5 files to {outdir} (folder created)."


def test_long_stage_text_wraps_in_a_narrow_dock(make_napari_viewer):
    """The stage line wraps rather than being cut ("Preview sh") or widening the dock."""
    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, PANEL)
    label = panel.stage_label.native
    panel.stage_label.value = "Preview shown (Run CRF for full resolution)."
    needed = label.fontMetrics().horizontalAdvance(panel.stage_label.value)
    narrow = needed // 2
    assert label.minimumSizeHint().width() < narrow  # it does not hold the dock wider than the text
    assert label.heightForWidth(narrow) >= 2 * label.fontMetrics().height()  # two lines, the whole text
    # and the dock cannot be made narrower than the panel's controls (a new user shrank it to 69 px)
    body = panel.native.layout().itemAt(0).widget().widget()
    assert panel.native.minimumSizeHint().width() >= body.minimumSizeHint().width() > 200


def test_export_after_a_live_preview_shows_the_labels_it_writes(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """Painted after the run, previewed live, then exported: the screen shows what the files hold."""
    from napari_crf_label import _widget

    warned = []
    monkeypatch.setattr(_widget, "show_warning", warned.append)
    image, truth, strokes, third = three_bands()
    viewer, panel = open_with_image(make_napari_viewer, image)
    layer = viewer.layers["scene strokes"]
    layer.data = np.where(strokes == 3, 0, strokes)  # the third class painted only after the run
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    panel.live.value = True
    for row in range(200, 440, 40):
        layer.paint((row, 5 * 960 // 6), 3)
    qtbot.waitUntil(lambda: viewer.layers["scene CRF labels"].visible is False, timeout=120_000)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    preview, labels = viewer.layers["scene CRF preview"], viewer.layers["scene CRF labels"]
    assert preview.visible and (np.asarray(preview.data) == 3).any()
    panel.export(tmp_path)
    qtbot.waitUntil(lambda: panel.export_worker is None, timeout=120_000)
    assert labels.visible and not preview.visible
    assert not (np.asarray(labels.data) == 3).any()  # the labels shown are the run's, as written
    written = np.asarray(Image.open(tmp_path / "scene_label.png"))
    assert np.array_equal(written, np.asarray(labels.data))
    assert any("(shown now)" in text for text in warned)


def test_rerun_after_painting_a_class_for_the_first_time_equals_a_fresh_run(make_napari_viewer, qtbot):
    """A re-run keeps lattices and features but not the last marginals: they held a new class out (0.2 % vs 24 %)."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "bahamas")
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, PANEL)
    panel.method.value = "crf"
    layer = viewer.layers["bahamas_landsat strokes"]
    full = np.asarray(layer.data).copy()
    land = 3
    layer.data = np.where(full == land, 0, full)  # the first run: land not painted yet
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    assert not (np.asarray(viewer.layers["bahamas_landsat CRF labels"].data) == land).any()
    layer.data = full  # the user paints land
    panel.run_button.native.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    rerun = np.asarray(viewer.layers["bahamas_landsat CRF labels"].data).copy()
    state = panel.image_state()
    state.cache.clear()
    state.preview.clear()
    panel.run_button.native.click()  # the same strokes from nothing kept: a fresh run
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    fresh = np.asarray(viewer.layers["bahamas_landsat CRF labels"].data)
    assert (fresh == land).mean() > 0.1  # land is a fifth of the scene
    np.testing.assert_array_equal(rerun, fresh)


def test_a_live_preview_names_strokes_on_no_data(make_napari_viewer, qtbot, notes):
    """Live preview of a big image may be all the user runs: strokes on no-data are named there (trial 22)."""
    image, truth, strokes, third = three_bands()
    rgba = np.dstack([image, np.full(truth.shape, 255, np.uint8)])
    rgba[:, :60, 3] = 0  # a transparent strip: no data
    viewer, panel = open_with_image(make_napari_viewer, rgba)
    layer = viewer.layers["scene strokes"]
    layer.data = strokes
    panel.live.value = True
    for row in range(200, 440, 40):  # dabs of the first class on the strip, and of the third on the image
        layer.paint((row, 30), 1)
        layer.paint((row, 5 * 960 // 6), 3)
    qtbot.waitUntil(lambda: "scene CRF preview" in [lay.name for lay in viewer.layers], timeout=120_000)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=120_000)
    assert "scene CRF labels" not in [lay.name for lay in viewer.layers]  # a preview only
    dropped = [m for m in notes.messages if m.startswith("Not used: stroke pixels on no-data")]
    assert len(dropped) == 1 and "dark " in dropped[0] and "bright" not in dropped[0]


def test_a_preview_says_its_resolution_as_a_user_reads_it():
    from napari_crf_label._result_layers import resolution_words

    assert resolution_words(0.25) == "1/4" and resolution_words(1 / 4.1) == "1/4"  # not "1/4.1" (trial 24)
    # a 900 x 600 photo's preview at 0.68 said "1/1", as if it were the full resolution (trial 31)
    assert resolution_words((250_000 / 540_000) ** 0.5) == "68 %"
    assert resolution_words(0.5) == "1/2"
