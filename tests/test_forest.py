"""The packed forest's probabilities are scikit-learn's, bit for bit, on a real image's features."""

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from napari_crf_label.features import pixel_features, pixel_features_at, stroke_samples
from napari_crf_label.forest import BLOCK, pack_forest
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
