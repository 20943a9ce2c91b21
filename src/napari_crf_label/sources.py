"""Where tile tasks read their pixels: arrays in memory, or rasters on disk read per window.

A source is small and picklable (a raster source holds only paths), so a
task can be sent to a worker process or a dask cluster and read its own
window there.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .image_io import (
    ImageData,
    ImageReadError,
    band_histograms,
    band_stretch,
    bands_to_image,
    merge_histograms,
)
from .strokes import StrokesError, check_same_grid, check_stroke_bands, size_mismatch, stroke_classes
from .tiling import Tile, split_axis

__all__ = ["ArraySource", "RasterSource"]


@dataclass
class ArraySource:
    """An image (ImageData) and its strokes, in memory."""

    data: ImageData
    strokes: np.ndarray
    origin: tuple[int, int] = (0, 0)  # scene row/column of the arrays' first pixel (a crop sent to a worker)
    scene_shape: tuple[int, int] | None = None  # the whole scene's size, when this is a crop

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width of the scene (of the whole scene, also for a crop)."""
        return self.data.shape if self.scene_shape is None else self.scene_shape

    def crop(self, tile: Tile) -> ArraySource:
        """Return a source holding only ``tile`` (what a worker process needs), in scene coordinates."""
        ys, xs = self._slices(tile)
        strokes = self.strokes[ys, xs]
        small = np.uint8 if strokes.max(initial=0) < 256 else np.uint16  # less to send to the worker
        return ArraySource(ImageData(array=self.data.array[ys, xs], valid=self.data.valid[ys, xs]),
                           strokes.astype(small), (tile.y0, tile.x0), self.shape)

    def _slices(self, tile: Tile) -> tuple[slice, slice]:
        """Array slices of a scene rectangle."""
        oy, ox = self.origin
        return slice(tile.y0 - oy, tile.y1 - oy), slice(tile.x0 - ox, tile.x1 - ox)

    @property
    def bands(self) -> int:
        """Number of image bands."""
        return self.data.array.shape[2]

    def read(self, tile: Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (image, valid, strokes) of a window; strokes are 0 where there is no data."""
        ys, xs = self._slices(tile)
        valid = self.data.valid[ys, xs]
        strokes = np.where(valid, self.strokes[ys, xs], 0).astype(np.int32)
        return self.data.array[ys, xs], valid, strokes

    def stretch(self) -> np.ndarray | None:
        """Return the per-band stretch limits of the whole image (None for uint8)."""
        return band_stretch(self.data.array, self.data.valid)

    def stroke_counts(self, tiles: list[Tile], n_classes: int) -> np.ndarray:
        """Return a (len(tiles), N + 1) array of stroke pixel counts per class and tile."""
        return np.array([np.bincount(self.read(t)[2].ravel(), minlength=n_classes + 1)[: n_classes + 1]
                         for t in tiles])

    def overview(self, shape: tuple[int, int], stretch: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Return the whole scene shrunk to ``shape``: (uint8 image, strokes)."""
        from .image_io import apply_stretch
        from .resample import resize_bands
        from .strokes import downscale_strokes

        full = Tile(0, self.shape[0], 0, self.shape[1])
        image, valid, strokes = self.read(full)
        return resize_bands(apply_stretch(image, valid, stretch), shape), downscale_strokes(strokes, shape)


@dataclass(frozen=True)
class RasterSource:
    """A (Geo)TIFF image and a stroke raster of the same grid, read window by window.

    Parameters
    ----------
    image_path, strokes_path : Path
        Rasters readable by rasterio; the strokes are band 1 of their file
        (0 = none, k = class k).
    chunk : int
        Rows/columns per window when scanning the whole raster.
    """

    image_path: Path
    strokes_path: Path
    chunk: int = 2048

    def _open(self, path: Path):
        """Open a raster, without the not-georeferenced warning."""
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)

    def describe(self) -> dict:
        """Return shape, band count, dtype, nodata, CRS and transform; check the stroke grid matches."""
        from .image_io import check_single_page, tiff_pages

        for path, error in ((self.image_path, ImageReadError), (self.strokes_path, StrokesError)):
            try:
                pages = tiff_pages(path)[1]
            except Exception:  # not a TIFF tifffile parses: rasterio's message below says more
                continue
            try:
                check_single_page(path, pages)  # a streamed read sees the first page only
            except ImageReadError as exc:
                raise error(f"{exc} (--stream reads one page)") from None
        try:
            with self._open(self.image_path) as src:
                info = {"shape": (src.height, src.width), "bands": src.count, "dtype": src.dtypes[0],
                        "nodata": src.nodata, "crs": src.crs, "transform": src.transform,
                        "gcps": src.gcps if src.gcps[0] else None,
                        "alpha": [c.name for c in src.colorinterp].index("alpha")
                        if "alpha" in [c.name for c in src.colorinterp] and src.count > 1 else None}
        except Exception as exc:
            raise ImageReadError(f"{self.image_path}: cannot read image ({type(exc).__name__}: {exc})") from None
        try:
            with self._open(self.strokes_path) as st:
                sshape, sbands, sgrid = (st.height, st.width), st.count, (st.crs, st.transform)
        except Exception as exc:
            raise StrokesError(f"{self.strokes_path}: cannot read strokes ({type(exc).__name__}: {exc})") from None
        check_stroke_bands(sbands, self.strokes_path)
        check_same_grid((info["crs"], info["transform"]), sgrid, self.strokes_path)
        if sshape != info["shape"]:
            raise StrokesError(size_mismatch(sshape, info["shape"]))
        return info

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width of the scene."""
        return self.describe()["shape"]

    @property
    def bands(self) -> int:
        """Number of image bands (alpha excluded)."""
        info = self.describe()
        return info["bands"] - (info["alpha"] is not None)

    def read(self, tile: Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (image, valid, strokes) of a window, as ImageData/read_image would give them."""
        array, valid, strokes = self._read_raw(tile)
        strokes[~valid] = 0
        return array, valid, strokes

    def _read_raw(self, tile: Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (image, valid, strokes) of a window, strokes kept on no-data pixels."""
        from rasterio.windows import Window

        window = Window(tile.x0, tile.y0, tile.x1 - tile.x0, tile.y1 - tile.y0)
        with self._open(self.image_path) as src:
            bands = src.read(window=window)
            nodata = src.nodata
            colorinterp = [c.name for c in src.colorinterp]
        with self._open(self.strokes_path) as st:
            strokes = stroke_classes(st.read(1, window=window), str(self.strokes_path))
        array, valid = bands_to_image(bands, nodata, colorinterp)
        return np.ascontiguousarray(array), valid, strokes

    def nodata_strokes(self, n_classes: int) -> np.ndarray:
        """Return per class (1..N) how many stroke pixels lie on no-data pixels (a streamed pass).

        Only where it can have no-data pixels (a nodata value, an alpha band
        or float data) and only the row bands with strokes: the image is read
        again by the run itself, and this pass holds up its start.
        """
        from rasterio.windows import Window

        counts = np.zeros(n_classes + 1, np.int64)
        info = self.describe()
        if info["nodata"] is None and info["alpha"] is None and np.dtype(info["dtype"]).kind != "f":
            return counts[1:]
        with self._open(self.strokes_path) as st:
            for band in self._scan():
                if st.read(1, window=Window(band.x0, band.y0, band.x1 - band.x0, band.y1 - band.y0)).any():
                    _, valid, strokes = self._read_raw(band)
                    counts += np.bincount(strokes[~valid], minlength=n_classes + 1)[: n_classes + 1]
        return counts[1:]

    def _scan(self) -> list[Tile]:
        """Return row bands covering the raster, for whole-raster passes."""
        height, width = self.shape
        return [Tile(y0, y1, 0, width) for y0, y1 in split_axis(height, max(1, self.chunk * self.chunk // width))]

    def stretch(self) -> np.ndarray | None:
        """Return per-band stretch limits from a streamed pass (exact for integer data)."""
        info = self.describe()
        if info["dtype"] == "uint8":
            return None
        parts, samples = [], []
        for band in self._scan():
            array, valid, _ = self.read(band)
            hist = band_histograms(array, valid)
            if hist is None:  # float: a regular subsample of valid pixels
                samples.append(array[::4, ::4][valid[::4, ::4]])
            else:
                parts.append(hist)
        if parts:
            return band_stretch(np.zeros((1, 1, len(parts[0])), info["dtype"]), np.ones((1, 1), bool),
                                merge_histograms(parts))
        sample = np.concatenate(samples)[:, None, :] if samples else np.zeros((0, 1, self.bands))
        return band_stretch(sample, np.ones(sample.shape[:2], bool))

    def overview(self, shape: tuple[int, int], stretch: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Return the whole raster shrunk to ``shape``, streamed: (uint8 image, strokes).

        Pixels are averaged by GDAL (nodata ignored); every stroke pixel
        marks its cell, so thin strokes survive the shrinking.
        """
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        from .image_io import apply_stretch

        with self._open(self.image_path) as src:
            bands = src.read(out_shape=(src.count, *shape), resampling=Resampling.average, masked=True)
            colorinterp = [c.name for c in src.colorinterp]
        strokes = np.zeros(shape, np.int32)
        height, width = self.shape
        with self._open(self.strokes_path) as st:
            for band in self._scan():  # every stroke pixel marks its coarse cell (as downscale_strokes)
                s = st.read(1, window=Window(band.x0, band.y0, band.x1 - band.x0, band.y1 - band.y0))
                ys, xs = np.nonzero(s)
                strokes[np.minimum((ys + band.y0) * shape[0] // height, shape[0] - 1),
                        np.minimum(xs * shape[1] // width, shape[1] - 1)] = s[ys, xs]
        mask = np.ma.getmaskarray(bands).all(axis=0)
        array = np.moveaxis(bands.filled(0), 0, -1)
        if "alpha" in colorinterp and array.shape[2] > 1:
            a = colorinterp.index("alpha")
            mask |= array[..., a] == 0
            array = np.delete(array, a, axis=2)
        return apply_stretch(array, ~mask, stretch), np.where(mask, 0, strokes)

    def max_stroke(self) -> int:
        """Return the largest stroke value in the raster (streamed)."""
        from rasterio.windows import Window

        top = 0
        with self._open(self.strokes_path) as st:
            for band in self._scan():
                s = stroke_classes(st.read(1, window=Window(band.x0, band.y0, band.x1 - band.x0,
                                                            band.y1 - band.y0)), str(self.strokes_path))
                top = max(top, int(s.max(initial=0)))
        return top

    def stroke_counts(self, tiles: list[Tile], n_classes: int) -> np.ndarray:
        """Return a (len(tiles), N + 1) array of stroke pixel counts per class and tile."""
        from rasterio.windows import Window

        counts = []
        with self._open(self.strokes_path) as st:
            for t in tiles:
                s = stroke_classes(st.read(1, window=Window(t.x0, t.y0, t.x1 - t.x0, t.y1 - t.y0)),
                                   str(self.strokes_path))
                if s.size and s.max() > n_classes:
                    raise StrokesError(f"{self.strokes_path}: strokes hold class {int(s.max())} but only "
                                       f"{n_classes} classes are defined")
                counts.append(np.bincount(s.ravel(), minlength=n_classes + 1))
        return np.array(counts)
