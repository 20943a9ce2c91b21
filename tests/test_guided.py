"""Guided annotation: the walk over the CRF's windows (core), and the panel's guided mode on the bundled sample."""

from __future__ import annotations

import numpy as np
import pytest

from napari_crf_label._guided_panel import GUIDE_KEYS
from napari_crf_label.guided import (
    GuidedWalk,
    coverage_lines,
    guide_windows,
    weak_windows,
    window_coverage,
    window_states,
)
from napari_crf_label.tiling import Tile

from .test_widget import click, open_panel, press, wait_idle


def test_windows_are_the_crf_tiles():
    wins = guide_windows((512, 512), 256)
    assert wins == [Tile(0, 256, 0, 256), Tile(0, 256, 256, 512), Tile(256, 512, 0, 256), Tile(256, 512, 256, 512)]
    assert len(guide_windows((3000, 2000), None, 0.5)) == 2  # default: 1024 CRF pixels = 2048 image pixels
    assert guide_windows((10, 10)) == [Tile(0, 10, 0, 10)]


def test_walk_visits_every_class_of_every_window_and_back():
    walk = GuidedWalk(guide_windows((100, 100), 50), 3)
    seen = [(walk.window, walk.label)]
    while walk.next():
        seen.append((walk.window, walk.label))
    assert seen == [(w, k) for w in range(4) for k in (1, 2, 3)] and walk.finished
    assert not walk.next()
    walk.previous()
    assert (walk.window, walk.label) == (3, 2)
    while walk.previous():
        pass
    assert (walk.window, walk.label) == (0, 1)
    walk.skip()
    assert (0, 0) in walk.skipped and (walk.window, walk.label) == (0, 2)
    walk.add_time(12.5)
    walk.add_time(-3)
    assert walk.seconds == [12.5, 0, 0, 0]
    again = GuidedWalk.from_dict(walk.to_dict())
    assert again == walk
    with pytest.raises(ValueError, match="not a saved guided walk"):
        GuidedWalk.from_dict({"windows": [[0, 1, 0, 1]], "n_classes": 2, "order": [0], "step": 5,
                              "class_index": 0, "ask_classes": True, "skipped": [], "seconds": [0]})
    with pytest.raises(ValueError, match="not a saved guided walk"):
        GuidedWalk.from_dict({"windows": 3})


def test_review_walk_asks_no_class_and_follows_its_order():
    walk = GuidedWalk(guide_windows((100, 100), 50), 3, order=[2, 0, 3, 1], ask_classes=False)
    seen = [walk.window]
    while walk.next():
        seen.append(walk.window)
    assert seen == [2, 0, 3, 1]


def test_coverage_states_and_lines():
    wins = guide_windows((100, 100), 50)
    strokes = np.zeros((100, 100), np.uint8)
    strokes[10, 10:20] = 1  # window 1: class 1 only
    strokes[60, 60:65] = 2  # window 4: class 2
    strokes[60, 70:72] = 1  # window 4: class 1 too
    cov = window_coverage(strokes, wins, 2)
    assert cov.tolist() == [[10, 0], [0, 0], [0, 0], [2, 5]]
    assert window_states(cov) == ["started", "empty", "empty", "done"]
    assert window_states(cov, {(0, 1)}) == ["done", "empty", "empty", "done"]
    lines = coverage_lines(wins, cov, ["water", "land"], {(0, 1)}, [30.0, 0, 0, 4.0])
    assert lines[0] == "  window 1 (rows 0-50, cols 0-50): water 10, land absent; 30.0 s"
    assert lines[1] == "  window 2 (rows 0-50, cols 50-100) (no strokes): water 0, land 0; 0.0 s"


def test_places_to_check_on_a_coarser_grid_lie_in_the_doubtful_area_apart_and_off_edges_and_strokes():
    from napari_crf_label.guided import places_csv, suggest_points

    height, width, h, w = 400, 600, 200, 300  # a run at scale 0.5: probabilities on a grid half the image's size
    rows, cols = np.mgrid[0:h, 0:w]
    sure = np.where(cols < 150, 0.95, 0.05)  # class 1 left, class 2 right: their edge at grid column 150
    doubt = (rows - 100) ** 2 + (cols - 75) ** 2 < 30**2  # a doubtful disc at grid (100, 75): image (200, 150)
    p1 = np.where(doubt, 0.55, sure)
    probabilities = np.stack([p1, 1 - p1]).astype(np.float32)
    avoid = np.zeros((height, width), bool)
    avoid[150:250, 140:160] = True  # a stroke across the disc's centre
    places = suggest_points(probabilities, (height, width), avoid, count=10)
    assert len(places) == 10
    r, c = places.T
    assert ((r - 200) ** 2 + (c - 150) ** 2 < 62**2).all()  # in the doubt (radius 60 at image scale)
    assert not avoid[r, c].any()
    apart = np.sqrt(((places[:, None] - places[None]) ** 2).sum(-1)) + np.eye(10) * 1e9
    assert apart.min() >= 25  # the default spacing on a 400-pixel side
    # a result least sure at its class edge (image column 300): the places keep 4 pixels off it, where a dot
    # could not say which side it means
    smooth = 0.5 + 0.45 * np.tanh((149.5 - cols) / 3)
    near_edge = suggest_points(np.stack([smooth, 1 - smooth]).astype(np.float32), (height, width))
    assert len(near_edge) and (np.abs(near_edge[:, 1] - 300) >= 4).all()
    assert (np.abs(near_edge[:10, 1] - 300) <= 6).all()  # the least sure first, as near as that allows
    # a result least sure along the image's border: the places keep 4 pixels off it too (trial 36: rings cut off)
    border = np.full((h, w), 0.95)
    border[:3], border[:, -3:] = 0.5, 0.5
    border[10:20, 10:20] = 0.6  # the next least sure, inside
    off = suggest_points(np.stack([border, 1 - border]).astype(np.float32), (height, width), count=3)
    assert len(off) and (off[:, 0] >= 4).all() and (off[:, 1] <= width - 5).all()
    # a result that kept no probabilities, or one class: no place, no error
    assert suggest_points(np.zeros((2, 0, 0), np.float32), (height, width), avoid).shape == (0, 2)
    assert suggest_points(np.ones((1, h, w), np.float32), (height, width)).shape == (0, 2)
    # the CSV the command line writes: the class the result gives at each place
    text = places_csv(places[:2], np.where(np.arange(width) < 300, 1, 2)[None].repeat(height, 0), ["a", "b"])
    assert text.splitlines()[0] == "row,col,class,x,y" and text.splitlines()[1].split(",")[2] == "a"


def test_weak_windows_rank_by_uncertainty():
    wins = guide_windows((100, 100), 50)
    probs = np.full((2, 50, 50), 0.5, np.float32)  # CRF at scale 0.5
    probs[0, :25, :] = 1.0  # top windows certain
    probs[1, :25, :] = 0.0
    probs[0, 25:, :25] = 0.7  # bottom left a bit sure
    probs[1, 25:, :25] = 0.3
    assert weak_windows(probs, wins, (100, 100)) == [3, 2, 0, 1]


def test_guided_mode_on_the_bundled_sample(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    strokes = viewer.layers["bahamas_landsat strokes"]
    strokes.data = np.zeros_like(np.asarray(strokes.data))  # start from a blank page
    strokes.brush_size = 5
    panel.window.value = 256  # 512 x 512 scene: 4 windows, as the CRF tiles it
    guided = panel.guided
    click(guided.start_button)
    assert guided.active and guided.next_button.enabled and not guided.back_button.enabled  # at the first step
    layers = [lay.name for lay in viewer.layers]
    assert "bahamas_landsat guide windows" in layers and "bahamas_landsat current window" in layers
    assert not viewer.layers["bahamas_landsat guide windows"].editable
    assert len(viewer.layers["bahamas_landsat guide windows"].data) == 4

    windows = guided.walk.windows
    painted = {}  # (window, class) -> pixels painted
    skipped = set()
    for w, win in enumerate(windows):
        for k in range(1, 5):
            # the camera shows this window and the brush paints the asked class
            center = np.asarray(viewer.camera.center)[-2:]
            assert center == pytest.approx([(win.y0 + win.y1 - 1) / 2, (win.x0 + win.x1 - 1) / 2], abs=1.0)
            assert strokes.selected_label == k and panel.class_list.currentRow() == k - 1
            assert f"Window {w + 1} of 4" in guided.prompt.value
            # the last step says so: Next is off there (trial 37 waited for "Every window has been visited")
            assert ("The last step: then Run CRF." in guided.prompt.value) == (w == 3 and k == 4)
            if (w + k) % 3 == 0:
                click(guided.skip_button)  # "absent here"
                skipped.add((w, k - 1))
                continue
            if (w + k) % 3 == 1:  # a short stroke of the asked class inside the window
                row = win.y0 + 20 + 10 * k
                for col in range(win.x0 + 30, win.x0 + 60, 3):
                    strokes.paint((row, col), strokes.selected_label)
                    qtbot.wait(20)  # a hand takes its time
                painted[(w, k)] = True
            if w == 3 and k == 4:
                break  # the last class of the last window: nothing further to move to
            click(guided.next_button)
    assert guided.walk.finished
    assert not guided.next_button.enabled and guided.back_button.enabled  # nothing after the last step
    # the coverage table matches what was painted and skipped (it follows painting within a moment)
    qtbot.wait(600)
    table = guided.coverage.value
    header = guided.coverage.native
    # a row per class, a column per window (trial 31 could not read a column per class: "5..."); a long class
    # name is cut at its end, whole in its tooltip
    assert [header.verticalHeaderItem(r).toolTip() for r in range(4)] == list(table["index"][:4])
    assert table["index"][0] == "deep_water" and [str(c) for c in table["columns"]] == ["1", "2", "3", "4"]
    # every count is shown whole in a 1600-pixel window's dock
    metrics = header.fontMetrics()
    assert all(header.columnWidth(c) >= metrics.horizontalAdvance("absent") for c in range(4))
    data = np.asarray(strokes.data)
    for w, win in enumerate(windows):
        for k in range(1, 5):
            cell = table["data"][k - 1][w]
            count = int((data[win.slices] == k).sum())
            if (w, k - 1) in skipped:
                assert cell == "absent" and count == 0
            else:
                assert cell == count and (count > 0) == ((w, k) in painted)
    # back goes back to the previous class, in the same window
    click(guided.back_button)
    assert strokes.selected_label == 3
    press(qtbot, viewer, GUIDE_KEYS["guide_next"])
    assert strokes.selected_label == 4
    # leaving guided mode keeps every stroke
    click(guided.start_button)
    assert not guided.active and "bahamas_landsat current window" not in viewer.layers
    assert np.array_equal(np.asarray(strokes.data), data)
    # stopped, the table still shows, and follows the strokes (a new user erased some and saw old counts)
    erased = data.copy()
    erased[windows[0].slices] = 0
    strokes.data = erased
    qtbot.waitUntil(lambda: guided.coverage.value["data"][4][0] == "empty", timeout=3000)
    assert all(row[0] in (0, "absent") for row in guided.coverage.value["data"][:4])
    strokes.data = data
    qtbot.waitUntil(lambda: guided.coverage.value["data"][4][0] != "empty", timeout=3000)

    # a run and an export: the report lists each window's coverage and time
    click(panel.run_button)
    wait_idle(qtbot, panel)
    panel.export(tmp_path)
    wait_idle(qtbot, panel)
    report = (tmp_path / "bahamas_landsat_report.txt").read_text()
    assert "stroke pixels per window (4 window(s), 0 without strokes; time spent in guided annotation):" in report
    lines = [line for line in report.splitlines() if line.startswith("  window ")]
    assert len(lines) == 4
    for w, (win, line) in enumerate(zip(windows, lines)):
        assert line.startswith(f"  window {w + 1} (rows {win.y0}-{win.y1}, cols {win.x0}-{win.x1})")
        for k, name in enumerate(["deep_water", "shallow_water", "land", "cloud"], start=1):
            count = int((data[win.slices] == k).sum())
            expected = "absent" if (w, k - 1) in skipped and not count else str(count)
            assert f"{name} {expected}" in line
    assert any(float(line.rsplit("; ", 1)[1].removesuffix(" s")) > 0 for line in lines)  # time was counted

    # after the run: review the windows from the least certain
    assert guided.review_button.enabled
    click(guided.review_button)
    order = guided.walk.order
    assert sorted(order) == [0, 1, 2, 3] and not guided.walk.ask_classes
    first = windows[order[0]]
    center = np.asarray(viewer.camera.center)[-2:]
    assert center == pytest.approx([(first.y0 + first.y1 - 1) / 2, (first.x0 + first.x1 - 1) / 2], abs=1.0)
    assert guided.prompt.value.startswith(f"Review 1 of 4: window {order[0] + 1},")
    assert guided.coverage.native.currentColumn() == order[0]
    assert any(cell == "absent" for row in guided.coverage.value["data"] for cell in row)  # the pass is kept
    click(guided.start_button)
    # the guided pass is untouched by the review: walked to its end, it starts again at the first window, with
    # its skips and times
    assert guided.start_button.text == "Start guided annotation again"
    click(guided.start_button)
    assert guided.walk.ask_classes and (guided.walk.step, guided.walk.class_index) == (0, 0)
    assert guided.walk.skipped == skipped
    assert sum(guided.walk.seconds) > 0
    assert "Window 1 of 4" in guided.prompt.value and strokes.selected_label == 1
    click(guided.next_button)
    click(guided.start_button)  # stopped mid-pass: it resumes there
    assert guided.start_button.text == "Resume guided annotation"
    click(guided.start_button)
    assert (guided.walk.step, guided.walk.class_index) == (0, 1)
    click(guided.start_button)


def test_the_guided_section_shows_the_chosen_images_pass(make_napari_viewer, qtbot):
    """Trial 35 opened a second image and read "Start guided annotation again" over the first one's table."""
    from .test_widget import shown

    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    guided = panel.guided
    assert not shown(guided.coverage)  # no pass yet: no empty table
    panel.window.value = 256
    click(guided.start_button)
    while not guided.walk.finished:
        click(guided.next_button)
    click(guided.start_button)
    assert guided.start_button.text == "Start guided annotation again" and shown(guided.coverage)
    first = panel.image_layer
    viewer.add_image(np.zeros((64, 80, 3), np.uint8), name="second", rgb=True)
    panel.image_picker.value = viewer.layers["second"]
    assert guided.start_button.text == "Start guided annotation" and not shown(guided.coverage)
    panel.image_picker.value = first  # back: its pass and table
    assert guided.start_button.text == "Start guided annotation again" and shown(guided.coverage)
    assert [str(c) for c in guided.coverage.value["columns"]] == ["1", "2", "3", "4"]


def test_empty_windows_are_outlined_before_a_run(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    strokes = viewer.layers["bahamas_landsat strokes"]
    only_top = np.asarray(strokes.data).copy()
    only_top[256:] = 0
    strokes.data = only_top
    panel.window.value = 256
    panel.method.value = "crf"
    start = len(notification_manager.records)
    click(panel.run_button)
    wait_idle(qtbot, panel)
    messages = [n.message for n in notification_manager.records[start:]]
    assert any("2 of 4 windows have no strokes" in m and "3, 4" in m for m in messages)
    # no guided pass: only the empty windows, in red, in a layer named for them (trial 29 could not tell the
    # guided pass's orange "started" outlines from red, in a "guide windows" layer it had not asked for)
    assert "bahamas_landsat guide windows" not in viewer.layers
    outlines = viewer.layers["bahamas_landsat windows without strokes"]
    red = np.array([0xD6, 0x27, 0x28, 255]) / 255
    assert len(outlines.data) == 2 and all(np.allclose(c, red, atol=0.01) for c in outlines.edge_color)
    assert sorted(float(r[:, 0].min()) for r in outlines.data) == [255.5, 255.5]  # the lower two
    strokes.data = np.asarray(viewer.layers["bahamas_landsat strokes"].data) * 0 + np.where(
        np.arange(512)[:, None] >= 256, 2, only_top).astype(np.uint8)  # the lower half painted too
    click(panel.run_button)
    wait_idle(qtbot, panel)
    assert "bahamas_landsat windows without strokes" not in viewer.layers  # none empty: the outline goes


def test_a_window_whose_strokes_all_lie_on_no_data_is_outlined_as_empty(make_napari_viewer, qtbot, notes):
    """The run leaves strokes on no-data out, so the windows' warning does too (trial 26: the report disagreed)."""
    import rasterio

    from napari_crf_label._layers import image_data_from_layer
    from napari_crf_label.io.export import report_text
    from napari_crf_label.sample import sample_files

    with rasterio.open(sample_files().image) as src:
        rgb = src.read().transpose(1, 2, 0)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[256:, :200, 3] = 0  # the lower left is transparent: no data
    strokes = np.zeros(rgb.shape[:2], np.uint8)
    strokes[100:140, 100], strokes[100:140, 400] = 1, 3  # windows 1 and 2
    strokes[300:340, 100] = 1  # window 3: on no-data only
    strokes[300:340, 400] = 3  # window 4
    viewer = make_napari_viewer()
    viewer.add_image(rgba, name="scene", rgb=True)
    panel = open_panel(viewer)
    panel.class_names.value = "deep_water, shallow_water, land, cloud"
    click(panel.use_names_button)
    viewer.layers["scene strokes"].data = strokes
    panel.window.value = 256
    panel.method.value = "crf"
    click(panel.run_button)
    wait_idle(qtbot, panel)
    assert any("1 of 4 windows have no strokes" in m and "red: 3)" in m for m in notes.messages)
    report = report_text(image_data_from_layer(viewer.layers["scene"]), panel.image_state().result)
    assert "window 3 (rows 256-512, cols 0-256) (no strokes)" in report  # the report agrees


def test_a_run_without_any_stroke_is_told_so_without_outlines(make_napari_viewer, qtbot):
    # "their labels come from strokes elsewhere" would contradict the run's own error: there are none
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    strokes = viewer.layers["bahamas_landsat strokes"]
    strokes.data = np.zeros_like(np.asarray(strokes.data))
    panel.window.value = 256
    start = len(notification_manager.records)
    click(panel.run_button)
    wait_idle(qtbot, panel)
    messages = [n.message for n in notification_manager.records[start:]]
    assert any("no strokes: paint at least one stroke" in m for m in messages)
    assert not any("windows have no strokes" in m for m in messages)
    assert "bahamas_landsat guide windows" not in viewer.layers
    assert "bahamas_landsat windows without strokes" not in viewer.layers


def test_guided_pass_is_saved_with_the_session_and_the_export(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    panel.window.value = 256
    click(panel.guided.start_button)
    for _ in range(5):
        click(panel.guided.next_button)
    click(panel.guided.skip_button)
    path = panel.save_session(tmp_path / "walk")
    viewer2 = make_napari_viewer()
    viewer2.open(str(path), plugin="napari-crf-label")
    panel2 = open_panel(viewer2)
    assert panel2.guided.start_button.text == "Resume guided annotation"
    # its table and outlines are back before any run (trial 36 saw them only after one)
    from .test_widget import shown

    assert shown(panel2.guided.coverage) and len(panel2.guided.coverage.value["columns"]) == 4
    assert len(viewer2.layers["bahamas_landsat guide windows"].data) == 4
    panel2.window.value = 256
    click(panel2.guided.start_button)
    walk = panel2.guided.walk
    assert (walk.window, walk.label) == (1, 3) and (1, 1) in walk.skipped
    # the session an export writes resumes the pass too, as the README says (trial 31: it had no pass in it)
    click(panel.run_button)
    wait_idle(qtbot, panel)
    panel.export(tmp_path / "out")
    wait_idle(qtbot, panel)
    viewer3 = make_napari_viewer()
    viewer3.open(str(tmp_path / "out" / "bahamas_landsat_session.npz"), plugin="napari-crf-label")
    panel3 = open_panel(viewer3)
    assert panel3.guided.start_button.text == "Resume guided annotation"
    panel3.window.value = 256
    click(panel3.guided.start_button)
    assert (panel3.guided.walk.window, panel3.guided.walk.label) == (1, 3)
    assert (1, 1) in panel3.guided.walk.skipped


def test_restored_autosaved_strokes_bring_the_pass_with_its_table(make_napari_viewer, qtbot, autosave_dir):
    """Trial 36 restored its strokes the next day; the pass's table and outlines came only after a run."""
    from .test_widget import named_scene, shown

    viewer, panel, image, strokes = named_scene(make_napari_viewer)
    viewer.layers["scene strokes"].data = strokes.astype(np.uint8)
    click(panel.guided.start_button)
    click(panel.guided.skip_button)
    assert panel.autosave() is not None
    viewer2 = make_napari_viewer()
    viewer2.add_image(image, name="scene", rgb=True)
    panel2 = open_panel(viewer2)
    qtbot.waitUntil(lambda: shown(panel2.restore_button), timeout=5_000)
    assert not shown(panel2.guided.coverage)
    click(panel2.restore_button)
    # one window, two classes: the pass stood on the last class (walked to its end)
    assert panel2.guided.start_button.text == "Start guided annotation again"
    assert shown(panel2.guided.coverage) and "scene guide windows" in viewer2.layers


def test_a_class_marked_absent_in_every_window_is_not_warned_about(make_napari_viewer, qtbot, notes):
    """Trial 31 marked road absent in both windows and was still warned it had no strokes."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    strokes = viewer.layers["bahamas_landsat strokes"]
    data = np.asarray(strokes.data).copy()
    data[data == 4] = 0  # no cloud strokes
    strokes.data = data
    panel.window.value = 256
    click(panel.guided.start_button)
    for w in range(4):  # every window: deep and shallow water, land, then "Absent here" for cloud
        for _ in range(3):
            click(panel.guided.next_button)
        assert (panel.guided.walk.window, panel.guided.walk.label) == (w, 4)
        click(panel.guided.skip_button)
    assert panel.guided.walk.absent_everywhere() == {4}
    assert panel.guided.active and panel.guided.walk.finished
    click(panel.run_button)
    wait_idle(qtbot, panel)
    assert "bahamas_landsat CRF labels" in viewer.layers
    # the pass walked to its end and the run used it: it is over, not left with Stop offered (trial 31)
    assert not panel.guided.active and panel.guided.start_button.text == "Start guided annotation again"
    assert "bahamas_landsat current window" not in viewer.layers
    assert not any("No strokes for" in m for m in notes.messages)
    # a class left without strokes and not marked absent is still warned about, in a line napari shows whole
    panel.guided.walk.skipped.discard((2, 3))
    click(panel.run_button)
    wait_idle(qtbot, panel)
    assert any(m == "No strokes for cloud (not in the result)." for m in notes.messages)


def test_places_to_check_ring_where_the_result_is_least_sure_and_painting_them_helps(make_napari_viewer, qtbot):
    """After a run, *Mark places to check* rings 30 doubtful places; painting each one's true class helps."""
    from PIL import Image

    from napari_crf_label.metrics import mean_iou
    from napari_crf_label.sample import sample_files

    truth = np.array(Image.open(sample_files().truth)).astype(np.int32)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    assert not panel.guided.suggest_button.enabled  # nothing to be unsure about before a run
    click(panel.run_button)
    wait_idle(qtbot, panel)
    before = panel.image_state().result
    assert panel.guided.suggest_button.enabled
    # the run's status points to the places, until they are used once
    assert "Mark places to check rings where it is least sure" in panel.status.value.splitlines()[0]
    click(panel.guided.suggest_button)
    layer = viewer.layers["bahamas_landsat places to check"]
    points = np.round(np.asarray(layer.data)).astype(int)
    assert len(points) == 30 and "30 places to check" in panel.status.value
    assert viewer.layers.selection.active is viewer.layers["bahamas_landsat strokes"]  # still painting
    strokes = np.asarray(viewer.layers["bahamas_landsat strokes"].data).copy()
    rows, cols = points.T
    assert not strokes[rows, cols].any()  # none on a stroke
    # among the least sure pixels of the result, and spread out (at least 25 px apart)
    p = np.sort(before.probabilities, axis=0)
    margin = p[-1] - p[-2]  # the sample's CRF grid is its own pixels
    assert np.median(margin[rows, cols]) < np.percentile(margin, 10)
    apart = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)) + np.eye(len(points)) * 1e9
    assert apart.min() >= 25
    # a user paints a small dot of the true class on each, and runs again: the result gets better
    for r, c in points:
        dot = strokes[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3]
        dot[dot == 0] = truth[r, c]
    viewer.layers["bahamas_landsat strokes"].data = strokes
    click(panel.run_button)
    wait_idle(qtbot, panel)
    after = panel.image_state().result
    assert panel.status.value.startswith("CRF done in") and "Mark places" not in panel.status.value
    classes = [1, 2, 3, 4]
    # measured +6.1 points (30 dots of 25 pixels, 0.3 % of the image, on top of the sample's strokes)
    assert mean_iou(after.labels, truth, classes) > mean_iou(before.labels, truth, classes) + 0.03
    # the places stay, dimmed and renamed, to see what the new result made of them (trial 33 could not)
    checked = viewer.layers["bahamas_landsat places checked"]
    assert "bahamas_landsat places to check" not in viewer.layers and checked.opacity == 0.5
    assert np.array_equal(np.round(np.asarray(checked.data)).astype(int), points)
    click(panel.guided.suggest_button)  # the next marking replaces them
    assert "bahamas_landsat places checked" not in viewer.layers
    assert len(viewer.layers["bahamas_landsat places to check"].data) == 30


def test_starting_a_pass_scrolls_the_panel_to_every_class_row_and_the_prompt(make_napari_viewer, qtbot):
    """Trial 36 saw 2.5 of 15 rows: the panel scrolled to the section by its size before the table was shown."""
    from qtpy.QtCore import QPoint

    from .test_widget import use_names

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.add_image(np.full((1500, 2000, 3), 90, np.uint8), name="scene", rgb=True)
    panel = open_panel(viewer)
    use_names(panel, ", ".join(f"class{k}" for k in range(1, 16)))
    click(panel.guided.start_button)
    scroll = panel.native.layout().itemAt(0).widget()
    table, prompt = panel.guided.coverage.native, panel.guided.prompt.native

    def in_view() -> bool:
        top = table.mapTo(scroll.viewport(), QPoint(0, 0)).y() + table.horizontalHeader().height()
        last_class = top + table.rowViewportPosition(14) + table.rowHeight(14)
        return prompt.mapTo(scroll.viewport(), QPoint(0, 0)).y() >= 0 and last_class <= scroll.viewport().height()

    qtbot.waitUntil(in_view, timeout=3_000)


def test_outlines_removed_after_a_pass_stay_removed_until_the_next_pass(make_napari_viewer, qtbot):
    """Trial 35 removed the windows' outlines after its pass and saw them back as it painted and ran."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-crf-label", "bahamas")
    panel = open_panel(viewer)
    panel.window.value = 256
    click(panel.guided.start_button)
    while not panel.guided.walk.finished:
        click(panel.guided.next_button)
    click(panel.run_button)  # the pass walked to its end closes with this run
    wait_idle(qtbot, panel)
    viewer.layers.remove("bahamas_landsat guide windows")
    strokes = viewer.layers["bahamas_landsat strokes"]
    for _ in range(2):  # the table follows the strokes; the outlines removed stay removed
        painted = np.asarray(strokes.data).copy()
        painted[5:8, 5:60] = 1
        strokes.data = painted
        qtbot.wait(600)
        click(panel.run_button)
        wait_idle(qtbot, panel)
        assert "bahamas_landsat CRF labels" in viewer.layers
        assert "bahamas_landsat guide windows" not in viewer.layers
    click(panel.guided.start_button)  # stopped, then removed
    click(panel.guided.start_button)
    viewer.layers.remove("bahamas_landsat guide windows")
    click(panel.run_button)
    wait_idle(qtbot, panel)
    assert "bahamas_landsat guide windows" not in viewer.layers
    click(panel.guided.start_button)
    assert "bahamas_landsat guide windows" in viewer.layers
