"""The packed forest's probabilities are scikit-learn's, bit for bit, on a real image's features."""

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from napari_crf_label.features import pixel_features, pixel_features_at, stroke_samples
from napari_crf_label.forest import BLOCK, LANES, pack_forest
from napari_crf_label.image_io import read_image
from napari_crf_label.sample import sample_files
from napari_crf_label.strokes import read_strokes


def test_packed_forest_equals_sklearn_predict_proba_on_the_sample():
    files = sample_files()
    data = read_image(files.image)
    image = data.array[:300, :400]  # uint8 Landsat bands
    strokes = read_strokes(files.strokes, data)[:300, :400]
    rows, cols, labels = stroke_samples(strokes, 2000, 0)
    assert np.unique(labels).size >= 3
    model = RandomForestClassifier(20, min_samples_leaf=2, max_features="sqrt", random_state=0)
    model.fit(pixel_features_at(image, rows, cols), labels)
    x = np.ascontiguousarray(pixel_features(image).reshape(-1, model.n_features_in_))
    x[:: BLOCK + 7, 3] = np.nan  # missing values take the side the tree learnt (sklearn's rule)
    expected = model.predict_proba(x)
    got = pack_forest(model).predict_proba(x)
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (x.shape[0], np.unique(labels).size)


def test_a_single_leaf_tree_forest_gives_the_class_shares():
    x = np.zeros((10, 2), np.float32)  # every sample alike: each tree is one leaf
    y = np.array([1] * 7 + [2] * 3)
    model = RandomForestClassifier(3, bootstrap=False, random_state=0).fit(x, y)
    np.testing.assert_array_equal(pack_forest(model).predict_proba(x[:4]), model.predict_proba(x[:4]))
    np.testing.assert_allclose(pack_forest(model).predict_proba(x[:1]), [[0.7, 0.3]])


def test_leaf_counts_of_older_scikit_learn_become_the_same_fractions():
    # scikit-learn before 1.4 stored weighted class counts per node and divided in predict_proba
    from napari_crf_label.forest import _leaf_fractions

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    model = RandomForestClassifier(2, random_state=0).fit(x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 1))
    fractions = model.estimators_[0].tree_.value[:, 0, :]
    assert _leaf_fractions(fractions) is fractions  # already fractions: used as they are, bit for bit
    counts = fractions * model.estimators_[0].tree_.weighted_n_node_samples[:, None]
    np.testing.assert_allclose(_leaf_fractions(counts), fractions, rtol=1e-12)


def test_the_classifier_grown_in_rounds_is_the_balanced_forest_of_one_fit_and_warns_nothing():
    # the forest grows a few trees at a time (so a cancel is heard), with "balanced" class weights given as
    # numbers: scikit-learn warns about the preset with warm_start, and the command line prints every warning
    import warnings

    from napari_crf_label.features import FeatureParams, PixelClassifier

    files = sample_files()
    data = read_image(files.image)
    image = data.array[:300, :400]
    strokes = read_strokes(files.strokes, data)[:300, :400]
    rows, cols, labels = stroke_samples(strokes, 2000, 0)
    x = pixel_features_at(image, rows, cols)
    classifier = PixelClassifier(int(labels.max()), FeatureParams(n_trees=20))
    classifier.add_samples(x, labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classifier.fit()
    assert [str(w.message) for w in caught] == []
    one_fit = RandomForestClassifier(20, min_samples_leaf=2, max_features="sqrt", class_weight="balanced",
                                     random_state=0).fit(x, labels)
    grid = np.ascontiguousarray(pixel_features(image).reshape(-1, x.shape[1]))
    np.testing.assert_array_equal(classifier._forest_proba(grid), pack_forest(one_fit).predict_proba(grid))


def _fit(x, y, **kwargs):
    kwargs = {"min_samples_leaf": 2, "max_features": "sqrt", "random_state": 0, **kwargs}
    return RandomForestClassifier(kwargs.pop("n_estimators", 10), **kwargs).fit(x, y)


def test_float32_thresholds_compare_as_scikit_learns_float64_ones():
    # scikit-learn compares float(x) <= t in float64; the packed forest x <= t32 in float32
    from napari_crf_label.forest import _float32_at_most

    rng = np.random.default_rng(1)
    t = np.concatenate([rng.normal(size=20000) * 10.0 ** rng.integers(-30, 30, 20000),
                        [0.0, -0.0, 1.0, 2.5, 3e38, 3.5e38, -3.5e38, 1e-45, -1e-45, 7e-46]])
    t32 = _float32_at_most(t)
    assert t32.dtype == np.float32
    assert np.all(t32.astype(np.float64) <= t)
    with np.errstate(over="ignore"):  # the largest float32 steps up to inf
        above = np.nextafter(t32, np.float32(np.inf))
        near = t.astype(np.float32)
    assert np.all(above.astype(np.float64) > t)  # t32 is the largest float32 not above t
    for x in (near, t32, above, np.nextafter(t32, np.float32(-np.inf))):
        np.testing.assert_array_equal(x <= t32, x.astype(np.float64) <= t)


def test_adjacent_float32_values_and_values_at_the_threshold_take_scikit_learns_side():
    # thresholds halfway between two neighbouring float32 values round to one of them in float32;
    # integer features give thresholds a float32 holds exactly, met by equal features
    rng = np.random.default_rng(2)
    base = rng.uniform(1, 4, 400).astype(np.float32)
    up = np.nextafter(base, np.float32(np.inf))
    x = np.stack([np.concatenate([base, up]), rng.integers(0, 6, 800).astype(np.float32),
                  rng.normal(size=800).astype(np.float32)], axis=1)
    y = np.concatenate([np.zeros(400, int), np.ones(400, int)]) + (x[:, 1] > 2)
    model = _fit(x, y, n_estimators=15, min_samples_leaf=1, max_features=None)
    thresholds = np.concatenate([e.tree_.threshold[e.tree_.children_left >= 0] for e in model.estimators_])
    assert np.any(thresholds.astype(np.float32).astype(np.float64) != thresholds)  # float32 rounding matters
    assert np.any(thresholds == np.round(thresholds * 2) / 2)  # and some thresholds are met exactly: x == t
    probe = np.concatenate([x, x + np.float32(0.5)])  # integer + 0.5: at the integer features' thresholds
    for t in thresholds:  # at, just below and just above every threshold, on each feature
        t32 = np.float32(t)
        for v in (t32, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))):
            probe = np.concatenate([probe, np.full((1, 3), v, np.float32)])
    probe = np.ascontiguousarray(probe)
    np.testing.assert_array_equal(pack_forest(model).predict_proba(probe), model.predict_proba(probe))


def test_missing_values_go_where_each_node_learnt_both_ways():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    x[rng.random(x.shape) < 0.1] = np.nan  # trained with NaN: nodes learn either side for them
    model = _fit(x, y, n_estimators=20)
    packed = pack_forest(model)
    split = packed.nodes[:, 1] >= 0
    assert packed.missing_left[split].any() and not packed.missing_left[split].all()
    probe = rng.normal(size=(1003, 6)).astype(np.float32)  # not a multiple of the block or the lanes
    probe[rng.random(probe.shape) < 0.05] = np.nan
    probe[BLOCK:3 * BLOCK] = rng.normal(size=(2 * BLOCK, 6))  # blocks without NaN walk in lockstep
    np.testing.assert_array_equal(packed.predict_proba(probe), model.predict_proba(probe))


def test_eleven_classes_and_rows_that_fill_no_whole_block():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5000, 30)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1], np.linspace(-2, 2, 10))
    assert np.unique(y).size == 11
    model = _fit(x, y, n_estimators=50)
    probe = np.ascontiguousarray(rng.normal(size=(BLOCK * 3 + 13, 30)).astype(np.float32))
    got = pack_forest(model).predict_proba(probe)
    np.testing.assert_array_equal(got, model.predict_proba(probe))
    assert got.shape == (probe.shape[0], 11)
    for rows in (1, LANES - 1):  # fewer rows than the lanes: one pixel at a time
        np.testing.assert_array_equal(pack_forest(model).predict_proba(probe[:rows]), model.predict_proba(probe[:rows]))
    assert pack_forest(model).predict_proba(probe[:0]).shape == (0, 11)  # scikit-learn refuses no rows


def test_words_widen_to_64_bits_when_features_and_nodes_overflow_32():
    from napari_crf_label.forest import _pack, _word_dtype

    assert _word_dtype(7, 1 << 24) == np.int32  # 86 features: trees of up to 16 million nodes in 32 bits
    assert _word_dtype(7, (1 << 24) + 1) == np.int64
    assert _word_dtype(20, 1 << 11) == np.int32 and _word_dtype(20, (1 << 11) + 1) == np.int64
    try:
        _word_dtype(62, 3)
    except ValueError as error:
        assert "does not fit" in str(error)
    else:
        raise AssertionError("no error for a word that cannot hold the tree")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 9)).astype(np.float32)
    model = _fit(x, (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1))
    x[::11, 4] = np.nan
    wide = _pack(model, np.int64)
    assert wide.nodes.dtype == np.int64 and pack_forest(model).nodes.dtype == np.int32
    np.testing.assert_array_equal(wide.predict_proba(x), model.predict_proba(x))
