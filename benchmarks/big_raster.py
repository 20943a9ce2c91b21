"""End to end on a large RGB GeoTIFF built by tiling the real images: wall time and peak memory.

Usage: python benchmarks/big_raster.py --mp 100 [--workers 2] [--scale 0.5] [--keep DIR] [--method crf]
       python benchmarks/big_raster.py --mp 1000
       python benchmarks/big_raster.py --mp 100 --plain   (the command as a user types it: no flags)

Builds (once, in DIR or a temporary folder) a mosaic of 2048-pixel blocks
made from ../shared/data/images (orthomosaic, example1, example2; flipped
variants) with a stroke raster: for each block, 4 colour classes from
k-means and 60 short strokes inside uniform parts of each class. Then runs
``napari-crf-label run --stream`` in a child process and samples the RSS
of its whole process tree (main + dask workers) every 0.2 s. With
``--plain`` the command is the one a user types, ``run IMAGE --strokes S
--classes c1,c2,c3,c4`` (only ``-o`` and ``--overwrite`` added, so runs can
repeat): the default method, scale, workers and path (streamed or not) are
the program's own choice.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import rasterio
from affine import Affine
from PIL import Image
from rasterio.windows import Window
from scipy import ndimage
from scipy.cluster.vq import kmeans2

from _shared import SHARED as SHARED_DIR

BLOCK = 2048
SHARED = SHARED_DIR / "data" / "images"


def blocks() -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (image, strokes) blocks of BLOCK x BLOCK from the real images."""
    out = []
    rng = np.random.default_rng(0)
    for name in ("orthomosaic.jpg", "example1.jpg", "example2.jpg"):
        img = Image.open(SHARED / name).convert("RGB").resize((BLOCK, BLOCK), Image.Resampling.BICUBIC)
        rgb = np.array(img)
        small = rgb[::8, ::8].reshape(-1, 3).astype(float)
        centroids, _ = kmeans2(small, 4, seed=0, minit="++")
        dist = ((rgb[..., None, :].astype(np.float32) - centroids[None, None].astype(np.float32)) ** 2).sum(-1)
        classes = dist.argmin(-1) + 1
        strokes = np.zeros((BLOCK, BLOCK), np.uint8)
        for k in range(1, 5):
            inside = ndimage.binary_erosion(classes == k, iterations=3)
            ys, xs = np.nonzero(inside[:, :-40])
            for i in rng.choice(len(ys), min(60, len(ys)), replace=False) if len(ys) else []:
                y, x = ys[i], xs[i]
                strokes[y, x:x + 40] = np.where(inside[y, x:x + 40], k, strokes[y, x:x + 40])
        out.append((rgb, strokes))
        out.append((rgb[::-1, ::-1].copy(), strokes[::-1, ::-1].copy()))
    return out


def build(folder: Path, mp: float) -> tuple[Path, Path]:
    """Write the mosaic GeoTIFF and its stroke raster (skipped if they exist)."""
    n = int(np.ceil((mp * 1e6) ** 0.5 / BLOCK))
    image_path = folder / f"mosaic_{n * BLOCK}.tif"
    strokes_path = folder / f"mosaic_{n * BLOCK}_strokes.tif"
    if image_path.exists() and strokes_path.exists():
        return image_path, strokes_path
    parts = blocks()
    profile = {"driver": "GTiff", "width": n * BLOCK, "height": n * BLOCK, "crs": "EPSG:32610",
               "transform": Affine(0.1, 0, 5e5, 0, -0.1, 4e6), "tiled": True, "blockxsize": 512,
               "blockysize": 512, "compress": "deflate", "BIGTIFF": "YES"}
    with rasterio.open(image_path, "w", count=3, dtype="uint8", **profile) as img, \
            rasterio.open(strokes_path, "w", count=1, dtype="uint8", **profile) as st:
        for by in range(n):
            for bx in range(n):
                rgb, strokes = parts[(by * 7 + bx * 3) % len(parts)]
                window = Window(bx * BLOCK, by * BLOCK, BLOCK, BLOCK)
                img.write(np.moveaxis(rgb, -1, 0), window=window)
                st.write(strokes[None], window=window)
    return image_path, strokes_path


def tree_rss(proc: psutil.Process) -> int:
    """Return the summed RSS of a process and its descendants."""
    total = 0
    try:
        children = proc.children(recursive=True)
    except psutil.Error:  # the run is ending: its process is gone
        children = []
    for p in [proc, *children]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--keep", type=Path, help="folder for the built rasters (kept between runs)")
    parser.add_argument("--method", default="crf", help="labelling method (default crf, as in RESULTS.md)")
    parser.add_argument("--plain", action="store_true",
                        help="run the plain command (program defaults; --workers, --scale, --method ignored)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="crf-big-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    image_path, strokes_path = build(folder, args.mp)
    with rasterio.open(image_path) as src:
        h, w = src.shape
    print(f"raster {w} x {h} = {w * h / 1e6:.0f} MP RGB ({image_path.stat().st_size / 1e9:.2f} GB on disk), "
          f"built/found in {time.perf_counter() - t0:.0f} s")
    out = folder / "out"
    cmd = [sys.executable, "-m", "napari_crf_label.cli", "run", str(image_path), "--strokes", str(strokes_path),
           "--classes", "c1,c2,c3,c4", "-o", str(out), "--overwrite"]
    if not args.plain:
        cmd += ["--stream", "-s", str(args.scale), "--workers", str(args.workers), "--method", args.method]
    peak = 0
    t0 = time.perf_counter()
    log = folder / "stderr.log"  # the run's progress lines: where the time went
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(ps))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        print(f"run failed with exit code {proc.returncode}")
        return 1
    print(f"command: {' '.join(cmd[2:])}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run and every process it waited for
    cpu = usage.ru_utime + usage.ru_stime
    print(f"wall {wall:.1f} s ({wall / (w * h / 1e6):.2f} s/MP), peak RSS of the process tree {peak / 1e9:.2f} GB, "
          f"CPU {cpu:.0f} s (load average {os.getloadavg()[0]:.1f} at the end; other jobs share the machine)")
    print(stdout.strip().splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
