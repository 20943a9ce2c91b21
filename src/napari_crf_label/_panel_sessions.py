"""The panel's sessions: autosave while painting, save, restore and apply strokes, classes and settings.

A mixin of :class:`~napari_crf_label._widget.CRFLabelWidget`: the panel's
widgets and layer pickers are its own; what is on disk is
:mod:`~napari_crf_label.io.session`'s. An autosave of an earlier session
that was offered and not restored is never replaced: it is kept under a
name of its own (:func:`~napari_crf_label.io.session.keep_earlier_autosave`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QFileDialog

from ._layers import META_KEY, classes_from_layer, image_data_from_layer
from .classes import ClassSet
from .io.session import Session, SessionError, autosave_path, keep_earlier_autosave, load_session, save_session

if TYPE_CHECKING:
    from magicgui.widgets import ComboBox, PushButton
    from napari.layers import Image, Labels
    from qtpy.QtWidgets import QWidget

    from ._panel_state import PanelState
    from .image_io import ImageData

__all__ = ["SessionsMixin"]


class SessionsMixin:
    """Autosave, save, restore and apply sessions of the chosen image (mixed into the panel)."""

    # the panel's, used here
    image_layer: Image | None
    strokes_layer: Labels | None
    restore_button: PushButton
    strokes_picker: ComboBox
    native: QWidget
    _state: PanelState
    _autosave_told: set[Path]  # autosaves the user was told about (the button stays)
    _autosave_mine: set[Path]  # autosaves this panel wrote or restored (others are kept)

    if TYPE_CHECKING:  # the panel's methods, used here
        def params(self) -> dict[str, Any]: ...
        def _apply_params(self, params: dict[str, Any]) -> None: ...
        def _stem(self, image: Image, data: ImageData) -> str: ...
        def set_classes(self, classes: ClassSet) -> Labels | None: ...
        def _update_status(self, message: str = "") -> None: ...
        def _refresh_status(self) -> None: ...
        def _confirm(self, title: str, text: str) -> bool: ...

    def _session(self) -> Session | None:
        """Return the current strokes, classes and parameters as a Session."""
        image, layer = self.image_layer, self.strokes_layer
        if image is None or layer is None:
            return None
        classes = classes_from_layer(layer)
        strokes = np.asarray(layer.data)
        if classes is None:
            n = max(int(strokes.max(initial=0)), 2)
            classes = ClassSet.from_names([f"class{k}" for k in range(1, n + 1)])
        data = image_data_from_layer(image)
        state = self._state.of(image)
        params = {**self.params(), "annotation_seconds": state.clock.seconds}
        shown = image.metadata.get(META_KEY, {}).get("bands")
        if shown is not None:  # the composite the image is shown in comes back with the strokes
            params["bands"] = [int(b) for b in shown]
        if state.walk is not None and state.walk.ask_classes:
            params["guided"] = state.walk.to_dict()  # a guided pass resumes where it stopped
        return Session(strokes=strokes, classes=classes, params=params,
                       image_path=str(data.path) if data.path else "")

    def _autosave_path(self) -> Path | None:
        """Return where the chosen image's strokes are autosaved."""
        image = self.image_layer
        if image is None:
            return None
        data = image_data_from_layer(image)
        key = str(data.path.resolve()) if data.path is not None else image.name
        return autosave_path(key, self._stem(image, data))

    def _earlier_autosave(self) -> Path | None:
        """Return the chosen image's autosave when an earlier session wrote it (not this one), else None."""
        path = self._autosave_path()
        return path if path is not None and path.exists() and path not in self._autosave_mine else None

    def _offer_autosave(self) -> None:
        """Show *Restore autosaved strokes* when the image has an earlier session's autosave and no strokes.

        Not this session's own autosave: erasing every stroke would
        otherwise be answered with "autosaved strokes found" (over the
        error of a run without strokes).
        """
        try:
            path = self._earlier_autosave()
        except RuntimeError:  # the panel was closed before this deferred call
            return
        layer = self.strokes_layer
        painted = layer is not None and bool(np.any(np.asarray(layer.data)))
        offer = path is not None and not painted
        self.restore_button.visible = offer
        if offer and path not in self._autosave_told:  # once: this runs on every change of the layer list
            self._autosave_told.add(path)
            show_info(f"Autosaved strokes found for {self.image_layer.name}: "
                      "click 'Restore autosaved strokes' to resume.")

    def autosave(self) -> Path | None:
        """Save the strokes to the autosave file now."""
        session, path = self._session(), self._autosave_path()
        if session is None or path is None or not session.strokes.any():
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path not in self._autosave_mine and not _holds(session.strokes, path):
                # an earlier session's, not restored, with strokes this one does not hold: kept aside
                kept = keep_earlier_autosave(path)
                # the file's name first: napari's pop-up cut the message after "were kept as" (trial 32)
                show_info(f"Kept {kept.name}: an earlier session's autosave of {self.image_layer.name} (File > "
                          f"Open brings it back, from {kept.parent}); this session autosaves anew.")
            save_session(path, session)
        except OSError as exc:
            show_warning(f"Autosave to {path} failed: {exc}")
            return None
        self._autosave_mine.add(path)
        self.restore_button.visible = False  # what it offered is kept under another name now
        self._refresh_status()  # the last run's "CRF done" stays (trial 28 did not see it)
        return path

    def save_session(self, path: str | Path | None = None) -> Path | None:
        """Save strokes, classes and parameters to ``path`` (asked for if None)."""
        session = self._session()
        if session is None:
            show_error("Choose an image and a strokes layer first.")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.native, "Save session", "", "Session (*_session.npz)")
            if not path:
                return None
        path = Path(path)
        if not path.name.endswith("_session.npz"):
            path = path.with_name(path.name.removesuffix(".npz") + "_session.npz")
            # the dialog asked about the name typed, not this one
            if path.exists() and not self._confirm("Replace file?", f"{path} exists. Replace it?"):
                self._update_status(f"Session not saved; {path.name} kept.")
                return None
        try:
            saved = save_session(path, session)
        except OSError as exc:
            show_error(f"Saving the session failed: {exc}")
            return None
        # trial 29: nothing said the session was saved; the status still told of the last export
        self._update_status(f"Session saved to {saved} (File > Open brings it back).")
        show_info(f"Session saved to {saved}.")
        return saved

    def restore_autosave(self) -> bool:
        """Load the autosaved strokes and classes of the chosen image."""
        path = self._autosave_path()
        if path is None or not path.exists():
            show_error("No autosaved strokes for this image.")
            return False
        try:
            session = load_session(path)
        except SessionError as exc:
            show_error(f"{exc} (the file was kept)")
            return False
        restored = self.apply_session(session)
        if restored:
            self._autosave_mine.add(path)  # its strokes are this session's now: autosaves may replace it
            counts = np.bincount(session.strokes.ravel())[1:]
            # the autosave keeps strokes, not results: trial 34 looked for its last result the next day
            show_info(f"Restored {int(counts.sum())} stroke pixels of {int((counts > 0).sum())} class(es) "
                      f"from {path}; Run CRF makes their result again.")
        return restored

    def apply_session(self, session: Session) -> bool:
        """Put a session's strokes, classes and parameters into the panel and layers."""
        image = self.image_layer
        if image is None:
            show_error("Open the session's image first.")
            return False
        shape = image_data_from_layer(image).shape
        if session.strokes.shape != shape:
            show_error(f"The session's strokes are {session.strokes.shape} but the image is {shape}; "
                       "nothing was loaded.")
            return False
        layer = self.strokes_layer
        if layer is not None and np.asarray(layer.data).shape != session.strokes.shape:
            self.strokes_picker.value = None
        layer = self.set_classes(session.classes)
        if layer is None:
            return False
        layer.data = session.strokes.astype(np.asarray(layer.data).dtype)
        self._apply_params(session.params)
        self.restore_button.visible = False
        self._refresh_status()  # the annotation time carried on (trial 35 read "0 s" until the next run)
        return True


def _holds(strokes: np.ndarray, path: Path) -> bool:
    """Return True when ``strokes`` has every stroke of the session at ``path`` (same class, same pixel).

    Then replacing that autosave loses nothing: this session carries on from
    its strokes (opened from a session file or painted again). Kept aside
    otherwise, as every earlier autosave was, one more file per return to
    the image (trial 29).
    """
    try:
        earlier = load_session(path).strokes
    except (SessionError, OSError, ValueError):
        return False  # unreadable: kept aside, never replaced
    if earlier.shape != strokes.shape:
        return False
    painted = earlier > 0
    return bool(np.array_equal(strokes[painted], earlier[painted]))
