"""The Gaussian filter: scipy's values (reflect border, truncate) on a real image and on tiny ones."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_crf_label.filters import gaussian
from napari_crf_label.image_io import read_image
from napari_crf_label.sample import sample_files


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 4.0, 8.0])
def test_gaussian_matches_scipy_on_the_sample(sigma):
    band = read_image(sample_files().image).array[..., 0].astype(np.float32) / 255.0
    out = gaussian(band, sigma)
    assert out.dtype == np.float32 and out.shape == band.shape
    np.testing.assert_allclose(out, gaussian_filter(band, sigma, mode="reflect", truncate=3.0), rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 5), (20, 20)])
def test_images_smaller_than_the_kernel_reflect_as_scipy_does(shape):
    band = read_image(sample_files().image).array[:shape[0], 100:100 + shape[1], 1].astype(np.float32) / 255.0
    for sigma in (1.0, 8.0):  # a 49-tap kernel on a 1-pixel image
        np.testing.assert_allclose(gaussian(band, sigma), gaussian_filter(band, sigma, mode="reflect", truncate=3.0),
                                   rtol=0, atol=1e-6)


def test_a_zero_width_kernel_returns_the_plane():
    band = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(gaussian(band, 0.1), band.astype(np.float32))
