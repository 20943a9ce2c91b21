"""Stage checkpoints: reported to whoever listens, and able to stop a run or an export at once."""

import threading

import numpy as np
import pytest

from napari_crf_label.export import export_all
from napari_crf_label.image_io import as_image_data
from napari_crf_label.pipeline import iter_label_image, label_image
from napari_crf_label.progress import Cancelled, as_stage, checkpoint, reporting

from .conftest import two_region_scene


def test_checkpoint_is_silent_without_a_reporter_and_nests():
    checkpoint("anything", 0.5)  # no reporter: nothing happens
    outer, inner = [], []
    with reporting(lambda s, f: outer.append((s, f))):
        checkpoint("a", 2.0)  # clipped to 0..1
        with reporting(lambda s, f: inner.append(s)):
            checkpoint("b")
        checkpoint("c", -1)
    assert outer == [("a", 1.0), ("c", 0.0)] and inner == ["b"]


def test_a_stage_within_a_span_moves_through_it_never_back_and_nests():
    seen = []
    with reporting(lambda s, f: seen.append((s, round(f, 3)))):
        with as_stage("proximity", 0.5, 1.0):
            checkpoint("proximity", 0.5)
            checkpoint("training", 0.9)  # a smaller version of another stage: the fraction holds
            with as_stage("proximity", 0.5, 1.0):  # the second half of the span
                checkpoint("proximity", 0.0)  # a part that starts again does not go back (0.75: its start)
                checkpoint("proximity", 1.0)
    assert seen == [("proximity", 0.75), ("proximity", 0.75), ("proximity", 0.75), ("proximity", 1.0)]


def test_the_proximity_stage_of_a_checked_scene_never_goes_back():
    # the geodesic distances, then the held-out check's three folds of distances and two forests
    from PIL import Image

    from napari_crf_label.image_io import read_image
    from napari_crf_label.sample import sample_files

    files = sample_files()
    strokes = np.array(Image.open(files.strokes)).astype(np.int32)
    seen = []
    with reporting(lambda s, f: seen.append(f) if s == "proximity" else None):
        result = label_image(read_image(files.image), strokes, classes=open(files.labels).read().split())
    assert "holdout_scores" in result.params  # the check ran
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == 1.0 and 0.4 < seen[len(seen) // 2] < 1.0


def test_checkpoints_are_per_thread():
    seen = []
    with reporting(lambda s, f: seen.append(s)):
        thread = threading.Thread(target=checkpoint, args=("elsewhere",))
        thread.start()
        thread.join()
        checkpoint("here")
    assert seen == ["here"]


def test_a_run_reports_every_stage_in_order_and_its_result_is_unchanged():
    image, truth, strokes = two_region_scene(height=150, width=220, boundary=100)
    seen = []
    with reporting(lambda s, f: seen.append((s, f))):
        gen = iter_label_image(image, strokes, classes="a, b", window=120)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                result = stop.value
                break
    stages = [s for s, _ in seen]
    for stage in ("training", "proximity", "features", "classifier", "building the CRF", "CRF"):
        assert stage in stages
    assert stages.index("training") < stages.index("proximity") < stages.index("features")
    crf = [f for s, f in seen if s == "CRF"]
    assert crf[-1] == 1.0 and all(0 <= f <= 1 for f in crf)
    np.testing.assert_array_equal(result.labels, label_image(image, strokes, classes="a, b", window=120).labels)


@pytest.mark.parametrize("stage", ["training", "proximity", "features", "classifier", "building the CRF", "CRF"])
def test_raising_in_the_reporter_stops_the_run_at_that_stage(stage):
    image, _, strokes = two_region_scene(height=150, width=220, boundary=100)
    seen = []

    def reporter(name, fraction):
        seen.append(name)
        if name == stage:
            raise Cancelled

    with reporting(reporter), pytest.raises(Cancelled):
        label_image(image, strokes, classes="a, b", window=120)
    assert seen[-1] == stage


@pytest.mark.parametrize("after", [0.0, 0.3, 0.7, 0.9])
def test_cancelled_export_writes_nothing(tmp_path, after):
    image, _, strokes = two_region_scene()
    result = label_image(image, strokes, classes="a, b")

    def reporter(name, fraction):
        if fraction >= after:
            raise Cancelled

    with reporting(reporter), pytest.raises(Cancelled):
        export_all(result, as_image_data(image), tmp_path, "scene")
    assert list(tmp_path.iterdir()) == []
