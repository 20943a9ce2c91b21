"""The pipeline: image + sparse strokes -> dense label image.

normalise bands -> downscale (``scale``) -> tiles (``window``, ``overlap``)
-> CRF per tile -> blend probabilities -> upsample -> argmax -> labels.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .classes import ClassSet
from .crf import CRFParams, crf_probabilities
from .errors import InputError
from .image_io import ImageData, as_image_data, to_crf_uint8
from .strokes import downscale_strokes, validate_strokes
from .tiling import Blender, Tile, tile_grid

__all__ = ["LabelResult", "label_image", "DEFAULT_WINDOW", "COARSE_PIXELS"]

#: Default tile size at CRF resolution: the CRF is both faster and more
#: accurate at about 1-4 MP per call than on one huge lattice.
DEFAULT_WINDOW = 2048
#: Pixel budget of the coarse whole-scene pass that informs tiles without strokes.
COARSE_PIXELS = 1_000_000

ProgressCallback = Callable[[int, int], None]


@dataclass
class LabelResult:
    """The dense labelling of one image.

    Attributes
    ----------
    labels : ndarray of uint8 (uint16 above 255 classes), shape (H, W)
        Class k (1..N) per pixel at full resolution; 0 only where the image
        has no data.
    probabilities : ndarray of float32, shape (N, h, w)
        Blended CRF class probabilities at CRF resolution
        (``h, w = round(H * scale), round(W * scale)``); channel k-1 is class k.
    classes : ClassSet
        The classes, in label order.
    strokes : ndarray of int32, shape (H, W)
        The strokes used (0 where the image has no data).
    missing_classes : list of str
        Classes that had no strokes anywhere (absent from ``labels``).
    params : dict
        Everything that produced the result (scale, window, overlap, CRF).
    seconds : float
        Processing time.

    """

    labels: np.ndarray
    probabilities: np.ndarray
    classes: ClassSet
    strokes: np.ndarray
    missing_classes: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    seconds: float = 0.0

    def proportions(self) -> dict[str, float]:
        """Return each class's share of the labelled (valid) pixels."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes) + 1)[1:]
        total = max(int(counts.sum()), 1)
        return {name: float(c) / total for name, c in zip(self.classes.names, counts)}


def _resolve_classes(classes: ClassSet | list[str] | tuple[str, ...] | str | None, strokes_max: int) -> ClassSet:
    """Return a ClassSet from what the caller gave (None: one class per stroke value)."""
    if classes is None:
        return ClassSet.from_names([f"class{k}" for k in range(1, max(strokes_max, 2) + 1)])
    if isinstance(classes, ClassSet):
        return classes
    return ClassSet.from_names(classes)


def _resize_bands(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample an (H, W, C) uint8 image to ``shape`` with area-aware bilinear filtering."""
    from PIL import Image

    if image.shape[:2] == tuple(shape):
        return image
    bands = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., b])).resize(
        (shape[1], shape[0]), Image.Resampling.BILINEAR)) for b in range(image.shape[2])]
    return np.ascontiguousarray(np.stack(bands, axis=-1))


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resample of a boolean mask."""
    if mask.shape == tuple(shape):
        return mask
    ys = np.minimum((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0], mask.shape[0] - 1).astype(int)
    xs = np.minimum((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1], mask.shape[1] - 1).astype(int)
    return mask[np.ix_(ys, xs)]


def _linear_axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights for pixel-centre-aligned linear resampling."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def upsample_argmax(probabilities: np.ndarray, shape: tuple[int, int], max_elements: int = 32_000_000) -> np.ndarray:
    """Upsample (N, h, w) probabilities bilinearly to ``shape`` and return the 1-based argmax.

    Works in row blocks of at most ``max_elements`` values so memory stays bounded.
    """
    n, h, w = probabilities.shape
    height, width = shape
    dtype = np.uint8 if n < 256 else np.uint16
    out = np.empty(shape, dtype)
    y0, y1, wy = _linear_axis(height, h)
    x0, x1, wx = _linear_axis(width, w)
    block = max(1, max_elements // max(n * width, 1))
    for r in range(0, height, block):
        rows = slice(r, min(r + block, height))
        wr = wy[rows][None, :, None]
        a = probabilities[:, y0[rows]] * (1 - wr) + probabilities[:, y1[rows]] * wr
        b = a[:, :, x0] * (1 - wx)[None, None, :] + a[:, :, x1] * wx[None, None, :]
        out[rows] = b.argmax(axis=0) + 1
    return out


def _coarse_prior(image: np.ndarray, strokes: np.ndarray, n_classes: int, params: CRFParams) -> np.ndarray:
    """Return whole-scene CRF probabilities from a pass at about COARSE_PIXELS.

    They are resampled to the scene grid and serve as the prior of tiles
    that hold no strokes.
    """
    h, w = strokes.shape
    f = min(1.0, (COARSE_PIXELS / (h * w)) ** 0.5)
    shape = (max(1, round(h * f)), max(1, round(w * f)))
    q = crf_probabilities(_resize_bands(image, shape), downscale_strokes(strokes, shape), n_classes, params)
    out = np.empty((n_classes, h, w), np.float32)
    y0, y1, wy = _linear_axis(h, shape[0])
    x0, x1, wx = _linear_axis(w, shape[1])
    a = q[:, y0] * (1 - wy)[None, :, None] + q[:, y1] * wy[None, :, None]
    out[:] = a[:, :, x0] * (1 - wx)[None, None, :] + a[:, :, x1] * wx[None, None, :]
    return out


def label_image(
    image: np.ndarray | ImageData,
    strokes: np.ndarray,
    *,
    classes: ClassSet | list[str] | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    scale: float = 1.0,
    progress: ProgressCallback | None = None,
    **crf_params,
) -> LabelResult:
    """Turn sparse strokes into a dense label image with a fully connected CRF.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, C), or ImageData
        Any number of bands; uint8, uint16, int or float (NaN = no data).
        Non-uint8 data is stretched per band to 0..255 (see
        :func:`~napari_crf_label.image_io.to_crf_uint8`).
    strokes : ndarray of int, shape (H, W)
        0 = not annotated, k = class k (1-based).
    classes : ClassSet, list of names, comma-separated str, or None
        The classes; None makes ``class1..classK`` for K = max stroke value.
    window : int, optional
        Tile size in full-resolution pixels. Default: tiles of
        :data:`DEFAULT_WINDOW` pixels at CRF resolution (one tile for most photos).
    overlap : int, optional
        Least overlap of neighbouring tiles in full-resolution pixels;
        default an eighth of the window. Probabilities are blended across it.
    scale : float
        Downscale factor for the CRF (0 < scale <= 1), like the original's ``-s``.
    progress : callable(done, total), optional
        Called after each tile; it may raise to cancel the run.
    **crf_params
        Fields of :class:`~napari_crf_label.crf.CRFParams` (``gt_prob``,
        ``sxy_gaussian``, ``compat_gaussian``, ``sxy_bilateral``, ``schan``,
        ``compat_bilateral``, ``iterations``).

    Returns
    -------
    LabelResult
        ``.labels`` at full resolution, ``.probabilities`` at CRF resolution.

    Raises
    ------
    InputError
        (or a subclass) for bad images, strokes, classes or parameters.

    Notes
    -----
    Painted pixels keep the class the user painted. A tile without strokes
    takes as prior the probabilities of a coarse CRF over the whole scene,
    so it follows its neighbours' evidence instead of guessing. Classes with
    no strokes at all are listed in ``missing_classes`` and never assigned.

    """
    t0 = time.perf_counter()
    data = as_image_data(image)
    height, width = data.shape
    try:
        params = CRFParams(**crf_params)
    except TypeError as exc:
        raise InputError(f"unknown CRF parameter: {exc}") from None
    raw = validate_strokes(strokes, (height, width))
    cls = _resolve_classes(classes, int(raw.max()))
    strokes_i = validate_strokes(raw, (height, width), len(cls))
    strokes_i[~data.valid] = 0
    if not strokes_i.any():
        raise InputError("all strokes lie on no-data pixels; paint on the image")
    if not 0 < scale <= 1:
        raise InputError(f"scale must be > 0 and <= 1, got {scale}")
    n = len(cls)
    painted = np.bincount(strokes_i.ravel(), minlength=n + 1)[1:]
    missing = [name for name, c in zip(cls.names, painted) if c == 0]
    if missing:
        warnings.warn(f"no strokes for class(es) {', '.join(missing)}: they will be absent from the result",
                      stacklevel=2)

    if window is not None and window < 1:
        raise InputError(f"window must be >= 1 pixel, got {window}")
    if overlap is not None and (overlap < 0 or (window is not None and overlap >= window)):
        raise InputError(f"overlap must be >= 0 and smaller than the window ({window}), got {overlap}")
    crf_shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    crf_window = DEFAULT_WINDOW if window is None else max(1, round(window * scale))
    crf_overlap = crf_window // 8 if overlap is None else round(overlap * scale)
    crf_overlap = min(crf_overlap, crf_window - 1)

    image_c = _resize_bands(to_crf_uint8(data.array, data.valid), crf_shape)
    strokes_c = downscale_strokes(strokes_i, crf_shape)
    tiles = tile_grid(*crf_shape, crf_window, crf_overlap)

    if n == 1:
        probs = np.ones((1, *crf_shape), np.float32)
    else:
        probs = _run_tiles(image_c, strokes_c, n, params, tiles, crf_overlap, progress)
    labels = upsample_argmax(probs, (height, width))
    labels[strokes_i > 0] = strokes_i[strokes_i > 0]
    labels[~data.valid] = 0
    used = {"scale": scale, "window": window, "overlap": overlap, "crf_shape": list(crf_shape),
            "crf_window": crf_window, "crf_overlap": crf_overlap, "tiles": len(tiles), **params.as_dict()}
    return LabelResult(labels=labels, probabilities=probs, classes=cls, strokes=strokes_i,
                       missing_classes=missing, params=used, seconds=time.perf_counter() - t0)


def _run_tiles(image: np.ndarray, strokes: np.ndarray, n: int, params: CRFParams, tiles: list[Tile],
               overlap: int, progress: ProgressCallback | None) -> np.ndarray:
    """Run the CRF on every tile and blend the results (serially)."""
    prior = None
    if len(tiles) > 1 and any(not strokes[t.slices].any() for t in tiles):
        prior = _coarse_prior(image, strokes, n, params)
    blender = Blender(n, *strokes.shape, overlap)
    for i, tile in enumerate(tiles, start=1):
        ys, xs = tile.slices
        s = strokes[ys, xs]
        tile_prior = prior[:, ys, xs] if prior is not None and not s.any() else None
        blender.add(tile, crf_probabilities(image[ys, xs], s, n, params, tile_prior))
        if progress is not None:
            progress(i, len(tiles))
    return blender.result()
