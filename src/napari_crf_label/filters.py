"""Gaussian smoothing of image planes: scipy's filter, computed by OpenCV.

The pixel features smooth every band at four scales, twice (the band and
its square): with ``scipy.ndimage.gaussian_filter`` that was half the time
of :func:`~napari_crf_label.features.pixel_features` (0.83 of 1.64 s on a
1.3 MP RGB tile). OpenCV's separable filter is vectorised and 4-7 times
faster; with scipy's kernel size (``truncate``) and border (``reflect``,
the edge pixel repeated) its values agree with scipy's to float32
rounding (3e-7 on values 0..1), on images of any size, one pixel included.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian"]


def gaussian(plane: np.ndarray, sigma: float, truncate: float = 3.0) -> np.ndarray:
    """Return a 2-D plane smoothed by a Gaussian of ``sigma`` pixels, as float32.

    Parameters
    ----------
    plane : ndarray
        (H, W) values; converted to float32.
    sigma : float
        Standard deviation in pixels, the same along both axes.
    truncate : float
        The kernel reaches ``int(truncate * sigma + 0.5)`` pixels each side,
        as in ``scipy.ndimage.gaussian_filter``.

    Returns
    -------
    ndarray
        (H, W) float32, ``gaussian_filter(plane, sigma, mode="reflect",
        truncate=truncate)`` up to float32 rounding.
    """
    import cv2

    radius = int(truncate * float(sigma) + 0.5)
    if radius == 0:  # a one-tap kernel: scipy returns the plane itself
        return np.array(plane, np.float32)
    size = 2 * radius + 1
    src = np.ascontiguousarray(plane, np.float32)
    return cv2.GaussianBlur(src, (size, size), sigmaX=float(sigma), sigmaY=float(sigma),
                            borderType=cv2.BORDER_REFLECT)
