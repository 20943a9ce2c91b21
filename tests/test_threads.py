"""Tiles on threads and re-runs that keep what an edit did not change give the labels of a plain run."""

from __future__ import annotations

import numpy as np
import pytest

from napari_crf_label.features import pixel_features, pixel_features_at, smooth_bands
from napari_crf_label.geodesic import geodesic_distances
from napari_crf_label.pipeline import CRFCache, label_image
from napari_crf_label.progress import Cancelled, reporting

from .conftest import two_region_scene


def scene():
    image, truth, strokes = two_region_scene(height=260, width=300, boundary=140)
    return image, truth, strokes


def test_threads_give_the_labels_and_probabilities_of_a_serial_run():
    image, truth, strokes = scene()
    serial = label_image(image, strokes, classes="a, b", window=120, threads=1)
    threaded = label_image(image, strokes, classes="a, b", window=120, threads=2)
    assert serial.params["tiles"] > 2
    np.testing.assert_array_equal(threaded.labels, serial.labels)
    np.testing.assert_array_equal(threaded.probabilities, serial.probabilities)
    assert (serial.labels == truth).mean() > 0.99


@pytest.mark.parametrize("method", ["features+crf", "features"])
def test_rerun_with_a_cache_equals_a_fresh_run_after_an_edit(method):
    image, truth, strokes = scene()
    cache = CRFCache()
    label_image(image, strokes, classes="a, b", window=120, cache=cache, method=method)
    edited = strokes.copy()
    edited[200:240, 250] = 2  # one tile's strokes change; the others keep their samples and features
    again = label_image(image, edited, classes="a, b", window=120, cache=cache, method=method)
    fresh = label_image(image, edited, classes="a, b", window=120, method=method)
    np.testing.assert_array_equal(again.labels, fresh.labels)
    np.testing.assert_array_equal(again.probabilities, fresh.probabilities)
    assert cache.memo_hits > 0  # features, samples or smoothed bands of untouched tiles were kept


def test_a_cancel_in_one_thread_stops_them_all_at_that_stage():
    image, _, strokes = scene()
    seen = []

    def reporter(stage, fraction):
        seen.append(stage)
        if stage == "CRF" and fraction >= 0.5:
            raise Cancelled

    with reporting(reporter), pytest.raises(Cancelled):
        label_image(image, strokes, classes="a, b", window=120, threads=2)
    assert seen[-1] == "CRF"


def test_features_at_a_step_and_from_smoothed_bands_are_those_of_every_pixel():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (67, 91, 3), dtype=np.uint8)
    full = pixel_features(image)
    smoothed = smooth_bands(image)
    np.testing.assert_array_equal(pixel_features(image, step=2), full[::2, ::2])
    np.testing.assert_array_equal(pixel_features(image, step=3, smoothed=smoothed), full[::3, ::3])
    rows, cols = rng.integers(0, 67, 40), rng.integers(0, 91, 40)
    np.testing.assert_array_equal(pixel_features_at(image, rows, cols, smoothed=smoothed), full[rows, cols])


def test_geodesic_distances_of_some_classes_only():
    image, _, strokes = two_region_scene()
    every = geodesic_distances(image, strokes, 2)
    second = geodesic_distances(image, strokes, 2, classes=[2])
    assert np.isinf(second[0]).all()
    np.testing.assert_array_equal(second[1], every[1])


def test_the_prior_is_made_beside_the_training_and_gives_the_labels_of_a_serial_run(monkeypatch):
    # on threads, the held-out check and the proximity run on a thread of their own while the classifier
    # trains and predicts; the tiles wait for it only for their prior
    import threading

    from napari_crf_label.pipeline import priors

    image, _, strokes = scene()
    strokes[30:34, 20:60] = 1  # a second piece per class, so that the held-out check runs
    strokes[200:204, 230:280] = 2
    threads_seen = []
    real = priors.check_proximity

    def recording(*args, **kwargs):
        threads_seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(priors, "check_proximity", recording)
    threaded = label_image(image, strokes, classes="a, b", window=120, threads=2)
    serial = label_image(image, strokes, classes="a, b", window=120, threads=1)
    assert threads_seen == ["crf-prior", "MainThread"]
    assert threaded.params["proximity"] == serial.params["proximity"]
    assert threaded.params["holdout_scores"] == serial.params["holdout_scores"]
    np.testing.assert_array_equal(threaded.labels, serial.labels)
    np.testing.assert_array_equal(threaded.probabilities, serial.probabilities)
    assert not any(t.name == "crf-prior" for t in threading.enumerate())


def test_an_error_of_the_prior_thread_reaches_the_caller_and_stops_the_run(monkeypatch):
    import threading

    from napari_crf_label.errors import InputError
    from napari_crf_label.pipeline import priors

    image, _, strokes = scene()

    def failing(*args, **kwargs):
        raise InputError("not enough memory for the proximity")

    monkeypatch.setattr(priors, "kept_distances", failing)
    with pytest.raises(InputError, match="not enough memory for the proximity"):
        label_image(image, strokes, classes="a, b", window=120, threads=2)
    assert not any(t.name == "crf-prior" for t in threading.enumerate())


def test_the_prior_thread_reports_only_the_proximity():
    # the held-out check trains forests and computes features of its own: a user sees them as the proximity,
    # not as the run's training going back to 0 % beside the run's own training
    import threading

    image, truth, _ = scene()
    strokes = np.zeros(truth.shape, np.int32)
    for row in (30, 120, 220):  # three pieces per class, so that the held-out check has something to hold out
        strokes[row:row + 3, 20:60], strokes[row:row + 3, 230:280] = truth[row, 40], truth[row, 250]
    seen = []
    with reporting(lambda stage, fraction: seen.append((threading.current_thread().name, stage))):
        result = label_image(image, strokes, classes="a, b", window=120, threads=2)
    assert None not in result.params["holdout_scores"].values()  # the check ran
    prior = {stage for name, stage in seen if name == "crf-prior"}
    assert prior == {"proximity"}
    assert {"training", "features", "classifier", "CRF"} <= {stage for _, stage in seen}


def _panel_job_scene():
    """Return (image, strokes): a scene big enough for the panel's preview, two stroke pieces per class."""
    image, _, strokes = two_region_scene(height=600, width=900, boundary=420)
    strokes[60:64, 40:160] = 1
    strokes[500:504, 600:760] = 2
    return image, strokes


def test_the_panel_job_starts_the_prior_before_its_preview_and_gives_the_labels_of_a_plain_run(monkeypatch, qapp):
    # the held-out check and the proximity of the full run need no preview: they run beside it
    import threading

    from napari_crf_label import _widget
    from napari_crf_label.image_io import as_image_data
    from napari_crf_label.pipeline import priors

    image, strokes = _panel_job_scene()
    order = []
    real_init, real_preview = priors.PendingPrior.__init__, _widget.iter_preview

    def prior_started(self, *args, **kwargs):
        order.append(("prior", threading.current_thread().name))
        real_init(self, *args, **kwargs)

    def preview_started(*args, **kwargs):
        order.append(("preview", threading.current_thread().name))
        return real_preview(*args, **kwargs)

    monkeypatch.setattr(priors.PendingPrior, "__init__", prior_started)
    monkeypatch.setattr(_widget, "iter_preview", preview_started)
    params = {"classes": None, "method": "features+crf"}
    job = _widget._label_job(as_image_data(image), strokes, None, CRFCache(), {"method": "features+crf"},
                             threading.Event(), _widget._Relay(), CRFCache())
    items = []
    while True:
        try:
            items.append(next(job))
        except StopIteration as done:
            result = done.value
            break
    me = threading.current_thread().name
    # the full run's prior first, then the preview (which makes a small prior of its own)
    assert order[:2] == [("prior", me), ("preview", me)]
    assert any(hasattr(item, "labels") for item in items)  # the preview was shown
    plain = label_image(image, strokes, **params)
    np.testing.assert_array_equal(result.labels, plain.labels)
    assert result.params["holdout_scores"] == plain.params["holdout_scores"]
    assert not any(t.name == "crf-prior" for t in threading.enumerate())


def test_a_cancel_during_the_preview_stops_the_prior_started_beside_it(monkeypatch, qapp):
    import threading

    from napari_crf_label import _widget
    from napari_crf_label.image_io import as_image_data

    image, strokes = _panel_job_scene()
    stop = threading.Event()
    real_preview = _widget.iter_preview
    alive = []

    def cancelled_preview(*args, **kwargs):
        alive.append(any(t.name == "crf-prior" for t in threading.enumerate()))
        stop.set()  # the user clicks Cancel while the preview computes
        return real_preview(*args, **kwargs)

    monkeypatch.setattr(_widget, "iter_preview", cancelled_preview)
    job = _widget._label_job(as_image_data(image), strokes, None, CRFCache(), {"method": "features+crf"},
                             stop, _widget._Relay(), CRFCache())
    with pytest.raises(Cancelled):
        list(job)
    assert alive == [True]  # the prior was under way beside the preview...
    assert not any(t.name == "crf-prior" for t in threading.enumerate())  # ...and stopped with it
