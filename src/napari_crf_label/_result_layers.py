"""The panel's result layers: a run's preview, its dense labels and their confidence, in the class colours.

A mixin of :class:`~napari_crf_label._widget.CRFLabelWidget`. Layers are
added once per image and re-used across runs (adding a napari layer holds
the window for half a second or more), always under the strokes layer so
that painting goes on where the user was; they are found again by their
``unique_id`` (:mod:`._panel_state`).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_info, show_warning

from ._layers import META_KEY, class_layer_kwargs
from ._panel_state import ImageState, find_layer, layer_key, same_layer, unwrap
from .guided import unmarked_missing
from .image_io import ImageData
from .pipeline import LabelResult
from .pipeline.plan import crf_size
from .pipeline.preview import preview_params

if TYPE_CHECKING:
    import threading

    import napari
    from magicgui.widgets import CheckBox

    from ._guided_panel import GuidedControls
    from ._panel_state import PanelState

__all__ = ["MADE_ROLES", "ResultLayersMixin"]

_RESULT_ROLE = "result"
_PREVIEW_ROLE = "preview"
_WAITING_ROLE = "waiting"  # a run's result or preview layer, added empty while the run computes
#: The roles of the layers the panel makes (they are never offered as an image or strokes layer).
MADE_ROLES = (_RESULT_ROLE, _PREVIEW_ROLE, _WAITING_ROLE)


def _overlay_placement(image: Image, full: tuple[int, int], small: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return the layer (scale, translate) that lays a grid of ``small`` pixels over an image of ``full`` pixels."""
    factor = np.array([full[0] / small[0], full[1] / small[1]])
    scale = np.asarray(image.scale)[-2:] * factor
    return scale, np.asarray(image.translate)[-2:] + np.asarray(image.scale)[-2:] * (factor - 1) / 2


def resolution_words(scale: float) -> str:
    """Return a preview's resolution as a user reads it: "1/4", or "68 %" when it is more than half.

    "1/4.1" read oddly (trial 24); rounded, a 0.68 scale read "1/1", as if the preview were the full
    resolution (trial 31).
    """
    side = 1 / scale
    return f"1/{round(side)}" if side >= 1.95 else f"{scale:.0%}".replace("%", " %")


def _proximity_flip(before: LabelResult | None, after: LabelResult) -> str:
    """Return what to tell when the held-out check chose otherwise than for the last result ("": the same)."""
    was = before.params.get("proximity") if before is not None else None
    now = after.params.get("proximity")
    if was is None or now is None or was == now or "holdout_scores" not in after.params:
        return ""
    # plain words: a new user read the check's own terms as jargon (stop 20's trial)
    told = {"kept": "the nearest painted class (before: the class whose colours they look like)",
            "faded": "the class whose colours they look like (before: the nearest painted class)"}
    return f"Labels far from your edit changed too: unpainted areas now go to {told[now]}."


class ResultLayersMixin:
    """Add, fill, show and hide a run's preview, result and confidence layers (mixed into the panel)."""

    # the panel's, used here
    viewer: napari.viewer.Viewer
    image_layer: Image | None
    strokes_layer: Labels | None
    confidence: CheckBox
    guided: GuidedControls
    worker: Any
    _state: PanelState
    _stop: threading.Event
    _waiting: list[Hashable]  # layers added empty for the running job, not filled yet
    _run_started: float | None
    _live_only: bool

    if TYPE_CHECKING:  # the panel's methods, used here
        def _set_bar(self, fraction: float) -> None: ...
        def _update_status(self, message: str = "") -> None: ...

    def _add_waiting_layers(self, image: Image, data: ImageData, state: ImageState, params: dict[str, Any],
                            full: bool) -> None:
        """Add the run's preview and result layers, hidden and empty, while the run computes.

        Adding a napari layer holds the window for half a second to a second
        (software OpenGL: more); added now, that overlaps the run instead of
        coming after it. They are filled and shown when the run yields, and
        removed if it stops without doing so.
        """
        self._waiting = []
        small = preview_params(data.shape, params)
        wanted = [("preview", crf_size(data.shape, small["scale"]))] if small is not None else []
        wanted += [("labels", data.shape)] if full else []
        for kind, shape in wanted:
            slot = "preview_key" if kind == "preview" else "result_key"
            if find_layer(self.viewer.layers, getattr(state, slot)) is not None:
                continue
            scale, translate = (_overlay_placement(image, data.shape, shape) if kind == "preview"
                                else (image.scale, image.translate))
            layer = unwrap(self.viewer.add_labels(np.zeros(shape, np.uint8), name=f"{image.name} CRF {kind}",
                                                  opacity=0.45, visible=False, scale=scale, translate=translate,
                                                  affine=image.affine.affine_matrix,
                                                  metadata={META_KEY: {"role": _WAITING_ROLE}}))
            setattr(state, slot, layer_key(layer))
            self._waiting.append(layer_key(layer))
            # the preview under the result (when a deleted preview layer comes back), both under the strokes
            self._place_below_strokes(layer, find_layer(self.viewer.layers, state.result_key)
                                      if kind == "preview" else None)
        if self._waiting:
            self._keep_painting()

    def _drop_waiting_layers(self) -> None:
        """Remove the layers added for a run that it never filled (it stopped or failed first)."""
        for key in self._waiting:
            layer = find_layer(self.viewer.layers, key)
            if layer is not None:
                self.viewer.layers.remove(layer.name)
        self._waiting = []

    def show_result(self, image_key: Hashable, data: ImageData, result: LabelResult) -> Image | None:
        """Show the dense labels as the image's result layer (re-used across runs), under the strokes."""
        image = find_layer(self.viewer.layers, image_key)
        if image is None:  # the image was closed while its CRF ran
            return None
        state = self._state.of(image)
        flipped = _proximity_flip(state.result, result)
        state.result = result
        self._set_bar(1.0)
        meta = {META_KEY: {"image": data, "classes": result.classes, "role": _RESULT_ROLE}}
        kwargs = class_layer_kwargs(result.classes)
        layer = find_layer(self.viewer.layers, state.result_key)
        if layer is None:
            layer = unwrap(self.viewer.add_labels(result.labels, name=f"{image.name} CRF labels", opacity=0.45,
                                                  metadata=meta, scale=image.scale, translate=image.translate,
                                                  affine=image.affine.affine_matrix, **kwargs))
            state.result_key = layer_key(layer)
        else:
            layer.data = result.labels
            for key, value in kwargs.items():
                setattr(layer, key, value)
            layer.metadata.update(meta)
        self._filled(layer)
        layer.visible = True
        self._hide_preview(state)
        self._place_below_strokes(layer)
        self._show_confidence(image, state)
        self.guided.offer_after_run(True)
        self.guided.end_if_walked()
        self.guided.points_checked()  # they ringed the last result's doubts: dimmed, to compare
        _tell_dropped(state, result)
        missing = unmarked_missing(result.missing_classes, result.classes.names, state.walk)
        # once per set of classes: trial 34 (15 classes, 5 painted) got the same ten names on every run
        if missing and tuple(missing) != state.missing_told:
            # short: napari's notification cut "absent from the result" to "absent from the r..." (trial 31)
            show_warning(f"No strokes for {', '.join(missing)} (not in the result).")
        state.missing_told = tuple(missing)
        self._keep_painting()
        seconds = self._seconds_from_click(result)
        if flipped:  # else one small stroke changing labels far away is a mystery
            show_info(flipped)
        # until it is used once: 30 clicks there lift a result more than any setting (benchmarks/quality, stop 25)
        hint = "" if self.guided.marked else " Guided annotation > Mark places to check rings where it is least sure."
        self._update_status(f"CRF done in {seconds:.1f} s ({result.params['tiles']} tile(s)).{hint}")
        return image

    def show_preview(self, image_key: Hashable, data: ImageData, result: LabelResult) -> Image | None:
        """Show a run's preview as the image's preview layer (the last result hidden until the full one comes)."""
        image = find_layer(self.viewer.layers, image_key)
        if image is None:
            return None
        state = self._state.of(image)
        meta = {META_KEY: {"classes": result.classes, "role": _PREVIEW_ROLE}}
        kwargs = class_layer_kwargs(result.classes)
        scale, translate = _overlay_placement(image, data.shape, result.labels.shape)
        layer = find_layer(self.viewer.layers, state.preview_key)
        if layer is None:
            layer = unwrap(self.viewer.add_labels(result.labels, name=f"{image.name} CRF preview", opacity=0.45,
                                                  metadata=meta, scale=scale, translate=translate,
                                                  affine=image.affine.affine_matrix, **kwargs))
            state.preview_key = layer_key(layer)
        else:  # the last run's, hidden: adding a layer holds the window for about half a second
            layer.data = result.labels
            layer.scale, layer.translate = scale, translate
            for key, value in kwargs.items():
                setattr(layer, key, value)
            layer.metadata.update(meta)
            layer.visible = True
        self._filled(layer)
        shown = find_layer(self.viewer.layers, state.result_key)
        if shown is not None:  # the old result under the preview would blur what changed
            shown.visible = False
        self._place_below_strokes(layer, shown)  # under the result (hidden now), both under the strokes
        _tell_dropped(state, result)  # a live preview of a big image may be all the user gets
        self._keep_painting()
        seconds = self._seconds_from_click(result)  # as "CRF done in" (the preview's own computing is shorter)
        self._update_status(f"Preview at {resolution_words(result.params['preview_scale'])} resolution in "
                            f"{seconds:.1f} s"
                            + ("; full resolution on its way." if self.worker is not None and
                               not self._stop.is_set() and not self._live_only else "."))
        return image

    def _keep_painting(self) -> None:
        """Make the strokes layer the active one again, so the brush goes on where the user was."""
        if self.strokes_layer is not None:
            self.viewer.layers.selection.active = self.strokes_layer

    def _seconds_from_click(self, result: LabelResult) -> float:
        """Return the seconds since Run was clicked, as the user waited (preview and layer work included)."""
        return result.seconds if self._run_started is None else time.perf_counter() - self._run_started

    def _filled(self, layer: Labels) -> None:
        """Note that a layer added empty for the run now holds what it was added for."""
        self._waiting = [key for key in self._waiting if not same_layer(find_layer(self.viewer.layers, key), layer)]

    def _hide_preview(self, state: ImageState) -> None:
        """Hide an image's preview layer and show its result layer again.

        The preview layer stays (hidden) for the next run's preview: removing
        and adding a layer each held the window for about half a second.
        """
        layer = find_layer(self.viewer.layers, state.preview_key)
        if layer is not None:
            layer.visible = False
        shown = find_layer(self.viewer.layers, state.result_key)
        if shown is not None:
            shown.visible = True

    def _place_below_strokes(self, layer: Any, other: Any = None) -> None:
        """Move a result layer just under the strokes layer (or under ``other``), so the strokes stay on top."""
        strokes = self.strokes_layer if other is None else other
        if strokes is None:
            return
        names = [lay.name for lay in self.viewer.layers]
        here, target = names.index(layer.name), names.index(strokes.name)
        if here > target:
            self.viewer.layers.move(here, target)

    def _confidence_toggled(self, shown: bool) -> None:
        """Add or remove the confidence layer of the chosen image's last result."""
        image = self.image_layer
        state = self._state.get(image)
        if image is not None and state is not None:
            self._show_confidence(image, state)

    def _show_confidence(self, image: Image, state: ImageState) -> None:
        """Show (or remove) the last result's per-pixel confidence: the winning class's probability."""
        layer = find_layer(self.viewer.layers, state.confidence_key)
        if not self.confidence.value or state.result is None:
            if layer is not None:
                self.viewer.layers.remove(layer.name)
            state.confidence_key = None
            return
        probs = state.result.probabilities
        confidence = probs.max(axis=0) if probs.size else np.ones(state.result.labels.shape, np.float32)
        scale, translate = _overlay_placement(image, state.result.labels.shape, confidence.shape)
        # most pixels are near-certain: stretch from the least sure 2 % (at least the uniform 1/N) to 1
        floor = 1.0 / max(len(state.result.classes), 1)
        floor = float(min(max(floor, np.quantile(confidence, 0.02)), 0.99))
        if layer is None:
            # multiplied over the layers below: confident pixels leave them as they are, unsure ones darken
            layer = unwrap(self.viewer.add_image(confidence, name=f"{image.name} CRF confidence", colormap="gray",
                                                 blending="multiplicative", contrast_limits=(floor, 1.0), scale=scale,
                                                 translate=translate, affine=image.affine.affine_matrix,
                                                 metadata={META_KEY: {"role": _RESULT_ROLE}}))
            state.confidence_key = layer_key(layer)
        else:
            layer.data = confidence
            layer.scale, layer.translate = scale, translate
            layer.contrast_limits = (floor, 1.0)
        self._place_below_strokes(layer)
        self._keep_painting()


def _tell_dropped(state: ImageState, result: LabelResult) -> None:
    """Say which strokes fell on no-data, once per change (the worker thread's warnings reach no one)."""
    dropped = result.params.get("dropped_strokes")
    if dropped and dropped != state.dropped_told:
        show_warning(f"Not used: {dropped}.")
    state.dropped_told = dropped
