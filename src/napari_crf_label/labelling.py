"""The pipeline: image + sparse strokes -> dense label image.

normalise bands -> downscale (``scale``) -> tiles (``window``, ``overlap``)
-> CRF per tile -> blend probabilities -> upsample -> argmax -> labels.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np

from .classes import ClassSet
from .crf import CRFParams, TileCRF
from .errors import InputError
from .image_io import ImageData, as_image_data, to_crf_uint8
from .resources import available_memory, check_memory, crf_bytes, estimate_run_bytes
from .strokes import downscale_strokes, validate_strokes
from .tiling import Blender, Tile, tile_grid

__all__ = ["LabelResult", "CRFCache", "label_image", "iter_label_image", "DEFAULT_WINDOW", "COARSE_PIXELS"]

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


class CRFCache:
    """Built CRFs (lattices) per tile, re-used while only the strokes change.

    Keyed by a fingerprint of the CRF-resolution image, the tile, the class
    count and the kernel parameters, so any change of image, scale, window
    or kernel builds afresh. Holds the tiles of one configuration at a time
    (older entries are dropped), since each costs about 0.2-0.35 GB/MP.
    """

    def __init__(self) -> None:
        self._base: tuple | None = None
        self._crfs: dict[object, TileCRF] = {}
        self.hits = 0
        self.builds = 0

    def get(self, base: tuple, tile: object, build: Callable[[], TileCRF]) -> TileCRF:
        """Return the cached CRF for (base, tile), building it with ``build`` if needed."""
        if base != self._base:
            self._crfs.clear()
            self._base = base
        crf = self._crfs.get(tile)
        if crf is None:
            crf = self._crfs[tile] = build()
            self.builds += 1
        else:
            self.hits += 1
        return crf

    def clear(self) -> None:
        """Drop every built CRF."""
        self._crfs.clear()
        self._base = None


class _NoCache(CRFCache):
    """A cache that keeps nothing: each tile's CRF is freed once used."""

    def get(self, base: tuple, tile: object, build: Callable[[], TileCRF]) -> TileCRF:
        """Build and return the CRF without keeping it."""
        self.builds += 1
        return build()


def _fingerprint(image: np.ndarray) -> str:
    """Return a short digest of an array's bytes and shape."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def _resample_linear(q: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinearly resample (N, h, w) probabilities to (N, *shape)."""
    y0, y1, wy = _linear_axis(shape[0], q.shape[1])
    x0, x1, wx = _linear_axis(shape[1], q.shape[2])
    a = q[:, y0] * (1 - wy)[None, :, None] + q[:, y1] * wy[None, :, None]
    return a[:, :, x0] * (1 - wx)[None, None, :] + a[:, :, x1] * wx[None, None, :]


def iter_label_image(
    image: np.ndarray | ImageData,
    strokes: np.ndarray,
    *,
    classes: ClassSet | list[str] | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    scale: float = 1.0,
    cache: CRFCache | None = None,
    **crf_params,
) -> Generator[tuple[int, int], None, LabelResult]:
    """Do what :func:`label_image` does, yielding ``(tiles done, tiles total)`` as it goes.

    It yields often (after every CRF iteration), so a consumer that stops
    iterating cancels the run within one iteration. Unlike label_image it
    does not warn about classes without strokes: check
    ``result.missing_classes``. The LabelResult is the
    generator's return value. ``cache`` (a :class:`CRFCache`) keeps built
    lattices between calls so re-runs after stroke edits skip the build.
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
    if window is not None and window < 1:
        raise InputError(f"window must be >= 1 pixel, got {window}")
    if overlap is not None and (overlap < 0 or (window is not None and overlap >= window)):
        raise InputError(f"overlap must be >= 0 and smaller than the window ({window}), got {overlap}")
    n = len(cls)
    painted = np.bincount(strokes_i.ravel(), minlength=n + 1)[1:]
    missing = [name for name, c in zip(cls.names, painted) if c == 0]

    crf_shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    crf_window = DEFAULT_WINDOW if window is None else max(1, round(window * scale))
    crf_overlap = crf_window // 8 if overlap is None else round(overlap * scale)
    crf_overlap = min(crf_overlap, crf_window - 1)
    image_c = _resize_bands(to_crf_uint8(data.array, data.valid), crf_shape)
    strokes_c = downscale_strokes(strokes_i, crf_shape)
    tiles = tile_grid(*crf_shape, crf_window, crf_overlap)

    tile_pixels = tiles[0].shape[0] * tiles[0].shape[1]
    kept = sum(t.shape[0] * t.shape[1] for t in tiles) if cache is not None else 0
    estimate = estimate_run_bytes((height, width), crf_shape, tile_pixels, n, data.array.shape[2], kept)
    if cache is not None and crf_bytes(kept, n) > 0.5 * (available_memory() or float("inf")):
        # keeping every tile's lattice would crowd the machine: run without keeping them
        cache.clear()
        cache = None
        estimate = estimate_run_bytes((height, width), crf_shape, tile_pixels, n, data.array.shape[2])
    check_memory(estimate, f"labelling {height} x {width} pixels ({len(tiles)} tile(s) at CRF resolution)")

    if n == 1:
        probs = np.ones((1, *crf_shape), np.float32)
        yield len(tiles), len(tiles)
    else:
        cache = _NoCache() if cache is None else cache
        base = (_fingerprint(image_c), n, params.kernel_key())
        probs = yield from _iter_tiles(image_c, strokes_c, n, params, tiles, crf_overlap, cache, base)
    labels = upsample_argmax(probs, (height, width))
    labels[strokes_i > 0] = strokes_i[strokes_i > 0]
    labels[~data.valid] = 0
    used = {"scale": scale, "window": window, "overlap": overlap, "crf_shape": list(crf_shape),
            "crf_window": crf_window, "crf_overlap": crf_overlap, "tiles": len(tiles), **params.as_dict()}
    return LabelResult(labels=labels, probabilities=probs, classes=cls, strokes=strokes_i,
                       missing_classes=missing, params=used, seconds=time.perf_counter() - t0)


def label_image(
    image: np.ndarray | ImageData,
    strokes: np.ndarray,
    *,
    classes: ClassSet | list[str] | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    scale: float = 1.0,
    progress: ProgressCallback | None = None,
    cache: CRFCache | None = None,
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
        Largest tile size in full-resolution pixels. Default: tiles of at most
        :data:`DEFAULT_WINDOW` pixels at CRF resolution (one tile for most photos).
    overlap : int, optional
        Least overlap of neighbouring tiles in full-resolution pixels;
        default an eighth of the window. Probabilities are blended across it.
    scale : float
        Downscale factor for the CRF (0 < scale <= 1), like the original's ``-s``.
    progress : callable(done, total), optional
        Called as tiles complete; it may raise to cancel the run.
    cache : CRFCache, optional
        Keeps built CRFs between calls: pass the same cache to re-run fast
        after the strokes change. Without it each tile's CRF is freed as
        soon as it is used, so memory depends on the tile size only. When
        keeping every tile would take over half the available memory, the
        run goes on without keeping them.
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
        (or a subclass) for bad images, strokes, classes or parameters;
        ``MemoryLimitError`` when the estimated peak memory exceeds what
        the machine has available (checked before any CRF is built).

    Notes
    -----
    Painted pixels keep the class the user painted. A tile without strokes
    takes as prior the probabilities of a coarse CRF over the whole scene,
    so it follows its neighbours' evidence instead of guessing. Classes with
    no strokes at all are listed in ``missing_classes`` and never assigned.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((40, 60, 3), np.uint8); image[:, 30:] = 200
    >>> strokes = np.zeros((40, 60), int); strokes[20, 5:10] = 1; strokes[20, 50:55] = 2
    >>> result = label_image(image, strokes, classes=["dark", "bright"])
    >>> result.labels[0, 0], result.labels[0, -1]
    (np.uint8(1), np.uint8(2))
    """
    gen = iter_label_image(image, strokes, classes=classes, window=window, overlap=overlap, scale=scale,
                           cache=cache, **crf_params)
    done = 0
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            result = stop.value
            if result.missing_classes:
                warnings.warn(f"no strokes for class(es) {', '.join(result.missing_classes)}: "
                              "they are absent from the result", stacklevel=2)
            return result
        if progress is not None and step[0] > done:
            done = step[0]
            progress(*step)


def _iter_tiles(image: np.ndarray, strokes: np.ndarray, n: int, params: CRFParams, tiles: list[Tile],
                overlap: int, cache: CRFCache, base: tuple) -> Generator[tuple[int, int], None, np.ndarray]:
    """Run the CRF on every tile (serially) and return the blended probabilities."""
    total = len(tiles)
    prior = None
    if total > 1 and any(not strokes[t.slices].any() for t in tiles):
        # coarse whole-scene pass: the prior of tiles that hold no strokes
        h, w = strokes.shape
        f = min(1.0, (COARSE_PIXELS / (h * w)) ** 0.5)
        shape = (max(1, round(h * f)), max(1, round(w * f)))
        coarse_image = _resize_bands(image, shape)
        crf = cache.get(base, ("coarse", shape), lambda: TileCRF(coarse_image, n, params))
        q = yield from _with_progress(crf.iter_infer(downscale_strokes(strokes, shape)), 0, total)
        prior = _resample_linear(q, strokes.shape)
    blender = Blender(n, *strokes.shape, overlap)
    for i, tile in enumerate(tiles):
        ys, xs = tile.slices
        s = strokes[ys, xs]
        crf = cache.get(base, tile, lambda ys=ys, xs=xs: TileCRF(image[ys, xs], n, params))
        yield i, total
        tile_prior = prior[:, ys, xs] if prior is not None and not s.any() else None
        q = yield from _with_progress(crf.iter_infer(s, tile_prior), i, total)
        blender.add(tile, q)
        yield i + 1, total
    return blender.result()


def _with_progress(gen: Generator[None, None, np.ndarray], done: int, total: int
                   ) -> Generator[tuple[int, int], None, np.ndarray]:
    """Re-yield a CRF's per-iteration steps as (done, total) progress."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        yield done, total
