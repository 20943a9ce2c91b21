import warnings

import numpy as np
import pytest

from napari_crf_label import ClassSet, InputError, StrokesError, label_image
from napari_crf_label.image_io import ImageData

from .conftest import two_region_scene


def test_dense_labels_from_sparse_strokes():
    image, truth, strokes = two_region_scene()
    r = label_image(image, strokes, classes=["dark", "bright"])
    assert r.labels.shape == truth.shape and r.labels.dtype == np.uint8
    assert (r.labels == truth).mean() > 0.99
    assert r.probabilities.shape == (2, *truth.shape)
    assert r.proportions()["dark"] == pytest.approx(90 / 200, abs=0.01)


def test_boundary_across_tile_edge_matches_untiled_run():
    # window 128 / overlap 32: tiles start at columns 0, 96, 192; the boundary at column 128
    # is the right edge of the first tile and lies inside the second
    image, truth, strokes = two_region_scene(height=200, width=300, boundary=128)
    whole = label_image(image, strokes)
    tiled = label_image(image, strokes, window=128, overlap=32)
    assert tiled.params["tiles"] > 1
    assert (tiled.labels != whole.labels).mean() < 0.002
    assert (tiled.labels == truth).mean() > 0.99
    # no seam: every row changes class exactly once, at the boundary
    changes = np.count_nonzero(np.diff(tiled.labels.astype(int), axis=1), axis=1)
    assert np.all(changes == 1)


def test_tile_without_strokes_follows_neighbours():
    image, truth, strokes = two_region_scene(height=100, width=400, boundary=200)
    strokes[:] = 0
    strokes[40:60, 20] = 1
    strokes[40:60, 380] = 2
    r = label_image(image, strokes, window=100, overlap=20)  # middle tiles hold no strokes
    assert r.params["tiles"] == 4
    assert (r.labels == truth).mean() > 0.98


def test_class_without_strokes_is_reported_and_absent():
    image, truth, strokes = two_region_scene()
    with pytest.warns(UserWarning, match="no strokes for class.*cloud"):
        r = label_image(image, strokes, classes=ClassSet.from_names("dark,bright,cloud"))
    assert r.missing_classes == ["cloud"]
    assert not (r.labels == 3).any()
    assert r.probabilities.shape[0] == 3


def test_only_one_class_painted_labels_everything_that_class():
    image, truth, strokes = two_region_scene()
    strokes[strokes == 2] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = label_image(image, strokes, classes=["dark", "bright"])
    assert np.all(r.labels == 1)


def test_scale_downsamples_crf_and_returns_full_resolution():
    image, truth, strokes = two_region_scene(height=200, width=300, boundary=140)
    r = label_image(image, strokes, scale=0.25)
    assert r.labels.shape == (200, 300)
    assert r.probabilities.shape == (2, 50, 75)
    assert (r.labels == truth).mean() > 0.98


def test_nodata_pixels_stay_zero_and_painted_pixels_keep_class():
    image, truth, strokes = two_region_scene()
    valid = np.ones(truth.shape, bool)
    valid[:20, :20] = False
    strokes[0:10, 0:10] = 2  # strokes on no-data are ignored
    data = ImageData(array=image, valid=valid)
    r = label_image(data, strokes)
    assert np.all(r.labels[:20, :20] == 0)
    assert np.all(r.labels[valid] > 0)
    painted = r.strokes > 0
    assert np.array_equal(r.labels[painted], r.strokes[painted])


def test_multiband_float_image_with_nan():
    image, truth, strokes = two_region_scene()
    multi = np.concatenate([image, image[..., :2]], axis=2).astype(np.float32) / 255.0
    multi[5, 5, 3] = np.nan
    r = label_image(multi, strokes)
    assert r.labels[5, 5] == 0
    assert (r.labels == truth).mean() > 0.98


@pytest.mark.parametrize("kwargs, message", [
    ({"scale": 0}, "scale"),
    ({"scale": 1.5}, "scale"),
    ({"window": 0}, "window"),
    ({"window": 50, "overlap": -1}, "overlap"),
    ({"not_a_param": 3}, "unknown CRF parameter"),
    ({"classes": ["only"]}, "class 2 but only 1"),
])
def test_bad_arguments(kwargs, message):
    image, _, strokes = two_region_scene()
    with pytest.raises(InputError, match=message):
        label_image(image, strokes, **kwargs)


def test_no_strokes_and_shape_mismatch():
    image, _, strokes = two_region_scene()
    with pytest.raises(StrokesError, match="no strokes"):
        label_image(image, np.zeros_like(strokes))
    with pytest.raises(StrokesError, match="must match"):
        label_image(image, strokes[:, :-1])


def test_progress_called_per_tile_and_can_cancel():
    image, _, strokes = two_region_scene(height=100, width=300)
    calls = []
    label_image(image, strokes, window=100, overlap=10, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        label_image(image, strokes, window=100, overlap=10, progress=cancel)


def test_cache_reuses_lattices_and_matches_fresh_run():
    from napari_crf_label.pipeline import CRFCache

    image, truth, strokes = two_region_scene(height=150, width=260, boundary=120)
    cache = CRFCache()
    label_image(image, strokes, window=100, overlap=20, cache=cache)
    built = cache.builds
    assert built > 1 and cache.hits == 0
    more = strokes.copy()
    more[140, 10:250] = truth[140, 10:250]  # a new stroke across both regions
    again = label_image(image, more, window=100, overlap=20, cache=cache)
    assert cache.builds == built  # nothing rebuilt
    fresh = label_image(image, more, window=100, overlap=20)
    assert np.array_equal(again.labels, fresh.labels)
    assert np.allclose(again.probabilities, fresh.probabilities, atol=1e-6)
    label_image(image, more, window=100, overlap=20, cache=cache, schan=20)  # new kernel: rebuild
    assert cache.builds > built


def test_iter_label_image_can_be_abandoned_midway():
    from napari_crf_label.pipeline import iter_label_image

    image, _, strokes = two_region_scene(height=100, width=300)
    gen = iter_label_image(image, strokes, window=100, overlap=10)
    steps = [next(gen) for _ in range(5)]
    assert all(total == 3 for _, total in steps) and steps[-1][0] < 3
    gen.close()  # a cancelled run leaves nothing behind


def test_docstring_example():
    import doctest

    import napari_crf_label.pipeline.images as mod

    failures, tried = doctest.testmod(mod)
    assert tried > 0 and failures == 0


def test_warm_start_rerun_close_to_fresh_run():
    from napari_crf_label.pipeline import CRFCache

    image, truth, strokes = two_region_scene(height=150, width=260, boundary=120)
    cache = CRFCache(warm_start=3)
    first = label_image(image, strokes, cache=cache)
    assert (first.labels == truth).mean() > 0.99
    more = strokes.copy()
    more[140, 10:110] = 1
    warm = label_image(image, more, cache=cache)
    fresh = label_image(image, more)
    assert cache.builds == 1 and cache.hits == 1
    assert (warm.labels == fresh.labels).mean() > 0.999


@pytest.mark.parametrize("method", ["features+crf", "features"])
def test_feature_methods_label_multiband_scene(method):
    image, truth, strokes = two_region_scene(height=120, width=240, boundary=100)
    five = np.concatenate([image, image[..., :2]], axis=2)
    r = label_image(five, strokes, method=method)
    assert (r.labels == truth).mean() > 0.97 and r.params["method"] == method
    tiled = label_image(five, strokes, method=method, window=80, overlap=20)
    assert tiled.params["tiles"] > 1 and (tiled.labels == truth).mean() > 0.97


def test_unknown_method():
    image, _, strokes = two_region_scene()
    with pytest.raises(InputError, match="method must be one of"):
        label_image(image, strokes, method="magic")


def test_feature_methods_on_a_coarser_classifier_grid(monkeypatch):
    import napari_crf_label.pipeline.classifier as classifier

    monkeypatch.setattr(classifier, "CLASSIFIER_PIXELS", 4000)  # classify a 120 x 240 tile on a ~45 x 90 grid
    image, truth, strokes = two_region_scene(height=120, width=240, boundary=100)
    for method in ("features", "features+crf"):
        r = label_image(image, strokes, method=method)
        assert (r.labels == truth).mean() > 0.97


def test_features_crf_narrows_and_weakens_the_appearance_kernel_but_records_the_users_settings():
    from napari_crf_label.crf import CRFParams
    from napari_crf_label.features import FeatureParams
    from napari_crf_label.pipeline.inputs import method_crf_params

    user = CRFParams(sxy_bilateral=60.0, compat_bilateral=10.0)
    run = method_crf_params(user, "features+crf", FeatureParams())
    assert (run.sxy_bilateral, run.compat_bilateral) == (20.0, 5.0)
    assert method_crf_params(user, "crf", FeatureParams()) == user
    image, truth, strokes = two_region_scene()
    r = label_image(image, strokes, sxy_bilateral=60.0, compat_bilateral=10.0)
    assert (r.params["sxy_bilateral"], r.params["compat_bilateral"]) == (60.0, 10.0)  # what a session restores
    assert (r.labels == truth).mean() > 0.99
