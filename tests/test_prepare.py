"""Building a run's CRFs and features before any stroke (what the panel does while the user paints)."""

from __future__ import annotations

import numpy as np
import rasterio
from PIL import Image

from napari_crf_label.crf import drain
from napari_crf_label.pipeline import CRFCache, iter_preview, label_image
from napari_crf_label.pipeline.prepare import iter_prepare
from napari_crf_label.pipeline.preview import iter_prepare_preview
from napari_crf_label.sample import sample_files


def bundled_sample() -> tuple[np.ndarray, np.ndarray]:
    """Return the bundled Landsat sample (H, W, 3) and its painted strokes (4 classes)."""
    files = sample_files()
    with rasterio.open(files.image) as src:
        image = src.read().transpose(1, 2, 0)
    return image, np.array(Image.open(files.strokes))


def test_crfs_built_ahead_give_a_fresh_runs_labels_and_the_run_builds_none():
    image, strokes = bundled_sample()
    settings = {"window": 256, "overlap": 32}  # several tiles
    cache = CRFCache()
    assert drain(iter_prepare(image, 4, cache, **settings)) is True
    built = cache.builds
    assert built == len(range(0, image.shape[0], 256)) * len(range(0, image.shape[1], 256))

    kept = label_image(image, strokes, cache=cache, **settings)
    fresh = label_image(image, strokes, **settings)
    np.testing.assert_array_equal(kept.labels, fresh.labels)
    np.testing.assert_array_equal(kept.probabilities, fresh.probabilities)
    assert cache.builds == built and cache.hits == built  # every tile's CRF came from the build ahead
    assert cache.memo_hits >= built  # and so did every tile's features


def test_the_preview_built_ahead_is_the_preview_a_run_shows():
    image, strokes = bundled_sample()
    big, big_strokes = (np.repeat(np.repeat(a, 3, axis=0), 3, axis=1) for a in (image, strokes))  # 2.4 MP
    cache = CRFCache()
    assert drain(iter_prepare_preview(big, 4, {"method": "features+crf"}, cache)) is True
    assert cache.builds == 1
    shown = drain(iter_preview(big, big_strokes, {"proximity": "kept"}, cache))
    fresh = drain(iter_preview(big, big_strokes, {"proximity": "kept"}))
    assert cache.builds == 1 and cache.hits == 1
    np.testing.assert_array_equal(shown.labels, fresh.labels)
    assert shown.params["preview"] is True


def test_nothing_is_built_when_the_cache_could_not_keep_it(monkeypatch):
    image, _ = bundled_sample()
    monkeypatch.setattr("napari_crf_label.pipeline.images.available_memory", lambda: 1_000_000)
    cache = CRFCache()
    assert drain(iter_prepare(image, 4, cache)) is False
    assert cache.builds == 0
    # an image that needs no preview prepares none
    assert drain(iter_prepare_preview(image, 4, {}, CRFCache())) is False
