import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_crf_label.tiling import Blender, tile_grid, tile_weights


@settings(deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), window=st.integers(4, 120), data=st.data())
def test_tiles_cover_every_pixel_with_consistent_overlap(h, w, window, data):
    overlap = data.draw(st.integers(0, window - 1))
    tiles = tile_grid(h, w, window, overlap)
    cover = np.zeros((h, w), int)
    for t in tiles:
        assert 0 <= t.y0 < t.y1 <= h and 0 <= t.x0 < t.x1 <= w
        assert t.shape == tiles[0].shape  # all tiles equal
        assert t.shape[0] <= window and t.shape[1] <= window
        cover[t.slices] += 1
    assert cover.min() >= 1
    # neighbouring tiles along a row share at least `overlap` columns
    xs = sorted({t.x0 for t in tiles})
    for a, b in zip(xs, xs[1:]):
        assert a + tiles[0].shape[1] - b >= overlap
    # as few tiles as possible: one fewer per axis could not cover the grid
    n_x = len(xs)
    assert n_x == 1 or (n_x - 1) * window - (n_x - 2) * overlap < w
    # blending weights are positive everywhere and a constant field blends to itself
    blender = Blender(2, h, w, overlap)
    for t in tiles:
        blender.add(t, np.full((2, *t.shape), 0.5, np.float32))
    assert np.allclose(blender.result(), 0.5)


def test_weights_ramp_only_towards_neighbours():
    tiles = tile_grid(10, 25, 10, 4)
    # 4 tiles: ceil((25 - 4) / (10 - 4)); length ceil((25 + 3 * 4) / 4) = 10
    assert [(t.x0, t.x1) for t in tiles] == [(0, 10), (5, 15), (10, 20), (15, 25)]
    w0 = tile_weights(tiles[0], 10, 25, 4)
    assert np.all(w0[:, :6] == 1)  # image edge side flat
    assert np.all(np.diff(w0[0, 6:]) < 0)  # falls towards the neighbour
    w_last = tile_weights(tiles[-1], 10, 25, 4)
    assert np.all(w_last[:, 4:] == 1) and np.all(np.diff(w_last[0, :4]) > 0)
    assert [(t.x0, t.x1) for t in tile_grid(10, 4000, 2048, 256)[:3]] == [(0, 1504), (1248, 2752), (2496, 4000)]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="overlap"):
        tile_grid(10, 10, 5, 5)
    with pytest.raises(ValueError, match="window"):
        tile_grid(10, 10, 0, 0)
