"""Resampling between full and CRF resolution."""

from __future__ import annotations

import numpy as np

__all__ = ["resize_bands", "linear_axis", "resample_linear", "upsample_argmax"]


def resize_bands(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample an (H, W, C) uint8 image to ``shape`` with area-aware bilinear filtering (Pillow)."""
    from PIL import Image

    if image.shape[:2] == tuple(shape):
        return np.ascontiguousarray(image)
    bands = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., b])).resize(
        (shape[1], shape[0]), Image.Resampling.BILINEAR)) for b in range(image.shape[2])]
    return np.ascontiguousarray(np.stack(bands, axis=-1))


def linear_axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return source indices and weights for pixel-centre-aligned linear resampling of one axis."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def resample_linear(q: np.ndarray, shape: tuple[int, int], rows: slice | None = None,
                    cols: slice | None = None) -> np.ndarray:
    """Bilinearly resample (N, h, w) values to (N, *shape), optionally only ``rows`` x ``cols`` of it."""
    y0, y1, wy = linear_axis(shape[0], q.shape[1])
    x0, x1, wx = linear_axis(shape[1], q.shape[2])
    if rows is not None:
        y0, y1, wy = y0[rows], y1[rows], wy[rows]
    if cols is not None:
        x0, x1, wx = x0[cols], x1[cols], wx[cols]
    a = q[:, y0] * (1 - wy)[None, :, None] + q[:, y1] * wy[None, :, None]
    return a[:, :, x0] * (1 - wx)[None, None, :] + a[:, :, x1] * wx[None, None, :]


def upsample_argmax(probabilities: np.ndarray, shape: tuple[int, int], rows: slice = slice(None),
                    cols: slice = slice(None), max_elements: int = 32_000_000) -> np.ndarray:
    """Upsample (N, h, w) probabilities bilinearly to ``shape`` and return the 1-based argmax.

    Only ``rows`` x ``cols`` of the upsampled grid are produced, in row
    blocks of at most ``max_elements`` values so memory stays bounded.
    """
    n = probabilities.shape[0]
    r = range(*rows.indices(shape[0]))
    c = slice(*cols.indices(shape[1])[:2])
    out = np.empty((len(r), c.stop - c.start), np.uint8 if n < 256 else np.uint16)
    if probabilities.shape[1:] == tuple(shape):  # CRF at full resolution: nothing to resample
        np.add(probabilities[:, r.start:r.stop, c].argmax(axis=0), 1, out=out, casting="unsafe")
        return out
    block = max(1, max_elements // max(n * out.shape[1], 1))
    for i in range(0, len(r), block):
        sub = slice(r.start + i, r.start + min(i + block, len(r)))
        out[i:i + block] = resample_linear(probabilities, shape, sub, c).argmax(axis=0) + 1
    return out
