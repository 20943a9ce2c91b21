import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from rasterio.crs import CRS
from scipy import ndimage

from napari_crf_label.image_io import ImageReadError, as_image_data, read_image, to_crf_uint8


@pytest.mark.parametrize("suffix", [".jpg", ".JPG", ".jpeg", ".png", ".PNG", ".tif", ".TIFF"])
def test_reads_every_suffix_any_case(tmp_path, suffix):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 15:] = (200, 100, 50)
    path = tmp_path / f"pic{suffix}"
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}[suffix.lower()]
    Image.fromarray(rgb).save(path, format=fmt, **({"quality": 100} if fmt == "JPEG" else {}))
    data = read_image(path)
    assert data.array.shape == (20, 30, 3)
    # JPEG is lossy at the colour edge: compare away from it
    assert np.abs(data.array[:, :12].astype(int) - rgb[:, :12]).max() <= 8
    assert np.abs(data.array[:, 18:].astype(int) - rgb[:, 18:]).max() <= 8
    assert data.valid.all()
    assert not data.is_georeferenced


def test_grey_and_rgba(tmp_path):
    Image.fromarray(np.full((5, 6), 77, np.uint8)).save(tmp_path / "g.png")
    g = read_image(tmp_path / "g.png")
    assert g.array.shape == (5, 6, 1) and g.array[0, 0, 0] == 77
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[:, 3:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = read_image(tmp_path / "a.png")
    assert a.array.shape == (5, 6, 3)
    assert a.valid[:, 3:].all() and not a.valid[:, :3].any()


def test_geotiff_keeps_crs_and_rotated_transform(tmp_path):
    transform = Affine(0.5, 0.1, 394500.0, 0.2, -0.5, 3871680.0)  # rotation / shear terms
    arr = np.arange(1, 4 * 7 * 9 + 1, dtype=np.uint16).reshape(4, 7, 9) * 50
    arr[:, 0, 0] = 0  # nodata in every band
    path = tmp_path / "rot.tif"
    with rasterio.open(path, "w", driver="GTiff", width=9, height=7, count=4, dtype="uint16",
                       crs="EPSG:6347", transform=transform, nodata=0) as dst:
        dst.write(arr)
    data = read_image(path)
    assert data.crs == CRS.from_epsg(6347)
    assert data.transform == transform
    assert data.array.dtype == np.uint16 and data.array.shape == (7, 9, 4)
    assert np.array_equal(data.array[..., 2], arr[2])
    assert not data.valid[0, 0] and data.valid.sum() == 7 * 9 - 1


def test_real_geotiffs(shared_data):
    spot = read_image(shared_data / "geotiff" / "SPOT_UTM2GTIF.TIF")
    assert spot.crs == CRS.from_epsg(26716)
    assert spot.array.shape == (929, 699, 1)
    assert spot.transform.a == pytest.approx(10.0)
    l7 = read_image(shared_data / "geotiff" / "L7_ETMs.tif")
    assert l7.array.shape == (352, 349, 6)
    assert l7.crs == CRS.from_epsg(31985)
    rgb = read_image(shared_data / "geotiff" / "RGB.byte.tif")
    assert rgb.array.shape == (718, 791, 3)
    assert not rgb.valid[0, 0] and rgb.valid[359, 395]  # nodata 0 in the rotated scene's corners


def test_float_with_nan_is_masked_and_stretched():
    rng = np.random.default_rng(1)
    arr = rng.uniform(0.0, 0.3, (40, 50, 2)).astype(np.float32)
    arr[0, 0, 1] = np.nan
    data = as_image_data(arr)
    assert not data.valid[0, 0] and data.valid.sum() == 40 * 50 - 1
    u8 = to_crf_uint8(data.array, data.valid)
    assert u8.dtype == np.uint8 and u8.flags.c_contiguous
    assert u8[0, 0].tolist() == [0, 0]
    # percentile stretch spreads the 0..0.3 reflectances over nearly the full range
    assert u8[..., 0].min() == 0 and u8[..., 0].max() == 255
    assert 100 < np.median(u8[..., 0]) < 155


def test_uint16_stretch_keeps_order_and_uint8_passes_through():
    band = np.linspace(1000, 4000, 100, dtype=np.uint16).reshape(10, 10)
    u8 = to_crf_uint8(band[..., None])[..., 0]
    assert np.all(np.diff(u8.ravel().astype(int)) >= 0)
    assert u8.max() == 255 and u8.min() == 0
    raw = np.arange(100, dtype=np.uint8).reshape(10, 10, 1)
    assert np.array_equal(to_crf_uint8(raw), raw)


def test_errors(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_image(tmp_path / "empty.jpg")
    (tmp_path / "x.bmp").write_bytes(b"BM")
    with pytest.raises(ImageReadError, match="unsupported file type"):
        read_image(tmp_path / "x.bmp")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "trunc.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    with pytest.raises(ImageReadError, match="cannot read image"):
        read_image(tmp_path / "trunc.png")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(ImageReadError, match="cannot read image"):
        read_image(tmp_path / "junk.tif")


def test_array_shapes_rejected():
    with pytest.raises(ImageReadError, match="H x W"):
        as_image_data(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ImageReadError, match="empty axis"):
        as_image_data(np.zeros((0, 3)))


def test_a_four_band_jpeg_of_an_orthomosaic_exporter_reads_in_its_own_colours_with_its_no_data(tmp_path):
    # orthomosaic exporters write RGBA samples as a 4-band JPEG without an Adobe marker; Pillow reads every 4-band
    # JPEG as Adobe's inverted CMYK, so the colours came out as their negative (trial 27: a pale cyan marsh) and
    # the alpha inverted; JPEG blurs the alpha at the no-data edge
    from .conftest import exporter_jpeg

    rng = np.random.default_rng(0)
    rgb = rng.integers(100, 200, (64, 64, 3), dtype=np.uint8)
    rgb[..., 0] = 60  # a dark red band: its negative would be bright
    outside = np.add.outer(np.arange(64), np.arange(64)) < 40  # a diagonal no-data corner, white and transparent
    rgb[outside] = 255
    path = exporter_jpeg(tmp_path / "ortho.jpg", np.dstack([rgb, np.where(outside, 0, 255).astype(np.uint8)]))
    assert Image.open(path).mode == "CMYK" and "adobe" not in Image.open(path).info
    data = read_image(path)
    assert data.array.shape == (64, 64, 3)
    assert (data.valid != ~outside).sum() <= 8  # at most a few pixels on the edge itself
    inside = data.valid & ~ndimage.binary_dilation(outside, iterations=3)
    assert np.abs(data.array[inside].astype(int) - rgb[inside]).mean() < 8  # its colours, not their negative
    assert abs(data.array[inside][:, 0].mean() - 60) < 8
    assert data.array[data.valid].max(axis=-1).mean() < 230  # no white fringe of the no-data area counted as data


def test_a_real_cmyk_jpeg_reads_in_its_colours(tmp_path):
    # a JPEG with an Adobe marker is a print image in CMYK: Pillow's conversion, all of it data
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[..., 0] = 255  # full cyan: no red
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "print.jpg", quality=95)
    data = read_image(tmp_path / "print.jpg")
    assert data.valid.all()
    assert data.array[..., 0].max() < 20 and data.array[..., 1:].min() > 235
