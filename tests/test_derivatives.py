"""The compiled derivative features equal their numpy definition on a real band, whole or at points."""

import numpy as np
import pytest

from napari_crf_label.derivatives import band_features, band_features_at
from napari_crf_label.filters import gaussian
from napari_crf_label.image_io import read_image
from napari_crf_label.sample import sample_files


def numpy_features(s: np.ndarray, sigma: float) -> np.ndarray:
    """The four features by np.gradient, as features.py computed them before (0 along a 1-pixel axis)."""
    def d(a, axis):
        return np.gradient(a, axis=axis) if a.shape[axis] > 1 else np.zeros_like(a)

    gy, gx = d(s, 0), d(s, 1)
    hyy, hyx, hxx = d(gy, 0), d(gy, 1), d(gx, 1)
    half_trace = (hxx + hyy) / 2
    root = np.sqrt(((hxx - hyy) / 2) ** 2 + hyx ** 2)
    return np.stack([np.hypot(gx, gy) * sigma, (hxx + hyy) * sigma**2, (half_trace + root) * sigma**2,
                     (half_trace - root) * sigma**2])


@pytest.mark.parametrize("shape", [(300, 400), (1, 40), (2, 3), (5, 5), (4, 7)])
@pytest.mark.parametrize("step", [1, 2, 3])
def test_band_features_equal_numpys_on_the_sample(shape, step):
    band = read_image(sample_files().image).array[:shape[0], :shape[1], 0].astype(np.float32) / 255.0
    for sigma in (1.0, 2.5):
        s = gaussian(band, sigma)
        expected = numpy_features(s, sigma)[:, ::step, ::step]
        out = np.empty_like(expected)
        band_features(s, sigma, out, step)
        np.testing.assert_array_equal(out, expected)
        rows, cols = np.nonzero(np.ones(s.shape, bool))
        np.testing.assert_array_equal(band_features_at(s, rows, cols, sigma),
                                      numpy_features(s, sigma).reshape(4, -1))


def test_a_non_contiguous_output_is_refused():
    with pytest.raises(ValueError, match="C-contiguous"):
        band_features(np.zeros((4, 4), np.float32), 1.0, np.empty((4, 4, 8), np.float32)[:, :, ::2])
