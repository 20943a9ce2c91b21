"""Reading images (photos, TIFFs, GeoTIFFs) and normalising them for the CRF.

Every image becomes an :class:`ImageData`: an H x W x C array in its own
dtype, a boolean mask of pixels that hold data, and for GeoTIFFs the CRS and
the full affine transform (rotation and shear terms included), so that the
label written later lands on the same grid.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageData",
    "ImageReadError",
    "read_image",
    "to_crf_uint8",
    "as_image_data",
    "band_stretch",
    "band_histograms",
    "merge_histograms",
    "apply_stretch",
]

#: File types accepted, compared in lower case (``.JPG`` and ``.TIFF`` work).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")

#: Percentiles of the per-band stretch applied to non-uint8 data.
STRETCH_PERCENTILES = (0.5, 99.5)


class ImageReadError(InputError):
    """An image file is missing, unreadable or of an unsupported kind."""


@dataclass
class ImageData:
    """An image with its valid-data mask and (for GeoTIFFs) georeferencing.

    Attributes
    ----------
    array : ndarray
        H x W x C pixel values in the file's dtype (alpha removed).
    valid : ndarray of bool
        H x W, False where the image holds no data (nodata value, NaN,
        transparent alpha).
    crs, transform : optional
        ``rasterio.crs.CRS`` and ``affine.Affine`` of a georeferenced file
        (a transform without a CRS is kept too).
    gcps : optional
        ``(list of rasterio GroundControlPoint, CRS)`` of a file
        georeferenced by ground control points only.
    path : Path, optional
        Where the image came from.
    profile : dict
        Extra file facts (driver, dtype, nodata) for reports.

    """

    array: np.ndarray
    valid: np.ndarray
    crs: Any = None
    transform: Any = None
    path: Path | None = None
    profile: dict = field(default_factory=dict)
    gcps: Any = None

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width in pixels."""
        return self.array.shape[:2]

    @property
    def is_georeferenced(self) -> bool:
        """True when the image carries a CRS, a map transform or ground control points (a GeoTIFF)."""
        return self.crs is not None or self.gcps is not None or (
            self.transform is not None and not self.transform.is_identity)


def as_image_data(image: np.ndarray | ImageData) -> ImageData:
    """Wrap an H x W or H x W x C array as ImageData (NaN marks no data)."""
    if isinstance(image, ImageData):
        return image
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise ImageReadError(f"image must be H x W or H x W x C with no empty axis, got shape {np.shape(image)}")
    array = check_pixels(array)
    valid = ~np.isnan(array).any(axis=2) if array.dtype.kind == "f" else np.ones(array.shape[:2], bool)
    return check_has_data(ImageData(array=array, valid=valid))


def read_image(path: str | Path) -> ImageData:
    """Read a jpg/jpeg/png/tif/tiff file (any letter case) as ImageData.

    TIFFs are read with rasterio, which keeps the CRS, the affine transform
    and the nodata value of GeoTIFFs; other files with Pillow. An alpha band
    becomes the valid mask (alpha 0 = no data).

    Raises
    ------
    ImageReadError
        If the file is missing, of an unsupported type, or cannot be decoded.

    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageReadError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}")
    if not path.is_file():
        raise ImageReadError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: file is empty")
    try:
        data = _read_tiff(path) if suffix in (".tif", ".tiff") else _read_pillow(path)
    except ImageReadError:
        raise
    except Exception as exc:  # decoders raise many types; the user needs one message
        raise ImageReadError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc
    data.array = check_pixels(data.array, path)
    data.path = path
    return check_has_data(data)


def check_has_data(data: ImageData) -> ImageData:
    """Return ``data`` if some pixel holds data; else say which band (or setting) empties the image.

    A pixel is no data when any float band is NaN there, so one all-NaN band
    empties the whole image; the message names it instead of leaving the
    user with "all strokes lie on no-data pixels".
    """
    if data.valid.any():
        return data
    where = f"{data.path}: " if data.path is not None else ""
    array, n = data.array, data.array.shape[2]
    if array.dtype.kind == "f":
        empty = [b + 1 for b in range(n) if np.isnan(array[..., b]).all()]
        if empty and len(empty) < n:
            raise ImageReadError(f"{where}band(s) {', '.join(map(str, empty))} of {n} are all NaN, so no pixel "
                                 "holds data; remove those bands or fill them")
    nodata = data.profile.get("nodata")
    reason = f"equal to the nodata value {nodata:g}" if nodata is not None else "NaN or transparent"
    raise ImageReadError(f"{where}no pixel holds data: every pixel is {reason}")


def check_pixels(array: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """Return pixel values the pipeline can use: a boolean image becomes uint8 0/255.

    Raises
    ------
    ImageReadError
        For complex, text or object pixels (naming the file when known).

    """
    where = f"{path}: " if path is not None else ""
    if array.dtype == bool:
        return array.astype(np.uint8) * np.uint8(255)
    if array.dtype.kind == "c":
        raise ImageReadError(f"{where}complex-valued pixels ({array.dtype}) are not supported; save the "
                             "magnitude (or the real and imaginary parts as bands) instead")
    if array.dtype.kind not in "uif":
        raise ImageReadError(f"{where}image dtype {array.dtype} is not numeric")
    return array


#: TIFF tags that make a file a GeoTIFF (or carry GDAL's nodata/metadata): read with rasterio.
GEO_TAGS = frozenset({33550, 33922, 34264, 34735, 34736, 34737, 42112, 42113})


def tiff_pages(path: Path) -> tuple[bool, list[tuple[tuple[int, ...], str]]]:
    """Return (is_geotiff, [(shape, dtype) of each full-resolution page]) of a TIFF.

    Reduced-resolution pages (overviews, thumbnails) are left out: they
    repeat the image, they are not more of it.
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        pages = [p for p in tif.pages if not p.is_reduced]
        geo = bool(GEO_TAGS & {t.code for t in tif.pages.first.tags.values()})
        return geo, [(tuple(p.shape), str(p.dtype)) for p in pages]


def check_single_page(path: Path, pages: list) -> None:
    """Raise ImageReadError for a TIFF whose full-resolution pages cannot be read as one image's bands."""
    if len(pages) > 1:
        sizes = ", ".join(sorted({" x ".join(map(str, shape)) for shape, _ in pages}))
        raise ImageReadError(f"{path}: {len(pages)} pages ({sizes}) where one image is expected; save the page "
                             "to label as its own TIFF, or its pages as bands of one page")


def _read_tiff(path: Path) -> ImageData:
    """Read a TIFF: GeoTIFFs with rasterio (CRS, transform, nodata), plain TIFFs with tifffile (pages as bands)."""
    geo, pages = tiff_pages(path)
    if geo:
        check_single_page(path, pages)  # GDAL would read the first page only
        return _read_geotiff(path)
    return _read_plain_tiff(path, pages)


def _read_plain_tiff(path: Path, pages: list) -> ImageData:
    """Read a plain TIFF with tifffile; pages of one size and dtype become bands, others are refused.

    Pages whose compression tifffile cannot decode without the optional
    imagecodecs package are decoded by GDAL instead (its ``GTIFF_DIR``
    page access), so every TIFF GDAL reads still reads.
    """
    import tifffile

    shapes = {(shape[:2] if len(shape) == 2 or shape[-1] <= 16 else shape[-2:]) for shape, _ in pages}
    if len(pages) > 1 and (len(shapes) > 1 or len({d for _, d in pages}) > 1):
        sizes = ", ".join(f"{' x '.join(map(str, sh))} {d}" for sh, d in pages[:6])
        raise ImageReadError(f"{path}: {len(pages)} pages of different sizes or types ({sizes}); labelling needs "
                             "one image: save the page to label as its own TIFF")
    bands, valid, compress = [], None, None
    with tifffile.TiffFile(path) as tif:
        for i, page in enumerate(p for p in tif.pages if not p.is_reduced):
            compress = page.compression.name.lower()
            try:
                array = page.asarray()
            except (ValueError, NotImplementedError, RuntimeError) as exc:
                if "imagecodecs" not in str(exc) and "codec" not in str(exc).lower():
                    raise
                array = _gdal_page(path, i)
            else:
                if "S" in page.axes and page.axes.index("S") == 0:  # planar: (S, Y, X)
                    array = np.moveaxis(array, 0, -1)
            if array.ndim == 2:
                array = array[..., None]
            if array.ndim != 3:
                raise ImageReadError(f"{path}: page {i + 1} has axes {page.axes}; expected a 2-D image")
            alpha = page.extrasamples[-1] in (1, 2) if len(page.extrasamples) and array.shape[2] > 1 else False
            if alpha:  # associated or unassociated alpha: 0 = no data
                mask = array[..., -1] > 0
                valid = mask if valid is None else valid & mask
                array = array[..., :-1]
            bands.append(array)
    array = np.concatenate(bands, axis=2)
    if valid is None:
        valid = np.ones(array.shape[:2], bool)
    if array.dtype.kind == "f":
        valid &= ~np.isnan(array).any(axis=2)
    profile = {"driver": "TIFF (tifffile)", "dtype": str(array.dtype), "nodata": None, "count": array.shape[2],
               "pages": len(bands), "compress": compress}
    return ImageData(array=np.ascontiguousarray(array), valid=valid, profile=profile)


def _gdal_page(path: Path, index: int) -> np.ndarray:
    """Return page ``index`` (0-based) of a TIFF as (H, W, C), decoded by GDAL."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(f"GTIFF_DIR:{index + 1}:{path}") as src:
            return np.moveaxis(src.read(), 0, -1)


def _read_geotiff(path: Path) -> ImageData:
    """Read a GeoTIFF with rasterio, keeping CRS, transform and nodata."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            bands = src.read()  # (C, H, W); raises on truncated data
            nodata = src.nodata
            crs = src.crs
            transform = src.transform if crs is not None or not src.transform.is_identity else None
            gcps = src.gcps if src.gcps[0] else None
            colorinterp = [c.name for c in src.colorinterp]
            profile = {"driver": src.driver, "dtype": src.dtypes[0], "nodata": nodata, "count": src.count,
                       "compress": src.compression.value if src.compression is not None else None,
                       **_band_facts(colorinterp, list(src.descriptions))}
    array, valid = bands_to_image(bands, nodata, colorinterp)
    if crs is None and transform is not None:
        warnings.warn(f"{path.name} has a map transform but no CRS: the label GeoTIFF keeps the transform, "
                      "without a CRS", stacklevel=3)
    return ImageData(array=np.ascontiguousarray(array), valid=valid, crs=crs, transform=transform, profile=profile,
                     gcps=gcps)


def _band_facts(colorinterp: list[str], descriptions: list[str | None]) -> dict[str, list[str]]:
    """Return each kept band's colour interpretation and description (the alpha band is dropped, as for pixels)."""
    keep = list(range(len(colorinterp)))
    if "alpha" in colorinterp and len(colorinterp) > 1:
        keep.remove(colorinterp.index("alpha"))
    return {"band_colors": [colorinterp[i] for i in keep],
            "band_names": [(descriptions[i] or "") if i < len(descriptions) else "" for i in keep]}


def bands_to_image(bands: np.ndarray, nodata: float | None, colorinterp: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Turn rasterio's (C, H, W) bands into an (H, W, C) array and its valid mask.

    An alpha band becomes the mask (0 = no data) and is dropped; pixels equal
    to ``nodata`` in every band, and NaN pixels of float data, are no data.
    """
    array = np.moveaxis(bands, 0, -1)
    valid = np.ones(array.shape[:2], bool)
    if "alpha" in colorinterp and array.shape[2] > 1:
        a = colorinterp.index("alpha")
        valid &= array[..., a] > 0
        array = np.delete(array, a, axis=2)
    if nodata is not None:
        valid &= ~(np.isnan(array).all(axis=2) if np.isnan(nodata) else (array == nodata).all(axis=2))
    if array.dtype.kind == "f":
        valid &= ~np.isnan(array).any(axis=2)
    return np.ascontiguousarray(array), valid


def inverted_rgba_jpeg(path: str | Path | None) -> bool:
    """Return True for a 4-band JPEG of RGB and alpha that Pillow reads inverted, as CMYK (see :func:`_read_pillow`).

    Orthomosaic exporters write RGBA samples with no Adobe marker; Pillow
    reads every 4-band JPEG as Adobe's inverted CMYK, so each band comes out
    as 255 minus the stored value: a colour negative with an inverted alpha
    (napari's own reader shows it black, its alpha 0 wherever there is
    data). A JPEG with an Adobe marker is a real CMYK image, not this.
    """
    from PIL import Image, UnidentifiedImageError

    if path is None or Path(path).suffix.lower() not in (".jpg", ".jpeg"):
        return False
    try:
        with Image.open(path) as im:
            return im.format == "JPEG" and im.mode == "CMYK" and "adobe" not in im.info
    except (OSError, UnidentifiedImageError):
        return False


def inverted_alpha_valid(band: np.ndarray) -> np.ndarray:
    """Return where an inverted alpha band (Pillow's 4th band of such a JPEG: 0 = data, 255 = no data) holds data.

    Halfway: JPEG's compression blurs the band at the edge of the data, and
    the pixels above half are the black of the no-data area (a dark fringe
    labelled as a class otherwise).
    """
    return band < 128


def _read_pillow(path: Path) -> ImageData:
    """Read a JPEG or PNG with Pillow; alpha (or a 4-channel JPEG's 4th band) is the mask."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()  # decode now so a truncated file fails here
        mode = im.mode
        if mode == "CMYK" and "adobe" in im.info:  # a real CMYK image (print): its colours, all of it data
            im = im.convert("RGB")
            mode = "RGB"
        elif mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            mode = im.mode
        elif mode in ("LA", "PA"):
            im = im.convert("LA")
            mode = "LA"
        elif mode == "1":
            im = im.convert("L")
            mode = "L"
        array = np.array(im)
    if array.ndim == 2:
        array = array[..., None]
    valid = np.ones(array.shape[:2], bool)
    if mode in ("RGBA", "LA"):
        valid = array[..., -1] > 0
        array = array[..., :-1]
    elif mode == "CMYK":
        # 4-channel JPEGs from orthomosaic exporters hold RGBA samples, which Pillow inverts as Adobe CMYK: the
        # colours are 255 minus Pillow's (read as they came, the image was its own negative; trial 27)
        valid = inverted_alpha_valid(array[..., 3])
        array = 255 - array[..., :3]
    return ImageData(array=np.ascontiguousarray(array), valid=valid,
                     profile={"driver": Image.registered_extensions().get(path.suffix.lower(), "?"),
                              "dtype": str(array.dtype)})


def _percentile_of_counts(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """Return numpy's 'linear' percentile ``q`` of data given as sorted values and their counts."""
    n = int(counts.sum())
    pos = q / 100.0 * (n - 1)
    lo, frac = int(np.floor(pos)), pos - np.floor(pos)
    cum = np.cumsum(counts)
    v_lo = values[np.searchsorted(cum, lo + 1)]
    v_hi = values[np.searchsorted(cum, min(lo + 2, n))]
    return float(v_lo + frac * (v_hi - v_lo))


def band_histograms(array: np.ndarray, valid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Return per band (values, counts) of valid pixels of an integer image, or None for uint8/float.

    Histograms of windows add up, so a streamed raster gets the same stretch
    as the same data in memory.
    """
    if array.dtype == np.uint8 or array.dtype.kind not in "ui":
        return None
    out = []
    for b in range(array.shape[2]):
        values, counts = np.unique(array[..., b][valid], return_counts=True)
        out.append((values.astype(np.int64), counts.astype(np.int64)))
    return out


def merge_histograms(parts: list[list[tuple[np.ndarray, np.ndarray]]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Add per-band (values, counts) histograms of several windows."""
    merged = []
    for band_parts in zip(*parts):
        values = np.concatenate([v for v, _ in band_parts])
        counts = np.concatenate([c for _, c in band_parts])
        uniq, inverse = np.unique(values, return_inverse=True)
        merged.append((uniq, np.bincount(inverse, weights=counts).astype(np.int64)))
    return merged


def band_stretch(array: np.ndarray, valid: np.ndarray,
                 histograms: list[tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray | None:
    """Return the (C, 2) per-band (low, high) stretch limits, or None for uint8 data.

    Limits are the 0.5th and 99.5th percentiles of valid, finite pixels:
    exact from histograms for integer data, from the pixels for float.
    """
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype == np.uint8:
        return None
    if histograms is None:
        histograms = band_histograms(array, valid)
    limits = np.zeros((array.shape[2], 2))
    for b in range(array.shape[2]):
        if histograms is not None:
            values, counts = histograms[b]
            if counts.sum() == 0:
                continue
            lo, hi = (_percentile_of_counts(values, counts, q) for q in STRETCH_PERCENTILES)
        else:
            sample = array[..., b][valid]
            sample = sample[np.isfinite(sample)]
            if sample.size == 0:
                continue
            lo, hi = np.percentile(sample, STRETCH_PERCENTILES)
        limits[b] = lo, (hi if hi > lo else lo + 1)
    return limits


def apply_stretch(array: np.ndarray, valid: np.ndarray, limits: np.ndarray | None) -> np.ndarray:
    """Return an H x W x C uint8, C-contiguous image stretched by ``limits`` (None: uint8 as is); no data = 0."""
    if array.ndim == 2:
        array = array[..., None]
    if limits is None:
        out = np.array(array, dtype=np.uint8, order="C")
    else:
        out = np.zeros(array.shape, np.uint8)
        for b in range(array.shape[2]):
            lo, hi = limits[b]
            scaled = (array[..., b].astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
            out[..., b] = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).astype(np.uint8)
    out[~valid] = 0
    return out


def to_crf_uint8(array: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Return an H x W x C uint8, C-contiguous copy for the CRF colour kernel.

    uint8 data is passed through unchanged (it is what the user sees and
    paints on). Any other dtype (uint16, int, float) is stretched per band
    between its 0.5th and 99.5th percentile over valid, finite pixels to
    0..255, so 16-bit and reflectance imagery get the same kernel widths as
    8-bit photos. No-data pixels become 0.
    """
    if array.ndim == 2:
        array = array[..., None]
    if valid is None:
        valid = np.ones(array.shape[:2], bool)
    return apply_stretch(array, valid, band_stretch(array, valid))
