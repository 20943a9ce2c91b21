"""A run's plan: the tile tasks, the settings every task shares, and reading a task's pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..crf import DEFAULT_ENGINE, CRFParams
from ..image_io import apply_stretch
from ..resample import resize_bands
from ..tiling import TileTask, tile_tasks
from .settings import DEFAULT_HALO, DEFAULT_WINDOW, HALO_MIN


@dataclass(frozen=True)
class RunSpec:
    """Everything a tile task needs besides its pixels (small, picklable)."""

    n_classes: int
    params: CRFParams
    scale: float
    stretch: np.ndarray | None
    keep_probabilities: bool = True  # streamed runs only need the labels
    method: str = "crf"
    classifier: Any = None  # a fitted features.PixelClassifier for the feature methods
    #: Classes (1-based) without strokes on this image that samples from other images teach the classifier:
    #: the geodesic proximity leaves them free instead of ruling them out.
    carried: tuple[int, ...] = ()
    engine: str = DEFAULT_ENGINE  # the dense CRF engine (crf.ENGINES)


def crf_size(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """Return the CRF-resolution size of a full-resolution size."""
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def read_tile(source: Any, task: TileTask, spec: RunSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a task's window: (valid mask, strokes) at full resolution and the stretched image at CRF resolution."""
    image, valid, strokes = source.read(task.outer)
    return valid, strokes, resize_bands(apply_stretch(image, valid, spec.stretch), crf_size(task.outer.shape,
                                                                                              spec.scale))


@dataclass
class Plan:
    """Tasks and shared inputs of one run."""

    tasks: list[TileTask]
    spec: RunSpec
    counts: np.ndarray  # stroke pixels per task outer and class, (T, N + 1)
    window: int
    halo: int


def default_halo(params: CRFParams, scale: float) -> int:
    """Return the context read around each core (full-resolution pixels) when the user sets none.

    :data:`DEFAULT_HALO` at CRF resolution for the default appearance kernel
    width, scaled with the width ``params`` use (``sxy_bilateral``), at least
    :data:`HALO_MIN`: a narrower kernel reaches less far across a core's edge.
    """
    crf = max(HALO_MIN, round(DEFAULT_HALO * params.sxy_bilateral / CRFParams.sxy_bilateral))
    return round(crf / scale)


def make_plan(source: Any, n: int, params: CRFParams, scale: float, window: int | None, overlap: int | None,
          stretch: np.ndarray | None, keep_probabilities: bool = True, engine: str = DEFAULT_ENGINE) -> Plan:
    """Cut the scene into tasks and count the strokes each task sees.

    ``params`` are the CRF settings the run uses (its method's: see
    ``inputs.method_crf_params``); without an ``overlap`` the halo follows
    their appearance kernel (:func:`default_halo`).
    """
    height, width = source.shape
    core = max(1, round(DEFAULT_WINDOW / scale)) if window is None else window
    halo = default_halo(params, scale) if overlap is None else overlap
    tasks = tile_tasks(height, width, core, halo)
    counts = source.stroke_counts([t.outer for t in tasks], n)
    return Plan(tasks, RunSpec(n, params, scale, stretch, keep_probabilities, engine=engine), counts, core, halo)
