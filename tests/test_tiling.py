import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_crf_label.tiling import split_axis, tile_tasks


@settings(deadline=None)
@given(h=st.integers(1, 400), w=st.integers(1, 400), window=st.integers(1, 150), halo=st.integers(0, 60))
def test_cores_partition_the_scene_and_halos_are_consistent(h, w, window, halo):
    tasks = tile_tasks(h, w, window, halo)
    cover = np.zeros((h, w), int)
    for t in tasks:
        cover[t.core.slices] += 1
        assert t.core.shape[0] <= window and t.core.shape[1] <= window
        # outer = core grown by the halo on each side, clipped at the edges
        assert t.outer.y0 == max(0, t.core.y0 - halo) and t.outer.y1 == min(h, t.core.y1 + halo)
        assert t.outer.x0 == max(0, t.core.x0 - halo) and t.outer.x1 == min(w, t.core.x1 + halo)
        ys, xs = t.core_in_outer
        assert ys.stop - ys.start == t.core.shape[0] and xs.stop - xs.start == t.core.shape[1]
    assert np.all(cover == 1)  # every pixel in exactly one core
    # as few tiles as possible, near-equal sizes
    rows = split_axis(h, window)
    assert len(rows) == -(-h // window)
    sizes = [b - a for a, b in rows]
    assert max(sizes) - min(sizes) <= 1
    assert [t.index for t in tasks] == list(range(len(tasks)))


def test_example_layout():
    tasks = tile_tasks(10, 25, 10, 3)
    assert [(t.core.x0, t.core.x1) for t in tasks] == [(0, 8), (8, 16), (16, 25)]
    assert [(t.outer.x0, t.outer.x1) for t in tasks] == [(0, 11), (5, 19), (13, 25)]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="overlap"):
        tile_tasks(10, 10, 5, -1)
    with pytest.raises(ValueError, match="window"):
        tile_tasks(10, 10, 0, 0)


@pytest.mark.parametrize("rows, cols", [(np.arange(3, 9), np.arange(0, 10)),  # ranges inside: a view
                                        (np.arange(-2, 5), np.arange(4, 13)),  # ranges reaching past the edges
                                        (np.array([0, 0, 1, 1, 2]), np.arange(2, 6))])  # a scaled core's repeats
def test_a_tiles_core_probabilities_are_its_rows_and_columns_of_the_marginals(rows, cols):
    from napari_crf_label.pipeline.tile import _take

    q = np.random.default_rng(0).random((3, 10, 12)).astype(np.float32)
    expected = q[:, np.clip(rows, 0, 9)][:, :, np.clip(cols, 0, 11)]
    got = _take(q, rows, cols)
    np.testing.assert_array_equal(got, expected)
    assert np.shares_memory(got, q) == (rows[0] >= 0 and rows[-1] < 10 and cols[-1] < 12 and np.all(np.diff(rows) == 1))
