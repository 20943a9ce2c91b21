"""Tiles of one shape share their position kernel's lattice, with the marginals of unshared lattices."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from napari_crf_label.crf import CRFParams, TileCRF, numba_engine
from napari_crf_label.crf import tile as tile_module
from napari_crf_label.image_io import read_image
from napari_crf_label.sample import sample_files
from napari_crf_label.strokes import read_strokes

SIDE = 160


@pytest.fixture(scope="module")
def crops():
    """Return four (image, strokes) crops of the bundled sample, all SIDE x SIDE, each with strokes of two classes."""
    files = sample_files()
    image = read_image(files.image).array
    strokes = read_strokes(files.strokes)
    out = []
    for y in range(0, image.shape[0] - SIDE, SIDE // 2):
        for x in range(0, image.shape[1] - SIDE, SIDE // 2):
            s = strokes[y:y + SIDE, x:x + SIDE]
            if len(np.unique(s[s > 0])) >= 2:
                out.append((np.ascontiguousarray(image[y:y + SIDE, x:x + SIDE, :3]), s.astype(np.int32)))
    assert len(out) >= 4, "the sample has strokes of two classes in at least four crops"
    return out[:4]


def _unshared(monkeypatch):
    """Make tile_kernels give position kernels without a key: every CRF builds its own lattice."""
    original = tile_module.tile_kernels

    def without_keys(image, params):
        return [type(k)(k.features, k.weight) for k in original(image, params)]

    monkeypatch.setattr(tile_module, "tile_kernels", without_keys)


def _marginals(image, strokes, n=4):
    return TileCRF(image, n, CRFParams(iterations=5)).infer(strokes)


def test_tiles_of_one_shape_share_the_position_lattice_and_give_the_same_marginals(crops, monkeypatch):
    numba_engine._shared.clear()
    shared = [_marginals(image, strokes) for image, strokes in crops]
    first, second = TileCRF(crops[0][0], 4), TileCRF(crops[1][0], 4)
    (lat1, norm1, _), (lat2, norm2, _) = first._engine._terms[0], second._engine._terms[0]
    assert lat1 is not lat2 and lat1._offsets is lat2._offsets and norm1 is norm2  # one structure, two work grids
    assert first._engine._terms[1][0]._offsets is not second._engine._terms[1][0]._offsets  # the bands differ
    _unshared(monkeypatch)
    alone = [_marginals(image, strokes) for image, strokes in crops]
    for a, b in zip(shared, alone):
        assert np.array_equal(a, b)


def test_crfs_sharing_a_lattice_on_two_threads_give_the_serial_marginals(crops):
    numba_engine._shared.clear()
    crfs = [TileCRF(image, 4, CRFParams(iterations=5)) for image, _ in crops]
    serial = [crf.infer(strokes) for crf, (_, strokes) in zip(crfs, crops)]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            together = list(pool.map(lambda i: crfs[i].infer(crops[i][1]), range(len(crops))))
            for a, b in zip(together, serial):
                assert np.array_equal(a, b)


def test_the_kept_lattices_stay_within_their_bytes(crops, monkeypatch):
    numba_engine._shared.clear()
    image = crops[0][0]
    one = TileCRF(image, 2)._engine._terms[0][0].nbytes()
    monkeypatch.setattr(numba_engine, "SHARED_BYTES", int(2.5 * one))
    for side in range(SIDE, SIDE - 8, -1):  # four shapes, four keys
        TileCRF(np.ascontiguousarray(image[:side, :side]), 2)
    assert 1 <= len(numba_engine._shared) <= 2
    assert next(reversed(numba_engine._shared))[1:3] == (SIDE - 7, SIDE - 7)  # the last shape used is kept
