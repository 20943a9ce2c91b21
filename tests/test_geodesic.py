"""Geodesic distances and proximity: hand-checked small cases, and their effect in the pipeline."""

import numpy as np
import pytest

from napari_crf_label import InputError, label_image
from napari_crf_label.geodesic import edge_costs, geodesic_distances, proximity


def test_distances_on_a_flat_image_are_path_lengths():
    image = np.full((5, 8, 3), 100, np.uint8)
    strokes = np.zeros((5, 8), np.int32)
    strokes[0, 0] = 1
    d = geodesic_distances(image, strokes, 2)
    assert d[0, 0, 0] == 0
    assert d[0, 0, 7] == pytest.approx(7)  # seven unit steps along the row
    assert d[0, 3, 3] == pytest.approx(3 * np.sqrt(2))  # three diagonal steps
    assert np.isinf(d[1]).all()  # class 2 has no strokes


def test_an_edge_costs_more_to_cross_than_the_same_length_inside_a_region():
    image = np.zeros((9, 40, 1), np.uint8)
    image[:, 20:] = 255
    assert edge_costs(image, 30000.0)[4, 19:21].min() > 100  # a step edge is dear
    assert edge_costs(image, 30000.0)[4, 5] == pytest.approx(1.0)
    strokes = np.zeros((9, 40), np.int32)
    strokes[4, 10] = 1
    d = geodesic_distances(image, strokes, 1)
    assert d[0, 4, 0] == pytest.approx(10)
    assert d[0, 4, 30] > 100  # 20 pixels away, but across the edge


def test_proximity_is_a_soft_minimum():
    d = np.array([[[0.0, 10.0, np.inf]], [[10.0, 0.0, np.inf]], [[np.inf, np.inf, np.inf]]], np.float32)
    p = proximity(d, reach=10.0)
    assert p.shape == (3, 1, 3)
    np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-6)
    assert p[0, 0, 0] / p[1, 0, 0] == pytest.approx(np.e, rel=1e-5)  # 10 further = 1/e of the weight
    assert p[2, 0, 0] == 0  # a class without strokes gets nothing
    np.testing.assert_allclose(p[:, 0, 2], 1 / 3)  # unreached: uniform


def test_the_reach_grows_with_the_distance_to_the_nearest_strokes():
    d = np.array([[[0.0, 100.0, np.inf]], [[10.0, 110.0, np.inf]]], np.float32)
    p = proximity(d, reach=10.0, growth=0.1)
    assert p[0, 0, 0] / p[1, 0, 0] == pytest.approx(np.e, rel=1e-5)  # on the strokes: the reach itself
    assert p[0, 0, 1] / p[1, 0, 1] == pytest.approx(np.e ** 0.5, rel=1e-5)  # 100 away: reach 10 + 0.1 * 100
    np.testing.assert_allclose(p[:, 0, 2], 1 / 2)  # unreached: uniform
    np.testing.assert_array_equal(proximity(d, 10.0, 0.0), proximity(d, 10.0))


def test_an_endless_reach_keeps_only_which_classes_reach_a_pixel():
    d = np.array([[[0.0, 100.0, np.inf]], [[10.0, np.inf, np.inf]], [[np.inf, np.inf, np.inf]]], np.float32)
    p = proximity(d, reach=10.0, growth=np.inf)
    np.testing.assert_allclose(p[:, 0, 0], [0.5, 0.5, 0.0])  # however far: the classifier decides
    np.testing.assert_allclose(p[:, 0, 1], [1.0, 0.0, 0.0])  # only class 1 reaches it
    np.testing.assert_allclose(p[:, 0, 2], 1 / 3)  # unreached: uniform


def walled_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One grey field cut by a dark wall at column 60; class 1 left of it, class 2 right, one stroke each.

    Colour cannot tell the classes apart and the strokes lie far from the
    wall (column 30 and 200), so only connectedness puts the boundary there.
    """
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(128, 4, (120, 240, 3)), 0, 255).astype(np.uint8)
    image[:, 58:62] = 20
    truth = np.where(np.arange(240)[None, :] < 60, 1, 2).repeat(120, axis=0)
    strokes = np.zeros((120, 240), np.int32)
    strokes[40:80, 30] = 1
    strokes[40:80, 200] = 2
    return image, truth, strokes


def test_noise_inside_regions_does_not_outweigh_an_edge():
    """Noisy flat regions: the far stroke of the right class must stay nearer than a near one across an edge."""
    rng = np.random.default_rng(0)
    image = np.where(np.arange(300)[None, :, None] < 100, 60, 180) + rng.normal(0, 14, (40, 300, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    strokes = np.zeros((40, 300), np.int32)
    strokes[20, 20] = 1
    strokes[20, 290] = 2
    d = geodesic_distances(image, strokes, 2)
    assert d[1, 20, 110] < d[0, 20, 110]  # 180 noisy pixels from class 2, 90 + one edge from class 1


def test_features_and_crf_follow_connectedness_where_appearance_cannot():
    image, truth, strokes = walled_scene()
    field = np.ones(truth.shape, bool)
    field[:, 58:62] = False  # the wall itself belongs to neither side
    guided = label_image(image, strokes, method="features+crf").labels
    alone = label_image(image, strokes, method="features").labels
    assert (guided == truth)[field].mean() > 0.99
    assert (alone == truth)[field].mean() < 0.9  # the classifier alone puts the boundary elsewhere


def test_tiles_without_strokes_take_the_scene_wide_proximity():
    image, truth, strokes = walled_scene()
    r = label_image(image, strokes, method="features+crf", window=40, overlap=10)
    field = np.ones(truth.shape, bool)
    field[:, 58:62] = False
    assert r.params["tiles"] > 10 and (r.labels == truth)[field].mean() > 0.99


def two_squares_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two white squares (class 1) on grey (class 2); only the left square has a stroke."""
    rng = np.random.default_rng(0)
    image = np.full((200, 400, 3), 90.0)
    image[40:100, 40:100] = 230
    image[120:170, 300:360] = 230
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    truth = np.full((200, 400), 2)
    truth[40:100, 40:100] = 1
    truth[120:170, 300:360] = 1
    strokes = np.zeros((200, 400), np.int32)
    strokes[70, 55:85] = 1
    strokes[10, 10:390] = 2
    strokes[190, 10:390] = 2
    return image, truth, strokes


def test_an_unpainted_instance_far_from_every_stroke_is_found():
    """The grey strokes are nearer to the right square than the white one; the reach growing with the distance
    lets the classifier's "white = class 1" decide there (with one reach everywhere it went to grey: 0 %)."""
    image, truth, strokes = two_squares_scene()
    far = (slice(120, 170), slice(300, 360))
    default = label_image(image, strokes)
    assert default.params["reach"] == 100.0
    assert (default.labels[far] == 1).mean() > 0.9
    wide = label_image(image, strokes, reach=10_000)
    assert wide.params["reach"] == 10_000
    assert (wide.labels == truth).mean() > 0.99  # now the classifier's "white = class 1" wins there too


def test_reach_must_be_positive():
    image, _, strokes = two_squares_scene()
    with pytest.raises(InputError, match="reach must be > 0"):
        label_image(image, strokes, reach=0)
