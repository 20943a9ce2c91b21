"""What the tiles' halo buys: labels of tiled runs with smaller halos against a run in one tile.

Usage: python benchmarks/halo_agreement.py [--halos 128 96 64 48 40 32] [--methods features+crf crf]
       [--only NAME ...] [--window 1024] [--seeds 1 2]

Real images large enough to tile with the default 1024-pixel cores (from
../shared/data and the bundled sample; the small ones upscaled so that they
tile), with strokes that exist for them where they do:

- ``sample_x3``: the bundled Landsat sample x3 (1536 x 1536), its example
  strokes and its ground truth (nearest-neighbour upscaled);
- ``ortho``: ``orthomosaic.jpg`` (2048 x 2048), 4 k-means colour classes
  with 60 strokes per class (``_scenes.photo_scene``; no truth);
- ``l7_6band_x4``: the 6-band Landsat scene ``L7_ETMs.tif`` x4 (1396 x
  1408), simulated strokes on 5 k-means classes of its bands (no truth);
- ``doodler_x2``: the oblique coastal photo of the Doodler sessions x2
  (1228 x 1840) with its human strokes (Doodler's own output is no truth);
- two CamVid frames x3 (1080 x 1440) and one Dubai tile x2, with the
  quality harness's simulated strokes (``make_strokes``, simulator, 1 %)
  painted on the upscaled truth, and mean IoU against that truth.

Each image is run with ``label_image`` (default threads) with window 1024
and each halo (``overlap``, CRF pixels at scale 1), and once as one tile
(window and halo covering the image) as the reference. Printed per image,
method and halo: the tiles, the CPU seconds of the run (all threads), the
share of pixels agreeing with the one-tile run, the same within 64 pixels
of an inner core edge (where a too-small halo shows), the share agreeing
with today's halo 128, and the mean IoU where there is truth. With
``--seeds``, the feature methods are also run at halo 128 with those seeds
of the classifier's sample draw and forest (rows "128/s1"...): how much the
labels move for reasons that have nothing to do with the halo (the noise).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.cluster.vq import kmeans2

sys.path.insert(0, str(Path(__file__).resolve().parent / "quality"))
from doodler_agreement import session  # noqa: E402
from run import make_strokes  # noqa: E402

from _scenes import photo_scene  # noqa: E402
from _shared import SHARED as SHARED_DIR
from napari_crf_label import label_image  # noqa: E402
from napari_crf_label.features import FeatureParams  # noqa: E402
from napari_crf_label.image_io import ImageData, read_image  # noqa: E402
from napari_crf_label.metrics import mean_iou  # noqa: E402
from napari_crf_label.pipeline import inputs  # noqa: E402

SHARED = SHARED_DIR / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "napari_crf_label" / "data"
#: Width of the band along inner core edges (each side) where a short halo would show.
EDGE_BAND = 64


def upscale(array: np.ndarray, factor: int, nearest: bool = False) -> np.ndarray:
    """Return an H x W (x C) array upscaled ``factor`` times (bicubic, or nearest for labels)."""
    if nearest:
        return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)
    planes = array[..., None] if array.ndim == 2 else array
    out = np.stack([np.array(Image.fromarray(planes[..., b]).resize(
        (planes.shape[1] * factor, planes.shape[0] * factor), Image.Resampling.BICUBIC))
        for b in range(planes.shape[2])], axis=-1)
    return out.reshape(out.shape[:2] + array.shape[2:])


def kmeans_classes(array: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Return 1..n k-means colour classes of an H x W x C uint8 image (a stand-in truth)."""
    flat = array.reshape(-1, array.shape[2]).astype(np.float32)
    centroids, _ = kmeans2(flat[::16].astype(float), n, seed=seed, minit="++")
    dist = ((flat[:, None, :] - centroids[None].astype(np.float32)) ** 2).sum(-1)
    return (dist.argmin(-1) + 1).reshape(array.shape[:2]).astype(np.int32)


def scenes(only: list[str] | None) -> Iterator[tuple[str, ImageData | np.ndarray, np.ndarray, np.ndarray | None,
                                                    np.ndarray | None, int]]:
    """Yield (name, image, strokes, truth 1..N or None, ignore mask or None, N) of each test image."""
    def wanted(name: str) -> bool:
        return only is None or name in only

    if wanted("sample_x3"):
        data = read_image(SAMPLE / "bahamas_landsat.tif")
        strokes = np.array(Image.open(SAMPLE / "bahamas_landsat_strokes.png")).astype(np.int32)
        truth = np.array(Image.open(SAMPLE / "bahamas_landsat_truth.png")).astype(np.int32)
        big = ImageData(array=upscale(data.array, 3), valid=upscale(data.valid, 3, nearest=True))
        truth3 = upscale(truth, 3, nearest=True)
        yield "sample_x3", big, upscale(strokes, 3, nearest=True), truth3, truth3 == 0, 4
    if wanted("ortho") and (SHARED / "images" / "orthomosaic.jpg").exists():
        rgb, _classes, strokes = photo_scene()
        yield "ortho", rgb, strokes, None, None, 4
    if wanted("l7_6band_x4") and (SHARED / "geotiff" / "L7_ETMs.tif").exists():
        data = read_image(SHARED / "geotiff" / "L7_ETMs.tif")
        big = upscale(data.array, 4)
        classes = ndimage.median_filter(kmeans_classes(big, 5), 9)
        yield "l7_6band_x4", big, make_strokes("simulator", classes, 0.01, 0, 1.0), None, None, 5
    doodler = SHARED / "eval" / "doodler_sessions"
    photos = sorted(doodler.glob("*D800*.npz")) if doodler.is_dir() else []
    if wanted("doodler_x2") and photos:
        image, strokes, _label, n = session(photos[0])
        yield "doodler_x2", upscale(image, 2), upscale(strokes, 2, nearest=True), None, None, n
    for folder, stems, factor in (("camvid", ("0016E5_07959", "0016E5_08047"), 3), ("dubai", ("tile1_part005",), 2)):
        for stem in stems:
            name = f"{folder}_{stem}_x{factor}"
            root = SHARED / "eval" / folder
            if not wanted(name) or not (root / "masks" / f"{stem}.png").exists():
                continue
            image = np.array(Image.open(next((root / "images").glob(f"{stem}.*"))).convert("RGB"))
            mask = np.array(Image.open(root / "masks" / f"{stem}.png")).astype(np.int32)
            if folder == "camvid":
                ignore, truth = mask == 11, mask + 1
            else:
                ignore = (mask == 5) | (mask == 255)
                truth = np.where(ignore, 0, mask + 1)
            truth, ignore = upscale(truth, factor, nearest=True), upscale(ignore, factor, nearest=True)
            strokes = make_strokes("simulator", np.where(ignore, 0, truth), 0.01, 0, 1.0)
            yield name, upscale(image, factor), strokes, truth, ignore, int(truth.max())


def edge_band(shape: tuple[int, int], window: int) -> np.ndarray:
    """Return the pixels within EDGE_BAND of an inner edge between two cores of ``window``."""
    band = np.zeros(shape, bool)
    for axis, size in enumerate(shape):
        for edge in range(window, size, window):
            sl = [slice(None), slice(None)]
            sl[axis] = slice(max(0, edge - EDGE_BAND), min(size, edge + EDGE_BAND))
            band[tuple(sl)] = True
    return band


def cpu_seconds() -> float:
    """Return the CPU seconds of this process so far (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def iou(labels: np.ndarray, truth: np.ndarray | None, skip: np.ndarray, n: int) -> str:
    """Return the mean IoU (percent) against truth 1..n, stroke and ignored pixels left out ("-": no truth)."""
    return "-" if truth is None else f"{100 * mean_iou(labels, truth, list(range(1, n + 1)), skip):5.1f}"


def run(image, strokes: np.ndarray, n: int, method: str, window: int, overlap: int, seed: int = 0
        ) -> tuple[np.ndarray, float, int]:
    """Return (labels, CPU s, tiles) of one run (``seed``: of the classifier's draw and forest)."""
    t0 = cpu_seconds()
    inputs.FeatureParams = lambda **kw: dataclasses.replace(FeatureParams(**kw), seed=seed)
    try:
        result = label_image(image, strokes, classes=[f"c{k}" for k in range(1, n + 1)], method=method,
                             window=window, overlap=overlap)
    finally:
        inputs.FeatureParams = FeatureParams
    return result.labels, cpu_seconds() - t0, result.params["tiles"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halos", type=int, nargs="+", default=[128, 96, 64, 48, 40, 32])
    parser.add_argument("--methods", nargs="+", default=["features+crf", "crf"])
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--only", nargs="+", help="image names to run (default: all)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[],
                        help="also run the feature methods at halo 128 with these classifier seeds")
    args = parser.parse_args()
    halos = sorted(set(args.halos) | {128}, reverse=True)
    print(f"{'image':28} {'method':13} {'halo':>5} {'tiles':>5} {'CPU s':>6} {'agree %':>8} "
          f"{'edge %':>7} {'vs 128 %':>8} {'mIoU':>5}")
    for name, image, strokes, truth, ignore, n in scenes(args.only):
        shape = strokes.shape
        band = edge_band(shape, args.window)
        for method in args.methods:
            ref, cpu, tiles = run(image, strokes, n, method, max(shape), 0)
            skip = (ignore if ignore is not None else np.zeros(shape, bool)) | (strokes > 0)
            print(f"{name:28} {method:13} {'one':>5} {tiles:5d} {cpu:6.1f} {'':8} {'':7} {'':8} "
                  f"{iou(ref, truth, skip, n):>5}", flush=True)
            today = None
            seeds = [(h, 0) for h in halos] + [(128, s) for s in args.seeds if method != "crf"]
            for halo, seed in seeds:
                labels, cpu, tiles = run(image, strokes, n, method, args.window, halo, seed)
                today = labels if (halo, seed) == (128, 0) else today
                agree = 100 * (labels == ref).mean()
                edge = 100 * (labels[band] == ref[band]).mean()
                same = 100 * (labels == today).mean()
                row = f"{halo}/s{seed}" if seed else f"{halo}"
                print(f"{name:28} {method:13} {row:>5} {tiles:5d} {cpu:6.1f} {agree:8.2f} {edge:7.2f} {same:8.2f} "
                      f"{iou(labels, truth, skip, n):>5}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
