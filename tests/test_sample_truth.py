"""The bundled sample against its painted ground truth: the demo as a user runs it, scored per pixel."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image
from scipy import ndimage

from napari_crf_label.cli import main
from napari_crf_label.metrics import mean_iou
from napari_crf_label.sample import sample_files

#: Mean IoU the default method reaches on the sample: 68.3 measured (68.0 before stop 14, 63.1 before the held-out
#: stroke check, 60.2 before the texture features and the growing reach, 53.1 before the confidence-faded proximity;
#: README.md).
SAMPLE_MEAN_IOU = 66.0
CLOUD, LAND = 4, 3


def clouds_over_land(truth: np.ndarray, largest: int = 2000) -> np.ndarray:
    """Return the pixels of the truth's small clouds (at most ``largest`` px) that land surrounds (>= 80 %)."""
    comps, _ = ndimage.label(truth == CLOUD)
    out = np.zeros(truth.shape, bool)
    for i, box in enumerate(ndimage.find_objects(comps), start=1):
        box = tuple(slice(max(s.start - 2, 0), s.stop + 2) for s in box)
        region = comps[box] == i
        ring = ndimage.binary_dilation(region, iterations=2) & ~region
        if region.sum() <= largest and (truth[box][ring] == LAND).mean() >= 0.8:
            out[box] |= region
    return out


def test_truth_matches_the_sample():
    files = sample_files()
    truth = np.array(Image.open(files.truth))
    with rasterio.open(files.image) as src:
        image = src.read().transpose(1, 2, 0)
    assert truth.shape == image.shape[:2] and truth.dtype == np.uint8
    assert set(np.unique(truth)) == {0, 1, 2, 3, 4}
    assert (truth == 0).sum() == (image == 0).all(axis=-1).sum()  # no data, and only there
    # clouds are the bright pixels; the many small ones over the island are in the truth
    assert image[truth == CLOUD].min(axis=-1).mean() > 200 > image[(truth > 0) & (truth != CLOUD)].max(axis=-1).mean()
    assert clouds_over_land(truth).sum() > 5000


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """Run ``napari-crf-label demo`` as a user types it; return (its label GeoTIFF's labels, the truth)."""
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "-o", str(out)]) == 0
    with rasterio.open(out / "bahamas_landsat_label.tif") as lab:
        labels = lab.read(1)
    return labels, np.array(Image.open(sample_files().truth))


def test_demo_reaches_its_mean_iou(demo_result):
    labels, truth = demo_result
    score = 100 * mean_iou(labels, truth, [1, 2, 3, 4], truth == 0)
    print(f"bundled sample, default method: mean IoU {score:.1f}")
    assert score >= SAMPLE_MEAN_IOU


@pytest.mark.xfail(strict=True, reason="known gap (benchmarks/quality/RESULTS.md): the default keeps 13 % of the "
                   "small clouds over land; the classifier alone finds 20 % (most are 1-20 px, and its smoothed "
                   "features see bright land there); strict, so this fails once they come out cloud")
def test_demo_labels_the_small_clouds_over_land_as_cloud(demo_result):
    labels, truth = demo_result
    small = clouds_over_land(truth)
    share = float((labels[small] == CLOUD).mean())
    print(f"bundled sample: small clouds over land labelled cloud {100 * share:.0f} %")
    assert share >= 0.5
