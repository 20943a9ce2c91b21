"""What the panel remembers per image, found again through napari's viewer proxy.

napari hands a plugin panel a ``PublicOnlyProxy`` of the viewer, which
returns a new wrapper object on every layer access: neither ``id(layer)``
nor ``is`` can tell two accesses to one layer apart. Layers are therefore
keyed and compared by their ``unique_id``, which napari keeps for the
layer's lifetime.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .guided import GuidedWalk
from .pipeline import CRFCache, LabelResult
from .session import AnnotationClock

__all__ = ["ImageState", "PanelState", "ProximityCheck", "layer_key", "same_layer", "find_layer", "unwrap"]

#: An image's runs keep its held-out check's choice until its strokes change by about this factor.
RECHECK_FACTOR = 1.5


@dataclass(frozen=True)
class ProximityCheck:
    """The held-out check's choice for an image (kept or faded), and the strokes and settings it was made on.

    The check scores a few held-out pieces of the strokes; one more short
    stroke can tip it and relabel areas far from the edit (a new user saw a
    pond far from the stroke change class and back). The panel's later runs
    of the image take the choice as made while the strokes are mostly those
    checked (at least 1/:data:`RECHECK_FACTOR` of them still painted as then,
    at most :data:`RECHECK_FACTOR` times as many in all), with the same
    classes, method and reach; otherwise the check runs again.
    """

    choice: str
    painted: np.ndarray  # sorted keys (flat index * 256 + class) of the checked stroke pixels
    settings: tuple[Any, ...]

    @classmethod
    def of(cls, result: LabelResult, strokes: np.ndarray, params: dict[str, Any]) -> ProximityCheck | None:
        """Return the check a run made (None: the run made none, or its strokes gave it nothing to score)."""
        scores = result.params.get("holdout_scores")
        if not scores or any(v is None for v in scores.values()):
            return None
        return cls(str(result.params["proximity"]), _painted(strokes), _check_settings(params))

    def holds_for(self, strokes: np.ndarray, params: dict[str, Any]) -> bool:
        """Return True when a run of ``strokes`` with ``params`` may take this choice without checking again."""
        now = _painted(strokes)
        if _check_settings(params) != self.settings or not np.array_equal(_classes(now), _classes(self.painted)):
            return False
        kept = np.isin(self.painted, now, assume_unique=True).sum()
        return kept * RECHECK_FACTOR >= self.painted.size and now.size <= self.painted.size * RECHECK_FACTOR


def _painted(strokes: np.ndarray) -> np.ndarray:
    """Return the sorted keys (flat index * 256 + class) of the painted pixels of ``strokes``."""
    index = np.flatnonzero(strokes)
    return index.astype(np.int64) * 256 + strokes.ravel()[index].astype(np.int64)


def _classes(painted: np.ndarray) -> np.ndarray:
    """Return the classes of painted-pixel keys (:func:`_painted`), sorted."""
    return np.unique(painted % 256)


def _check_settings(params: dict[str, Any]) -> tuple[Any, ...]:
    """Return the run settings the held-out check's choice depends on."""
    return tuple(params.get(name) for name in ("method", "reach", "proximity"))


def unwrap(obj: Any) -> Any:
    """Return the object behind a napari proxy (the object itself when it is none)."""
    return getattr(obj, "__wrapped__", obj)


def layer_key(layer: Any) -> Hashable:
    """Return a key that identifies ``layer`` whatever wrapper napari handed out."""
    return layer.unique_id


def same_layer(a: Any, b: Any) -> bool:
    """Return True when ``a`` and ``b`` are the same layer (None matches nothing)."""
    return a is not None and b is not None and layer_key(a) == layer_key(b)


def find_layer(layers: Iterable[Any], key: Hashable | None) -> Any:
    """Return the layer whose key is ``key`` among ``layers``, else None."""
    if key is None:
        return None
    return next((unwrap(lay) for lay in layers if layer_key(lay) == key), None)


@dataclass
class ImageState:
    """The built CRFs, annotation clock, last result and its layers (result, preview) of one image."""

    #: Kept between runs: lattices, features, samples, classifier, proximity. No warm start: a re-run
    #: gives exactly a fresh run's labels (a warm start kept a newly painted class out, with any method).
    cache: CRFCache = field(default_factory=CRFCache)
    #: The preview's own CRF, features, classifier and proximity (a smaller grid than the full run's).
    preview: CRFCache = field(default_factory=CRFCache)
    preview_key: Hashable | None = None
    clock: AnnotationClock = field(default_factory=AnnotationClock)
    result: LabelResult | None = None
    result_key: Hashable | None = None
    confidence_key: Hashable | None = None
    #: The shown bands when the result was made (the mres figure shows the same composite).
    bands: tuple[int, ...] | None = None
    #: The guided annotation pass (or review) of this image, and its outline layers' keys.
    walk: GuidedWalk | None = None
    review: GuidedWalk | None = None
    guide_keys: dict[str, Hashable] = field(default_factory=dict)
    #: The held-out check's choice that this image's runs keep (see :class:`ProximityCheck`).
    proximity_check: ProximityCheck | None = None
    #: The last message on strokes that fell on no-data (said once, by a preview or a result).
    dropped_told: str | None = None
    #: The classes without strokes the last warning named (the same ones are not warned about on every run).
    missing_told: tuple[str, ...] = ()


class PanelState:
    """Per-image states and watched strokes layers, keyed by layer ``unique_id``."""

    def __init__(self) -> None:
        self._images: dict[Hashable, ImageState] = {}
        self.watched: set[Hashable] = set()
        self.applied_params: set[Hashable] = set()

    def of(self, image: Any) -> ImageState:
        """Return the state of an image layer (created on first use)."""
        return self._images.setdefault(layer_key(image), ImageState())

    def items(self) -> list[tuple[Hashable, ImageState]]:
        """Return (image layer key, state) of every image with a state."""
        return list(self._images.items())

    def others(self, image: Any) -> list[ImageState]:
        """Return the states of every image but ``image``."""
        return [state for key, state in self._images.items() if key != layer_key(image)]

    def get(self, image: Any) -> ImageState | None:
        """Return the state of an image layer if it has one."""
        return None if image is None else self._images.get(layer_key(image))

    def forget(self, keys: set[Hashable]) -> None:
        """Drop the states of images that left the viewer (their built CRFs hold memory)."""
        for key in list(self._images):
            if key not in keys:
                del self._images[key]
