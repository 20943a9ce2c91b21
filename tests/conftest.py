"""Shared fixtures: the project's ``../shared/data`` folder and synthetic scenes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("NAPARI_CRF_LABEL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture
def notes():
    """Messages of napari notifications shown during the test."""
    from napari.utils.notifications import notification_manager  # here: the core tests need no napari

    start = len(notification_manager.records)

    class Notes:
        @property
        def messages(self):
            return [n.message for n in notification_manager.records[start:]]

    return Notes()


@pytest.fixture(autouse=True)
def autosave_dir(tmp_path, monkeypatch) -> Path:
    """Keep autosaves of every test in its own temporary folder (never the user's cache)."""
    folder = tmp_path / "autosave"
    monkeypatch.setenv("NAPARI_CRF_LABEL_AUTOSAVE_DIR", str(folder))
    return folder


@pytest.fixture
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when the folder is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared test data not found at {data} (set NAPARI_CRF_LABEL_SHARED to its parent folder)")
    return data


def two_region_scene(height: int = 120, width: int = 200, boundary: int = 90, seed: int = 0):
    """Return (image, truth, strokes): a noisy dark/bright split at column ``boundary``.

    truth is 1 left of the boundary and 2 right of it; strokes are two short
    vertical lines well inside each region.
    """
    rng = np.random.default_rng(seed)
    truth = np.ones((height, width), np.int32)
    truth[:, boundary:] = 2
    image = np.where(truth[..., None] == 1, 60, 180).astype(float) + rng.normal(0, 12, (height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    strokes = np.zeros((height, width), np.int32)
    strokes[height // 4: 3 * height // 4, boundary // 3] = 1
    strokes[height // 4: 3 * height // 4, (boundary + width) // 2 + 10] = 2
    return image, truth, strokes


def exporter_jpeg(path: Path, rgba: np.ndarray, quality: int = 95) -> Path:
    """Write a 4-band JPEG as orthomosaic exporters do: the RGBA samples as they are, with no Adobe marker.

    Pillow writes 4 bands only as Adobe's inverted CMYK (it inverts them and
    adds the marker): given the inverse, it stores the samples themselves,
    and the marker (APP14) is cut out of the bytes.
    """
    from PIL import Image

    Image.fromarray(255 - rgba, mode="CMYK").save(path, quality=quality)
    data = path.read_bytes()
    at = data.index(b"\xff\xee")  # APP14 "Adobe"
    size = int.from_bytes(data[at + 2:at + 4], "big")
    path.write_bytes(data[:at] + data[at + 2 + size:])
    return path
