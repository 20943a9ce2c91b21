"""Pixel features: the training path (features at stroke pixels) must equal the prediction path."""

import numpy as np
import pytest

from napari_crf_label.features import cap_per_class, pixel_features, pixel_features_at, smooth_bands


@pytest.mark.parametrize("shape", [(37, 52, 3), (1, 40, 2), (30, 1, 1), (2, 2, 4), (21, 26, 9)])
def test_features_at_points_equal_full_image_features(shape):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    h, w = shape[:2]
    # every border pixel and corner, plus random inner ones
    border = [(r, c) for r in range(h) for c in range(w) if r in (0, 1, h - 2, h - 1) or c in (0, 1, w - 2, w - 1)]
    inner = list(zip(rng.integers(0, h, 50), rng.integers(0, w, 50)))
    rows, cols = np.array(border + inner).T
    extent = (0.25, 0.5, 0.1, 0.9)
    full = pixel_features(image, (1.0, 3.0), extent)
    at = pixel_features_at(image, rows, cols, (1.0, 3.0), extent)
    assert at.shape == (len(rows), full.shape[2])
    np.testing.assert_array_equal(at, full[rows, cols])


def test_band_pair_features_grow_linearly_above_six_bands():
    """Every pair of bands up to 6 bands; neighbouring bands only above (12 bands: 11 pairs, not 66)."""
    from napari_crf_label.features import feature_count, texture_planes

    rng = np.random.default_rng(2)
    sigmas = (1.0, 2.0)
    for bands, pairs in [(3, 3), (6, 15), (7, 6), (12, 11)]:
        image = rng.integers(0, 256, (12, 14, bands), dtype=np.uint8)
        planes = texture_planes(image, sigmas)
        assert len(planes) == len(sigmas) * (bands + pairs)
        assert pixel_features(image, sigmas).shape[2] == feature_count(bands, sigmas, True)
    # above six bands, the pair planes are the neighbouring bands' normalised differences
    image = rng.integers(0, 256, (12, 14, 7), dtype=np.uint8)
    planes = texture_planes(image, (1.0,))
    smoothed = smooth_bands(image, (1.0,))[:, 0]  # the spreads come first (7 planes), then the pairs
    for a in range(6):
        expected = (smoothed[a] - smoothed[a + 1]) / (smoothed[a] + smoothed[a + 1] + np.float32(0.02))
        np.testing.assert_array_equal(planes[7 + a], expected)


def test_cap_per_class_is_a_seeded_draw_of_at_most_cap_per_class():
    labels = np.repeat([1, 2, 3], [10, 3, 7])
    keep = cap_per_class(labels, 5, seed=0)
    assert np.all(np.diff(keep) > 0)
    assert np.bincount(labels[keep], minlength=4).tolist() == [0, 5, 3, 5]
    np.testing.assert_array_equal(keep, cap_per_class(labels, 5, seed=0))
    assert not np.array_equal(keep, cap_per_class(labels, 5, seed=1))
    assert cap_per_class(np.zeros(0, int), 5, seed=0).size == 0


@pytest.mark.parametrize("seconds_per_step", [0.0, 0.01, 100.0])  # rounds of 5 trees, of growing size, one round
def test_training_in_steps_gives_the_forest_of_one_fit(monkeypatch, seconds_per_step):
    from sklearn.ensemble import RandomForestClassifier

    from napari_crf_label import features
    from napari_crf_label.features import FeatureParams, PixelClassifier

    monkeypatch.setattr(features, "SECONDS_PER_STEP", seconds_per_step)

    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32) + 1 + (x[:, 2] > 1)
    params = FeatureParams(n_trees=23)  # not a multiple of the step
    stepped = PixelClassifier(3, params)
    stepped.add_samples(x, y)
    stepped.fit()
    assert len(stepped._model.estimators_) == 23
    one = RandomForestClassifier(23, min_samples_leaf=2, max_features="sqrt", class_weight="balanced",
                                 random_state=params.seed).fit(x, y)
    grid = rng.normal(size=(40, 50, 8)).astype(np.float32)
    expected = one.predict_proba(grid.reshape(-1, 8)).T.reshape(3, 40, 50)
    np.testing.assert_allclose(stepped.predict_proba(grid), expected, atol=1e-6)


def test_training_samples_drawn_while_collected_are_the_rows_fit_would_keep():
    from dataclasses import replace

    from napari_crf_label.crf import CRFParams, drain
    from napari_crf_label.features import FeatureParams, PixelClassifier
    from napari_crf_label.image_io import as_image_data
    from napari_crf_label.pipeline.classifier import _collect_samples
    from napari_crf_label.pipeline.inputs import method_crf_params
    from napari_crf_label.pipeline.plan import make_plan
    from napari_crf_label.sources import ArraySource

    from .conftest import two_region_scene

    image, _, _ = two_region_scene(height=150, width=260, boundary=120)
    strokes = np.zeros(image.shape[:2], np.int32)
    strokes[10:140:4, 5:115] = 1  # many more stroke pixels per class than the cap, in several tiles
    strokes[10:140:4, 125:255] = 2
    params = replace(FeatureParams(), max_samples_per_class=300, seed=3)
    source = ArraySource(as_image_data(image), strokes)
    plan = make_plan(source, 2, method_crf_params(CRFParams(), "features+crf", params), 1.0, 100, 16, None)
    assert len(plan.tasks) > 2
    x_all, y_all = drain(_collect_samples(source, plan, params))
    x, y = drain(_collect_samples(source, plan, params, drawn=True))
    keep = cap_per_class(y_all, 300, 3)
    assert len(y_all) > 2 * 300 and len(y) == 600
    np.testing.assert_array_equal(y, y_all[keep])
    np.testing.assert_array_equal(x, x_all[keep])
    probe = x_all[::7].reshape(-1, 1, x_all.shape[1])
    forests = []
    for xs, ys in ((x_all, y_all), (x, y)):
        classifier = PixelClassifier(2, params)
        classifier.add_samples(xs, ys)
        forests.append(classifier.fit().predict_proba(probe))
    np.testing.assert_array_equal(*forests)  # the same forest, bit for bit


def test_trees_draw_at_most_tree_samples_per_class_each_and_small_sets_in_full():
    """Thick strokes (more samples than the per-tree draw) train each tree on a subsample; thin ones in full."""
    from dataclasses import replace

    from sklearn.ensemble import RandomForestClassifier

    from napari_crf_label.features import FeatureParams, PixelClassifier

    rng = np.random.default_rng(4)
    x = rng.normal(size=(900, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32) + 1 + (x[:, 1] > 0.5)  # three classes
    big = PixelClassifier(3, replace(FeatureParams(), n_trees=12, tree_samples_per_class=40))
    big.add_samples(x, y)
    big.fit()
    drawn = [tree.tree_.n_node_samples[0] for tree in big._model.estimators_]  # distinct rows at each root
    assert max(drawn) <= 3 * 40 and min(drawn) > 3 * 40 * 0.6  # about 1 - 1/e of 120 draws are distinct
    small = PixelClassifier(3, replace(FeatureParams(), n_trees=12, tree_samples_per_class=300))
    small.add_samples(x, y)
    small.fit()
    plain = RandomForestClassifier(12, min_samples_leaf=2, max_features="sqrt", class_weight="balanced",
                                   random_state=0).fit(x, y)
    grid = rng.normal(size=(20, 30, 6)).astype(np.float32)
    expected = plain.predict_proba(grid.reshape(-1, 6)).T.reshape(3, 20, 30)
    np.testing.assert_allclose(small.predict_proba(grid), expected, atol=1e-6)  # 900 <= 3 x 300: a plain forest
    assert min(tree.tree_.n_node_samples[0] for tree in small._model.estimators_) > 500
