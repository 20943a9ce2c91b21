"""Tile tasks give the same labels serially, in worker processes, on a dask cluster and streamed from disk."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from affine import Affine

from napari_crf_label import label_image
from napari_crf_label.pipeline import label_raster


def three_class_scene(height=260, width=330, seed=1):
    rng = np.random.default_rng(seed)
    truth = np.ones((height, width), np.int32)
    truth[:, width // 3:] = 2
    yy, xx = np.mgrid[:height, :width]
    truth[(yy - height // 2) ** 2 + (xx - 2 * width // 3) ** 2 < (height // 4) ** 2] = 3
    palette = np.array([[0, 0, 0], [40, 90, 40], [200, 180, 120], [30, 60, 160]])
    image = np.clip(palette[truth] + rng.normal(0, 14, (height, width, 3)), 0, 255).astype(np.uint8)
    strokes = np.zeros_like(truth)
    for k in (1, 2, 3):
        ys, xs = np.nonzero(truth == k)
        pick = rng.choice(len(ys), 40, replace=False)
        strokes[ys[pick], xs[pick]] = k
    return image, truth, strokes


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as lc, Client(lc) as client:
        yield client


def test_serial_processes_and_cluster_give_identical_labels(cluster):
    image, truth, strokes = three_class_scene()
    kw = {"window": 100, "overlap": 30, "classes": ["a", "b", "c"]}
    serial = label_image(image, strokes, **kw)
    assert serial.params["tiles"] == 12
    assert (serial.labels == truth).mean() > 0.97
    local = label_image(image, strokes, workers=2, **kw)
    on_cluster = label_image(image, strokes, client=cluster, **kw)
    assert np.array_equal(serial.labels, local.labels)
    assert np.array_equal(serial.labels, on_cluster.labels)
    assert np.allclose(serial.probabilities, on_cluster.probabilities, atol=1e-6)
    workers = cluster.scheduler_info()["workers"]
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1") for w in workers)


def write_tif(path, bands, dtype, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=dtype, crs="EPSG:32633", transform=Affine(2, 0, 4e5, 0, -2, 5e6), nodata=nodata,
                       tiled=True, blockxsize=64, blockysize=64) as dst:
        dst.write(bands)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_streamed_raster_equals_in_memory_run(tmp_path, dtype):
    image, truth, strokes = three_class_scene()
    bands = np.moveaxis(image, -1, 0).astype(dtype) * (1 if dtype == "uint8" else 37)
    write_tif(tmp_path / "img.tif", bands, dtype)
    write_tif(tmp_path / "strokes.tif", strokes[None].astype("uint8"), "uint8")
    from napari_crf_label import read_image

    in_memory = label_image(read_image(tmp_path / "img.tif"), strokes, window=100, overlap=30)
    steps = []
    result = label_raster(tmp_path / "img.tif", tmp_path / "strokes.tif", tmp_path / "out.tif", window=100,
                          overlap=30, progress=lambda d, t: steps.append((d, t)))
    assert steps[-1] == (12, 12)
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.crs.to_epsg() == 32633 and out.transform == Affine(2, 0, 4e5, 0, -2, 5e6)
        assert out.profile["tiled"] and out.profile["compress"] == "deflate" and out.nodata == 0
        labels = out.read(1)
    assert np.array_equal(labels, in_memory.labels)
    assert result.counts[1:].sum() == labels.size


def test_streamed_raster_on_cluster_with_strokeless_tiles_and_nodata(tmp_path, cluster):
    image, truth, _ = three_class_scene(height=300, width=400)
    strokes = np.zeros_like(truth)
    strokes[20:40, 30] = 1  # strokes only near the top-left and top-right
    strokes[20:40, 300] = 2
    strokes[150, 260:280] = 3
    bands = np.moveaxis(image, -1, 0).copy()
    bands[:, -20:, :20] = 0
    write_tif(tmp_path / "img.tif", bands, "uint8", nodata=0)
    write_tif(tmp_path / "strokes.tif", strokes[None].astype("uint8"), "uint8")
    result = label_raster(tmp_path / "img.tif", tmp_path / "strokes.tif", tmp_path / "out.tif", window=100,
                          overlap=30, client=cluster, classes=["a", "b", "c"])
    with rasterio.open(tmp_path / "out.tif") as out:
        labels = out.read(1)
    assert np.all(labels[-20:, :20] == 0)
    ok = labels > 0
    assert (labels[ok] == truth[ok]).mean() > 0.95
    assert result.missing_classes == []


def test_raster_refuses_existing_output_and_bad_strokes(tmp_path):
    image, _, strokes = three_class_scene(height=50, width=60)
    write_tif(tmp_path / "img.tif", np.moveaxis(image, -1, 0), "uint8")
    write_tif(tmp_path / "strokes.tif", strokes[None, :40].astype("uint8"), "uint8")
    from napari_crf_label import InputError, OutputExistsError

    with pytest.raises(InputError, match="must match"):
        label_raster(tmp_path / "img.tif", tmp_path / "strokes.tif", tmp_path / "out.tif")
    write_tif(tmp_path / "strokes.tif", strokes[None].astype("uint8"), "uint8")
    (tmp_path / "out.tif").write_bytes(b"user file")
    with pytest.raises(OutputExistsError):
        label_raster(tmp_path / "img.tif", tmp_path / "strokes.tif", tmp_path / "out.tif")
    assert (tmp_path / "out.tif").read_bytes() == b"user file"


def test_worker_process_killed_mid_run_is_recovered():
    import psutil
    from dask.distributed import Client, LocalCluster

    image, truth, strokes = three_class_scene(height=400, width=400)
    kw = {"window": 100, "overlap": 30, "classes": ["a", "b", "c"], "iterations": 30}
    serial = label_image(image, strokes, **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as lc, Client(lc) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one(done, total):
            if not killed:
                psutil.Process(pids[0]).kill()  # SIGKILL, as the OOM killer would
                killed.append(pids[0])

        result = label_image(image, strokes, client=client, progress=kill_one, **kw)
    assert killed
    assert np.array_equal(result.labels, serial.labels)  # lost tiles were recomputed elsewhere


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    from PIL import Image

    from napari_crf_label.cli import main

    image, _, strokes = three_class_scene(height=60, width=80)
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(strokes.astype(np.uint8)).save(tmp_path / "s.png")
    code = main(["run", str(tmp_path / "i.png"), "--strokes", str(tmp_path / "s.png"),
                 "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("napari-crf-label: error:") and "127.0.0.1:9" in err[-1]
    assert not list(tmp_path.glob("i_*"))
