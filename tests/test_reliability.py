"""Failure behaviour: each case of tests/README.md's table that other test modules do not cover."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from napari_crf_label import InputError, export_all, label_image, read_image
from napari_crf_label.cli import main
from napari_crf_label.image_io import ImageReadError
from napari_crf_label.resources import MemoryLimitError

from .conftest import two_region_scene


# ------------------------------------------------------------------ images
def test_truncated_jpeg_and_geotiff(tmp_path):
    image, _, _ = two_region_scene()
    Image.fromarray(image).save(tmp_path / "ok.jpg", quality=90)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.jpg: cannot read image .*truncated"):
        read_image(tmp_path / "cut.jpg")
    with rasterio.open(tmp_path / "ok.tif", "w", driver="GTiff", width=200, height=120, count=3, dtype="uint8",
                       crs="EPSG:32618", transform=Affine(30, 0, 0, 0, -30, 0)) as dst:
        dst.write(np.moveaxis(image, -1, 0))
    data = (tmp_path / "ok.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.tif: cannot read image"):
        read_image(tmp_path / "cut.tif")


def test_cli_corrupt_image_one_line(tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    Image.fromarray(np.ones((4, 4), np.uint8)).save(tmp_path / "s.png")
    assert main(["run", str(tmp_path / "broken.png"), "--strokes", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-crf-label: error:") and "broken.png: cannot read image" in err
    assert err.count("\n") == 1


def test_rgba_transparent_pixels_unlabelled(tmp_path):
    image, truth, strokes = two_region_scene()
    rgba = np.dstack([image, np.full(truth.shape, 255, np.uint8)])
    rgba[:30, :40, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    r = label_image(read_image(tmp_path / "a.png"), strokes)
    assert np.all(r.labels[:30, :40] == 0) and np.all(r.labels[30:] > 0)


def test_uint16_five_band_geotiff_with_nodata(tmp_path):
    image, truth, strokes = two_region_scene()
    rng = np.random.default_rng(3)
    bands = np.stack([image[..., i % 3].astype(np.uint16) * 40 + 1000 for i in range(5)])
    bands[4] = rng.integers(1000, 11000, truth.shape)  # one band of pure noise
    bands[:, :10, :10] = 0  # nodata
    path = tmp_path / "five.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=120, count=5, dtype="uint16", nodata=0,
                       crs="EPSG:32618", transform=Affine(10, 0, 5e5, 0, -10, 4e6)) as dst:
        dst.write(bands)
    data = read_image(path)
    assert data.array.shape == (120, 200, 5) and data.array.dtype == np.uint16
    r = label_image(data, strokes)
    assert np.all(r.labels[:10, :10] == 0)
    assert (r.labels[10:] == truth[10:]).mean() > 0.98
    paths = export_all(r, data, tmp_path)
    with rasterio.open(paths["label_tif"]) as lab:
        assert lab.transform == data.transform and lab.nodata == 0


@pytest.mark.parametrize("method", ["features+crf", "crf", "features"])
def test_image_one_pixel_wide(method):
    image = np.zeros((60, 1, 3), np.uint8)
    image[30:] = 200
    strokes = np.zeros((60, 1), np.int32)
    strokes[2:6, 0], strokes[54:58, 0] = 1, 2  # a few pixels each: a forest cannot split one sample per class
    r = label_image(image, strokes, method=method)
    assert r.labels.shape == (60, 1)
    assert np.all(r.labels[:30, 0] == 1) and np.all(r.labels[30:, 0] == 2)


def test_orthomosaic_nodata_corner_left_unlabelled(shared_data):
    data = read_image(shared_data / "images" / "orthomosaic.jpg")
    assert data.array.shape == (2048, 2048, 3)
    assert not data.valid[-1, 0] and data.valid[0, -1]  # black corner bottom-left
    strokes = np.zeros(data.shape, np.int32)
    strokes[200:210, 1200:1600] = 1
    strokes[1000:1010, 1000:1400] = 2
    r = label_image(data, strokes, scale=0.25)
    assert np.all(r.labels[~data.valid] == 0)
    assert np.all(r.labels[data.valid] > 0)


# ----------------------------------------------------------------- strokes
def test_strokes_in_only_one_tile_of_many():
    image, truth, strokes = two_region_scene(height=300, width=300, boundary=150)
    only = np.zeros_like(strokes)
    only[40:60, 130] = 1  # both classes painted, in the top-middle tile only
    only[40:60, 170] = 2
    r = label_image(image, only, window=100, overlap=20)
    assert r.params["tiles"] == 9
    assert (r.labels == truth).mean() > 0.97


# --------------------------------------------------------------------- run
def test_memory_guard_refuses_before_allocating(monkeypatch, capsys, tmp_path):
    from napari_crf_label.pipeline import cache, images

    monkeypatch.setattr(images, "available_memory", lambda: 10_000_000)
    monkeypatch.setattr("napari_crf_label.resources.available_memory", lambda: 10_000_000)
    built = []
    monkeypatch.setattr(cache, "TileCRF", lambda *a, **k: built.append(1))
    image, _, strokes = two_region_scene(height=400, width=400)
    with pytest.raises(MemoryLimitError, match=r"needs about .* GB but only 0\.0 GB"):
        label_image(image, strokes)
    assert built == []  # refused before any CRF was built
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(strokes.astype(np.uint8)).save(tmp_path / "s.png")
    assert main(["run", str(tmp_path / "i.png"), "--strokes", str(tmp_path / "s.png")]) == 2
    assert "of memory is available" in capsys.readouterr().err
    assert not list(tmp_path.glob("i_*"))


def test_cli_interrupt_leaves_no_files(tmp_path):
    image, _, strokes = two_region_scene(height=1200, width=1200, boundary=600)
    Image.fromarray(image).save(tmp_path / "big.png")
    Image.fromarray(strokes.astype(np.uint8)).save(tmp_path / "s.png")
    proc = subprocess.Popen([sys.executable, "-m", "napari_crf_label.cli", "run", str(tmp_path / "big.png"),
                             "--strokes", str(tmp_path / "s.png"), "-w", "400", "--iterations", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # Ctrl-C as in a terminal, even when the tests run as a background job (which
                            # ignores SIGINT, and a child inherits that: the run then ends with 0)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    err = ""
    while time.time() < deadline:  # wait until the first tile is done
        line = proc.stderr.read(1)
        err += line
        if "CRF tiles 1/" in err:
            break
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png", "s.png"]


# ------------------------------------------------------------------ output
@pytest.fixture
def labelled(tmp_path):
    image, _, strokes = two_region_scene()
    Image.fromarray(image).save(tmp_path / "scene.png")
    data = read_image(tmp_path / "scene.png")
    return data, label_image(data, strokes)


def test_disk_full_midway_leaves_no_outputs(tmp_path, labelled, monkeypatch):
    data, result = labelled
    out = tmp_path / "out"
    out.mkdir()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("napari_crf_label.io.export.write_label_png", full)  # fails after mat, figure, report
    with pytest.raises(OSError, match="No space left"):
        export_all(result, data, out)
    assert list(out.iterdir()) == []  # neither outputs nor temporary files


def test_disk_full_cli_message(tmp_path, monkeypatch, capsys):
    image, _, strokes = two_region_scene()
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(strokes.astype(np.uint8)).save(tmp_path / "s.png")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("napari_crf_label.io.export.write_figure", full)
    assert main(["run", str(tmp_path / "i.png"), "--strokes", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[-1] == "napari-crf-label: error: [Errno 28] No space left on device"
    assert "Traceback" not in err and sum("error" in line for line in lines) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.png", "s.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions; see the simulated test below")
def test_read_only_folder(tmp_path, labelled):
    data, result = labelled
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            export_all(result, data, ro)
    finally:
        ro.chmod(0o755)


def test_read_only_folder_simulated(tmp_path, labelled, monkeypatch, capsys):
    data, result = labelled

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr("napari_crf_label.io.atomic.tempfile.mkstemp", denied)
    with pytest.raises(PermissionError):
        export_all(result, data, tmp_path)
    Image.fromarray(result.strokes.astype(np.uint8)).save(tmp_path / "s.png")
    assert main(["run", str(tmp_path / "scene.png"), "--strokes", str(tmp_path / "s.png")]) == 2
    assert "Permission denied" in capsys.readouterr().err


def test_api_exceptions_are_documented_types():
    image, _, strokes = two_region_scene()
    for bad in ({"scale": -1}, {"classes": "a"}, {"window": -5}):
        with pytest.raises(InputError):
            label_image(image, strokes, **bad)
