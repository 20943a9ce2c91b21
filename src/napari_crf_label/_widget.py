"""The dock panel: classes, strokes, Run CRF, export (a magicgui Container).

Its sessions (:mod:`._panel_sessions`) and result layers
(:mod:`._result_layers`) are mixins of their own modules; what its stage
text and bar say is :mod:`._run_progress`'s, which knows nothing of Qt.

A thin layer over the core: it maps napari layers to arrays and buttons to
:func:`~napari_crf_label.pipeline.iter_label_image` (run in a napari
``thread_worker`` so the viewer stays responsive) and
:func:`~napari_crf_label.export.export_all`. napari opens it from the
Plugins menu with a proxy of the viewer, so layers are found again by
their ``unique_id`` (:mod:`._panel_state`), never by identity.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Hashable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject, QSignalBlocker, Qt, QTimer, Signal
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QWidget,
)

from ._ahead import AheadBuilder
from ._band_status import show_band_values
from ._guided_panel import GUIDE_KEYS, GuidedControls
from ._layers import (
    META_KEY,
    band_stack,
    class_layer_kwargs,
    classes_from_layer,
    composite,
    foreign_geotiff,
    image_composites,
    image_data_from_layer,
    reread_layer_data,
    source_path,
    strokes_layer_data,
    strokes_on_data,
)
from ._panel_sessions import SessionsMixin
from ._panel_state import ImageState, PanelState, ProximityCheck, find_layer, layer_key, same_layer, unwrap
from ._project_panel import PROJECT_KEYS, ProjectControls
from ._result_layers import MADE_ROLES, ResultLayersMixin
from ._run_progress import RunProgress
from ._tooltips import CRF_TOOLTIPS, TOOLTIPS
from .bands import saved_bands
from .classes import ClassSet, read_class_files, renamed_colors
from .crf import DEFAULT_ENGINE, ENGINES, CRFParams, drain
from .errors import InputError
from .export import export_all, output_paths
from .features import FeatureParams
from .guided import GuidedWalk
from .image_io import ImageData, inverted_alpha_valid, inverted_rgba_jpeg
from .kernels import prepare, ready
from .pipeline import DEFAULT_METHOD, METHODS, CRFCache, LabelResult, iter_label_image
from .pipeline.preview import LIVE_MAX_PIXELS, iter_preview, preview_params
from .progress import Cancelled, reporting, stop_when

if TYPE_CHECKING:
    import napari

__all__ = ["CRFLabelWidget", "KEYS"]

#: Seconds between autosaves while painting.
AUTOSAVE_SECONDS = 3.0
#: Milliseconds after the last paint event before a live preview starts.
LIVE_DELAY_MS = 400
#: Milliseconds after the last change of a setting before the build ahead starts again for it (one
#: restart for a value typed digit by digit).
SETTINGS_DELAY_MS = 600
#: Least milliseconds between two updates of the run's stage text and bar: with software OpenGL (a
#: remote desktop, Xvfb) Qt redraws the whole window for each, 10-20 ms of CPU that the run needs.
FEEDBACK_MS = 250
#: Least width (pixels) of each of the R, G, B band boxes: a band number and napari's -/+ buttons.
BAND_BOX_WIDTH = 50

#: Key bindings of the panel (none of them is one of napari's own).
KEYS = {"run": "Shift+R", "cancel": "Shift+C", "next_class": "Shift+Down", "previous_class": "Shift+Up"}

_BAR_STEPS = 1000


class _Relay(QObject):
    """Carries stage reports from a worker thread to the panel (queued into the main thread)."""

    stage = Signal(str, float)
    warmed_up = Signal()  # the background compile of the engine and kernels ended
    ahead_done = Signal()  # the background build of the chosen image ended


class _KeepWide(QObject):
    """Keeps a scroll area at least as wide as its body needs, as the body's layout and style change.

    Measured once, before napari's style sheet and a band row or a guided table were shown, the minimum
    fell short of the body's, which then ran past the dock's edge (the 6-band test: 342 against 328 px).
    """

    def __init__(self, scroll: QScrollArea, body: QWidget) -> None:
        super().__init__(scroll)
        self._scroll, self._body = scroll, body
        body.installEventFilter(self)
        self.fit()

    def fit(self) -> None:
        """Set the scroll area's minimum width to the body's minimum plus the scroll bar."""
        scroll = self._scroll
        # the scroll bar as drawn (napari's style sheet widens it past its size hint) and any frame
        extra = max(scroll.verticalScrollBar().sizeHint().width(), scroll.width() - scroll.viewport().width())
        need = self._body.minimumSizeHint().width() + extra
        if need != scroll.minimumWidth():
            scroll.setMinimumWidth(need)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.StyleChange, QEvent.Type.Show):
            self.fit()
        return False


class _Reveal(QObject):
    """Scrolls a scroll area to a section of its body, again while the body's layout settles (up to a second).

    Scrolled to at once, a section that had just grown was shown by its old
    size (trial 36: 2.5 of 15 table rows); one event-loop turn later, a project
    just opened was still settling (trial 37: the status's last line cut).
    """

    SETTLE_SECONDS = 1.0

    def __init__(self, scroll: QScrollArea, body: QWidget) -> None:
        super().__init__(scroll)
        self._scroll = scroll
        self._target: QWidget | None = None
        self._until = 0.0
        body.installEventFilter(self)

    def show(self, widget: QWidget) -> None:
        """Bring ``widget`` into view now and while the layout settles."""
        self._target, self._until = widget, time.monotonic() + self.SETTLE_SECONDS
        QTimer.singleShot(0, self._ensure)

    def _ensure(self) -> None:
        if self._target is None:
            return
        try:
            self._scroll.ensureWidgetVisible(self._target, 0, 0)
        except RuntimeError:  # the panel was closed before this deferred call
            self._target = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if self._target is not None and event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest):
            if time.monotonic() < self._until:
                QTimer.singleShot(0, self._ensure)
            else:
                self._target = None
        return False


class _SaveOnHide(QObject):
    """Autosaves strokes waiting for their autosave when the panel is hidden, as when its window closes.

    The window's close button hides the panel with every layer still there
    (``viewer.close()`` removes the layers first: the panel saves on their
    removal); trial 35 closed within a second of a stroke and lost it.
    """

    def __init__(self, panel: CRFLabelWidget) -> None:
        super().__init__(panel.native)
        self._save = panel.autosave_pending
        panel.native.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Hide:
            self._save()
        return False


def _call_after_undo(layer: Labels, callback: Callable[[Labels], None]) -> None:
    """Call ``callback(layer)`` after each undo and redo of ``layer``.

    napari's Labels emit no paint or data event for them: Ctrl+Z after a
    stroke left the autosave with the stroke undone (trial 34).
    """
    for name in ("undo", "redo"):
        original = getattr(layer, name)

        def wrapped(original: Callable[[], None] = original) -> None:
            original()
            callback(layer)

        setattr(layer, name, wrapped)


def _stop_or_relay(stop: threading.Event, relay: _Relay) -> Callable[[str, float], None]:
    """Return a checkpoint reporter that raises Cancelled once ``stop`` is set, else relays the stage."""

    def reporter(stage: str, fraction: float) -> None:
        if stop.is_set():
            raise Cancelled
        relay.stage.emit(stage, fraction)

    return reporter


def _label_job(data: ImageData, strokes: np.ndarray, classes: ClassSet | None, cache: CRFCache,
               params: dict[str, Any], stop: threading.Event, relay: _Relay, preview: CRFCache | None = None,
               full: bool = True, preview_proximity: str = "kept", after: threading.Thread | None = None
               ) -> Generator[tuple[int, int] | LabelResult, None, LabelResult | None]:
    """Run :func:`iter_label_image`, relaying stage checkpoints and stopping at the first one after ``stop``.

    With a ``preview`` cache, first run the whole-scene preview
    (:func:`~napari_crf_label.pipeline.preview.iter_preview`) and yield its
    LabelResult, so the panel shows it while the full resolution runs (its
    steps do not move the bar). ``full=False`` stops after the preview and
    returns None (the live preview). The preview skips the held-out check
    of the proximity (as long as the rest of a preview): it takes
    ``preview_proximity``, what the image's last full run chose. ``after``
    is the background build of the image's CRFs (:mod:`._ahead`), asked to
    stop: the run waits for its step under way, then uses what it built.
    """
    if after is not None:
        after.join()
    engine = params.get("engine", DEFAULT_ENGINE)
    if not ready(engine):  # numba compiles once per machine; say so, not seem stuck
        relay.stage.emit("preparing the CRF engine (first run only)", 0.0)
        _wait_for_warm_up()  # the panel's background compile, in a child process, fills the disk cache
        prepare(engine)
    previewed = preview is not None and preview_params(data.shape, params) is not None  # small: its own preview
    if previewed:  # before the prior's first report
        relay.stage.emit("preview", 0.0)
    run = iter_label_image(data, strokes, classes=classes, cache=cache, **params) if full else None
    try:
        if run is not None:
            with reporting(_stop_or_relay(stop, relay)):
                next(run)  # checks the inputs and starts the scene prior's thread, which runs beside the preview
        if previewed:
            with reporting(stop_when(stop)):  # a second at most: Cancel is heard at its checkpoints
                shown = drain(iter_preview(data, strokes, {**params, "proximity": preview_proximity}, preview,
                                           classes=classes))
            if shown is not None:
                yield shown
        if run is None:
            return None
        with reporting(_stop_or_relay(stop, relay)):
            return (yield from run)
    finally:
        if run is not None:
            run.close()  # a stopped or failed preview stops the prior's thread too


def _export_job(stop: threading.Event, relay: _Relay, *args: Any, **kwargs: Any) -> dict[str, Path]:
    """Run :func:`export_all`, stopping (and writing nothing) at the first checkpoint after ``stop``."""
    with reporting(_stop_or_relay(stop, relay)):
        return export_all(*args, **kwargs)


#: The background compile started when a panel opened (None: none was needed).
_WARM_UP: threading.Thread | None = None


def _warm_up_engine(done: Callable[[], None]) -> bool:
    """Compile the default engine and the feature kernels in the background when the panel opens.

    numba compiles once per machine (about 15 s, :mod:`~napari_crf_label.kernels`);
    started here, it is usually done before the first *Run CRF*, and a run
    waits for it. Return True when compiling started; ``done`` is then
    called from the waiting thread at the end.
    """
    global _WARM_UP
    if ready(DEFAULT_ENGINE):
        return False
    running = _WARM_UP if _WARM_UP is not None and _WARM_UP.is_alive() else None

    def work() -> None:
        try:
            if running is not None:  # another panel started it: wait for that one rather than compile twice
                running.join()
            else:
                _prepare_all()
        finally:
            done()

    thread = threading.Thread(target=work, name="crf-engine-warm-up", daemon=True)
    if running is None:
        _WARM_UP = thread
    thread.start()
    return True


def _prepare_all() -> None:
    """Compile the default engine and the feature kernels into numba's disk cache, in a child process.

    numba's compiler holds the GIL for seconds at a time: compiling in a
    thread of napari's process froze its window (14-21 s for a click on
    *Start guided annotation*, a new user's trial). A child process
    compiles into the same disk cache, from which this process then loads
    the kernels in about a second. Should the child fail, a run compiles
    in this process as before.
    """
    code = f"from napari_crf_label.kernels import prepare; prepare({DEFAULT_ENGINE!r})"
    try:
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=900, check=False)
    except (OSError, subprocess.SubprocessError):
        pass


def _wait_for_warm_up() -> None:
    """Wait until the panel's background compile, if one runs, has ended (called from a worker thread)."""
    if _WARM_UP is not None and _WARM_UP is not threading.current_thread():
        _WARM_UP.join()


def _taught_method(method: str, taught: bool) -> str:
    """Return the method a run takes when a project's other images taught the classifier (``taught``).

    Their samples need the classifier, so "crf" becomes "features+crf".
    """
    return "features+crf" if taught and method == "crf" else method


def _row(*widgets: Any) -> Container:
    """Return widgets side by side without labels or margins."""
    row = Container(widgets=list(widgets), layout="horizontal", labels=False)
    row.margins = (0, 0, 0, 0)
    return row


def _heading(text: str) -> Label:
    """Return a bold section heading."""
    return Label(value=f"<b>{text}</b>")


class CRFLabelWidget(ResultLayersMixin, SessionsMixin, Container):
    """Dock panel turning strokes on a Labels layer into a dense label layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self.viewer = napari_viewer
        self.worker: Any = None
        self.export_worker: Any = None
        self.last_export: dict[str, Path] | None = None
        self._state = PanelState()
        self._stop = threading.Event()
        self._relay = _Relay()
        self._relay.stage.connect(self._on_stage)
        self._relay.warmed_up.connect(self._warmed_up)
        self._relay.ahead_done.connect(self._background_ended)
        self._warming = False  # the engine compiles in the background (once per installation)
        self._message = ""  # the status line's last message
        self._progress = RunProgress()  # what the stage text and bar say for the running job
        self._bar_owner = object()  # who may empty the bar (see reset_feedback)
        self._refilling = False  # True while the layer pickers and composites are refilled
        self._failed = False  # the running job ended in an error
        self._live_only = False  # the running job is a live preview (no full-resolution result)
        self._waiting: list[Hashable] = []  # layers added empty for the running job, not filled yet
        self._autosave_told: set[Path] = set()  # autosaves the user was told about (the button stays)
        self._autosave_mine: set[Path] = set()  # autosaves this panel wrote or restored (others are kept)
        self._next_text: str | None = None  # the stage text and bar value waiting for their turn (FEEDBACK_MS)
        self._next_bar = 0
        self._feedback_at = 0.0  # time.monotonic() of the last shown update
        self._feedback_timer = QTimer(self.native)
        self._feedback_timer.setSingleShot(True)
        self._feedback_timer.timeout.connect(self._show_feedback)
        self._run_image: Hashable | None = None  # the image the running job labels
        # the classes last shown, and the image they were shown for (None: chosen before any image was open)
        self._last_classes: tuple[str | None, ClassSet] | None = None
        self._fitted_extent: list | None = None  # the world extent of the image the view was last fitted to
        self._autosave_timer = QTimer(self.native)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(int(AUTOSAVE_SECONDS * 1000))
        self._autosave_timer.timeout.connect(self.autosave)
        self._coverage_timer = QTimer(self.native)  # coverage follows painting, at most a few times a second
        self._coverage_timer.setSingleShot(True)
        self._coverage_timer.setInterval(300)
        self._coverage_timer.timeout.connect(lambda: self.guided.show_coverage())
        self._live_timer = QTimer(self.native)  # a live preview starts once painting has paused
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DELAY_MS)
        self._live_timer.timeout.connect(self.live_preview)
        self._ahead = AheadBuilder()  # builds the chosen image's CRFs while the user paints
        self._settings_timer = QTimer(self.native)  # a changed setting restarts that build once typing pauses
        self._settings_timer.setSingleShot(True)
        self._settings_timer.setInterval(SETTINGS_DELAY_MS)
        self._settings_timer.timeout.connect(self._settings_changed)
        ahead = self._ahead  # not self: the panel's Python side may be gone when its window is
        self.native.destroyed.connect(lambda *_: ahead.halt())
        self._save_on_hide = _SaveOnHide(self)
        self._ahead_key: Hashable | None = None  # what it was last started for
        self._run_started: float | None = None  # perf_counter() at the click that started the running job
        self._build()
        self._connect()
        self._bind_keys()
        self._layers_changed()
        self._warming = _warm_up_engine(self._tell("warmed_up"))
        if self._warming:
            self._refresh_status()

    # ----------------------------------------------------------------- layout
    def _build(self) -> None:
        """Create the controls, in four sections."""
        self.image_picker = create_widget(annotation=Image, label="Image", options={"tooltip": TOOLTIPS["image"]})
        self.strokes_picker = create_widget(annotation=Labels, label="Strokes",
                                            options={"nullable": True, "choices": self._stroke_choices,
                                                     "tooltip": TOOLTIPS["strokes"]})
        self.composite = ComboBox(label="Shown bands", choices=self._composite_choices,
                                  tooltip=TOOLTIPS["composite"], visible=False)
        self.band_boxes = [SpinBox(min=1, max=1, value=1, tooltip=f"{TOOLTIPS['bands']} ({c})") for c in "RGB"]
        for box in self.band_boxes:
            # three spin boxes at their natural width widened the panel past the dock, clipping every row's
            # right-hand button (trial 27): they share the row's width instead
            box.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            box.native.setStyleSheet(f"min-width: {BAND_BOX_WIDTH}px")  # napari's style asks 90 px of each
        self.bands_row = _row(*self.band_boxes)
        self.bands_row.label = "R, G, B"
        self.bands_row.visible = False
        for combo in (self.image_picker, self.strokes_picker, self.composite):
            # long layer or composite names are elided instead of widening the dock
            combo.native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.native.setMinimumContentsLength(12)
        layers = Container(widgets=[self.image_picker, self.strokes_picker, self.composite, self.bands_row])
        # offered as an image opens, so beside the image: at the foot of Output it was off screen (trial 25)
        self.restore_button = PushButton(text="Restore autosaved strokes", visible=False, tooltip=TOOLTIPS["restore"])
        image_box = Container(widgets=[layers, self.restore_button], labels=False)

        self.labels_file = FileEdit(label="Labels file", mode="r", filter="*.txt", nullable=True,
                                    tooltip=TOOLTIPS["labels_file"])
        self.colors_file = FileEdit(label="Colors file", mode="r", filter="*.txt", nullable=True,
                                    tooltip=TOOLTIPS["colors_file"])
        self.load_classes_button = PushButton(text="Load class files", tooltip=TOOLTIPS["load_classes"])
        self.class_names = LineEdit(tooltip=TOOLTIPS["class_names"])
        self.class_names.native.setPlaceholderText("or type names: water, sand, vegetation")
        self._names_in_box = ""  # what the panel last put in the names box or applied from it
        self.use_names_button = PushButton(text="Use names", tooltip=TOOLTIPS["use_names"])
        # magicgui has no list with colour swatches: a QListWidget in a magicgui holder
        self.class_list = QListWidget(toolTip=TOOLTIPS["class_list"].format(next=KEYS["next_class"],
                                                                            previous=KEYS["previous_class"]))
        self.class_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.class_list.setMaximumHeight(110)
        holder = Container(labels=False)
        holder.margins = (0, 0, 0, 0)
        holder.native.layout().addWidget(self.class_list)
        files = Container(widgets=[self.labels_file, self.colors_file])
        classes = Container(widgets=[files, self.load_classes_button, _row(self.class_names, self.use_names_button),
                                     holder], labels=False)

        self.method = ComboBox(label="Method", choices=list(METHODS), value=DEFAULT_METHOD, tooltip=TOOLTIPS["method"])
        self.reach = FloatSpinBox(label="Reach", min=1.0, max=100_000.0, step=50.0, value=FeatureParams.reach,
                                  tooltip=TOOLTIPS["reach"])
        self.window = SpinBox(label="Window (0: auto)", min=0, max=100_000, step=256, value=0,
                              tooltip=TOOLTIPS["window"])
        self.overlap = SpinBox(label="Overlap (-1: auto)", min=-1, max=50_000, step=32, value=-1,
                               tooltip=TOOLTIPS["overlap"])
        self.scale = FloatSpinBox(label="Scale", min=0.01, max=1.0, step=0.05, value=1.0, tooltip=TOOLTIPS["scale"])
        self.scale.native.setDecimals(3)
        self.crf_fields: dict[str, SpinBox | FloatSpinBox] = {}
        for name, value in CRFParams().as_dict().items():
            if isinstance(value, int):
                box: SpinBox | FloatSpinBox = SpinBox(label=name, min=1, max=200, value=value)
            elif name == "gt_prob":
                box = FloatSpinBox(label=name, min=0.01, max=0.99, step=0.05, value=value)
            else:
                box = FloatSpinBox(label=name, min=0.0, max=1000.0, step=1.0, value=value)
            box.tooltip = CRF_TOOLTIPS[name]
            self.crf_fields[name] = box
        self.engine = ComboBox(label="engine", choices=list(ENGINES), value=DEFAULT_ENGINE,
                               tooltip=TOOLTIPS["engine"])
        # tiling and the CRF's kernels: seldom changed, and folded away they leave Export on a 1000-pixel screen
        self.advanced = Container(widgets=[self.window, self.overlap, *self.crf_fields.values(), self.engine],
                                  visible=False)
        self.show_advanced = CheckBox(text="Advanced settings (tiles, CRF)", value=False,
                                      tooltip=TOOLTIPS["advanced"])
        self.confidence = CheckBox(text="Show confidence layer", value=False, tooltip=TOOLTIPS["confidence"])
        self.live = CheckBox(text="Live preview", value=False,
                             tooltip=TOOLTIPS["live"].format(mp=LIVE_MAX_PIXELS / 1e6))
        self.run_button = PushButton(text="Run CRF", tooltip=TOOLTIPS["run"].format(key=KEYS["run"]))
        self.cancel_button = PushButton(text="Cancel", enabled=False,
                                        tooltip=TOOLTIPS["cancel"].format(key=KEYS["cancel"]))
        self.progress_bar = ProgressBar(min=0, max=_BAR_STEPS, value=0)
        self.progress_bar.native.setFormat("")
        self.stage_label = Label(value="")
        self.stage_label.native.setWordWrap(True)  # "Preview shown (Run CRF ...)" was cut in a narrow dock
        self.stage_label.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # the run's and the export's messages, right under Export: with the tiling settings folded away and
        # Restore moved up, its first lines show at 1600 x 1000 (trial 23 saw none of it); above Export, a
        # long message pushed Export off screen (trial 24)
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        # a long autosave path must wrap, not widen the dock
        self.status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.native.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        settings = Container(widgets=[self.method, self.reach, self.scale])
        run = Container(widgets=[settings, self.show_advanced, self.advanced, self.confidence, self.live,
                                 _row(self.run_button, self.cancel_button), self.progress_bar, self.stage_label],
                        labels=False)

        self.outdir = FileEdit(label="Output folder", mode="d", nullable=True, tooltip=TOOLTIPS["outdir"])
        # the path on the whole row, named by its placeholder: beside its label and magicgui's "Choose directory"
        # the field was half as wide as the class files' (trial 30)
        self.outdir.choose_btn.text = "Select folder"
        self.outdir.line_edit.native.setPlaceholderText("Output folder")
        self.export_button = PushButton(text="Export", tooltip=TOOLTIPS["export"])
        self.save_session_button = PushButton(text="Save session...", tooltip=TOOLTIPS["save_session"])
        output = Container(widgets=[Container(widgets=[self.outdir], labels=False), _row(self.export_button,
                                                                            self.save_session_button),
                                    self.status], labels=False)

        self.guided = GuidedControls(self)
        self.dataset = ProjectControls(self)
        # what every image needs first (within the default window's height); the walks after
        sections = [_heading("Image"), image_box, _heading("Classes"), classes, _heading("Run"), run,
                    _heading("Output"), output, _heading("Guided annotation"), self.guided,
                    _heading("Dataset project"), self.dataset]
        body = Container(widgets=sections, labels=False)
        self.append(body)
        # napari docks ``.native`` (not magicgui's own scroll area): scroll the body inside it, so the
        # panel fits small screens with every section open
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.native.layout().removeWidget(body.native)
        scroll.setWidget(body.native)
        # no narrower than the body: napari let a new user shrink the dock to 69 px, clipping every button
        self._keep_wide = _KeepWide(scroll, body.native)
        self._reveal = _Reveal(scroll, body.native)
        self.native.layout().addWidget(scroll)
        self.margins = (0, 0, 0, 0)

    def _connect(self) -> None:
        """Wire the controls and the layer list to the panel's actions."""
        self.image_picker.changed.connect(self._image_changed)
        self.strokes_picker.changed.connect(self._strokes_changed)
        # a project image's strokes go into the project as they autosave: its list said "not started" while
        # painted (trial 37)
        self._autosave_timer.timeout.connect(self.dataset.save_current)
        self.composite.changed.connect(self._composite_chosen)
        for box in self.band_boxes:
            box.changed.connect(self._bands_changed)
        self.load_classes_button.changed.connect(self.load_class_files)
        self.use_names_button.changed.connect(self.use_typed_names)
        self.class_list.itemClicked.connect(lambda item: self.choose_class(item.data(Qt.ItemDataRole.UserRole)))
        # the arrow keys too: the highlight moved, the brush did not (trial 32)
        self.class_list.currentItemChanged.connect(
            lambda item, _before: None if item is None else self.choose_class(item.data(Qt.ItemDataRole.UserRole)))
        self.method.changed.connect(lambda m: setattr(self.reach, "enabled", m == "features+crf"))
        self.show_advanced.changed.connect(lambda shown: setattr(self.advanced, "visible", shown))
        self.confidence.changed.connect(self._confidence_toggled)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.export_button.changed.connect(lambda: self.export())
        self.save_session_button.changed.connect(lambda: self.save_session())
        self.restore_button.changed.connect(self.restore_autosave)
        # what the CRFs and features are built with: a change makes the build ahead start again
        for box in (*self.crf_fields.values(), self.scale, self.window, self.overlap, self.method, self.reach,
                    self.engine):
            box.changed.connect(lambda *_: self._settings_timer.start())
        events = self.viewer.layers.events
        # before a layer goes (deleted, or napari closing, which removes every layer): the autosave waits a few
        # seconds after a stroke, and closing napari within them lost the last strokes (trial 34)
        events.removing.connect(lambda *_: self.autosave_pending())
        events.inserted.connect(self._layers_changed)
        events.removed.connect(self._layers_changed)

    def _bind_keys(self) -> None:
        """Register the panel's keys on the viewer (napari's keymap; they do not clash with napari's own)."""
        actions = {"run": lambda v: self.run(), "cancel": lambda v: self.cancel(),
                   "next_class": lambda v: self.step_class(1), "previous_class": lambda v: self.step_class(-1),
                   "guide_next": lambda v: self.guided.step(1), "guide_back": lambda v: self.guided.step(-1),
                   "guide_skip": lambda v: self.guided.skip(), "project_next": lambda v: self.dataset.step(1),
                   "project_previous": lambda v: self.dataset.step(-1)}
        for name, key in {**KEYS, **GUIDE_KEYS, **PROJECT_KEYS}.items():
            self.viewer.bind_key(key, actions[name], overwrite=True)

    # ------------------------------------------------------------- layer lists
    def _stroke_choices(self, widget: Any = None) -> list[tuple[str, Labels]]:
        """Return the Labels layers one can paint strokes on (results and previews excluded)."""
        return [(lay.name, unwrap(lay)) for lay in self.viewer.layers
                if isinstance(unwrap(lay), Labels) and lay.metadata.get(META_KEY, {}).get("role") not in MADE_ROLES]

    def _layers_changed(self, event: Any = None) -> None:
        """Follow layer additions and removals: pick new layers, forget removed images.

        An image the user adds (opens) becomes the chosen one: names typed
        next are meant for it (a new user's names were about to rename the
        classes of the image opened before). Layers the panel adds are not.
        """
        self.reset_choices()
        self._state.forget({layer_key(lay) for lay in self.viewer.layers})
        added = unwrap(getattr(event, "value", None)) if getattr(event, "type", None) == "inserted" else None
        if isinstance(added, Image) and added.metadata.get(META_KEY, {}).get("role") not in MADE_ROLES:
            with self.image_picker.changed.blocked():
                self.image_picker.value = added
        self._image_changed()

    def reset_choices(self, *args: Any) -> None:
        """Refill the layer pickers from the layer list, keeping the chosen layers (a rename included)."""
        pickers = (self.image_picker, self.strokes_picker)
        kept = [(picker, layer_key(picker.value)) for picker in pickers if picker.value is not None]
        self._refilling = True
        try:
            with self.image_picker.changed.blocked(), self.strokes_picker.changed.blocked():
                super().reset_choices(*args)
                for picker, key in kept:
                    again = find_layer([c for c in picker.choices if c is not None], key)
                    if again is not None:
                        picker.value = again
        finally:
            self._refilling = False
        if any(picker.value is None or layer_key(picker.value) != key for picker, key in kept):
            self._image_changed()  # a chosen layer left the viewer

    @property
    def image_layer(self) -> Image | None:
        """The chosen image layer."""
        return self.image_picker.value

    @property
    def strokes_layer(self) -> Labels | None:
        """The chosen strokes layer."""
        return self.strokes_picker.value

    def image_state(self) -> ImageState | None:
        """Return what the panel keeps for the chosen image (built CRFs, clock, last result)."""
        image = self.image_layer
        return None if image is None else self._state.of(image)

    def _image_changed(self, *_: Any) -> None:
        """Pick the image's strokes layer, offer its composites and any autosave."""
        image = self.image_layer
        key = None if image is None else layer_key(image)
        chosen = key != getattr(self, "_shown_image", None)  # another image than before, not a layer change
        if chosen:
            self._shown_image = key
            if self.guided.active:  # the pass belongs to the image it started on
                self.guided.stop()
        if image is None:
            self.composite.visible = self.bands_row.visible = False
            self._update_status()
            return
        reopen = None
        if chosen and band_stack(image):  # napari's reader took its bands for planes
            reopen = self._reopen_band_stack
        elif chosen and foreign_geotiff(image):  # napari's reader dropped its georeferencing and no-data
            reopen = self._reopen_geotiff
        if reopen is not None:  # read again as this plugin's reader reads it, once the open has settled
            QTimer.singleShot(0, lambda: reopen(image))
            self._update_status()
            return
        if chosen:
            self._fix_inverted_alpha(image)
        self._pick_strokes(image)
        if chosen and self.worker is None and self.export_worker is None:
            self.reset_feedback()  # the last run's bar and "Done." belong to the image before
        if chosen:
            self._bring_forward(image)
            self._show_own_outlines(image)
            # napari keeps the view of the image before (trials 35, 36, 40: a corner of the image in view):
            # fitted when its extent differs from the last image chosen
            extent = np.asarray(image.extent.world).round(3).tolist()
            if extent != self._fitted_extent:
                self._fitted_extent = extent
                self.viewer.fit_to_view(layers=[image])
        if chosen and self.strokes_layer is not None:  # the brush paints this image's strokes, not the last's
            self.viewer.layers.selection.active = self.strokes_layer
        self._show_composites(image)
        height, width = image_data_from_layer(image).shape
        self.live.enabled = height * width <= LIVE_MAX_PIXELS  # a bigger image cannot preview within a second
        if not self.live.enabled:
            self.live.value = False
        self._strokes_changed()
        note = ""
        if chosen:
            self.guided.image_changed()
            note = self.dataset.image_changed()
        QTimer.singleShot(0, self._offer_autosave)  # after every layer of a multi-layer open has arrived
        if chosen and self.strokes_layer is None:
            QTimer.singleShot(0, self._carry_classes)  # likewise: a session or project brings its own layer
        # a layer added or removed (a project's draft, after a run on it) is no other image: the run's "CRF done"
        # stays (trials 30 and 33 saw it go)
        if chosen:
            self._update_status(note)
        else:
            self._refresh_status()

    def _bring_forward(self, image: Image) -> None:
        """Put a chosen image and its own layers on top when another image, shown above it, would cover it.

        Trial 36 went back to a scene with the panel's image picker and
        painted its strokes under a photo opened later, without seeing them.
        """
        layers = self.viewer.layers
        names = [lay.name for lay in layers]
        here = names.index(image.name)
        if not any(isinstance(unwrap(lay), Image) and lay.visible for lay in list(layers)[here + 1:]):
            return
        state = self._state.of(image)
        # a project image's draft too (trial 39 finished an image with its draft hidden under a side image)
        keys = (state.result_key, state.preview_key, state.confidence_key, *state.guide_keys.values(),
                *self.dataset.own_keys(image))
        own = [image, self.strokes_layer, *(find_layer(layers, key) for key in keys)]
        moved = sorted({names.index(lay.name) for lay in own if lay is not None and lay.name in names})
        layers.move_multiple(moved, len(layers))

    def _show_own_outlines(self, image: Image) -> None:
        """Show the chosen image's guide outlines and rings, hide other images'.

        Trial 39 saw another image's window outline over a side image, beyond its edge.
        """
        mine = layer_key(image)
        for key, state in self._state.items():
            for guide in state.guide_keys.values():
                layer = find_layer(self.viewer.layers, guide)
                if layer is not None:
                    layer.visible = key == mine

    def _reopen_band_stack(self, image: Image) -> None:
        """Replace a layer of bands shown as planes with the same image read as bands, and say so."""
        if image not in self.viewer.layers or not band_stack(image):
            return  # removed or replaced meanwhile
        rows, cols, bands = image.data.shape
        # sizes as width x height: napari showed ``rows`` planes of ``bands`` columns and ``cols`` rows
        self._replace_image(image, f"its {bands} bands cannot be read as one image",
                            f"napari's own reader opened its {bands} bands as {rows} planes of {bands} x {cols} "
                            f"pixels; it is shown as one image of {bands} bands now")

    def _reopen_geotiff(self, image: Image) -> None:
        """Replace a GeoTIFF's layer from another reader with the image as this plugin reads it, and say so."""
        if image not in self.viewer.layers or not foreign_geotiff(image):
            return  # removed or replaced meanwhile
        self._replace_image(image, "it cannot be read with its georeferencing",
                            "napari's own reader opened it without its georeferencing and no-data mask; it is "
                            "read with them now, so no-data stays unlabelled and Export writes the label GeoTIFF")

    def _replace_image(self, image: Image, failed: str, told: str) -> None:
        """Replace ``image`` by its file as this plugin's reader opens it, in its place; tell the user ``told``."""
        try:
            data, kwargs, _ = reread_layer_data(image)
        except (InputError, OSError, ValueError) as exc:
            show_error(f"{image.name}: {failed}: {exc}")
            return
        index = self.viewer.layers.index(image)
        self.viewer.layers.remove(image)
        self.viewer.add_image(data, **kwargs)
        self.viewer.layers.move(len(self.viewer.layers) - 1, index)
        self.image_picker.value = self.viewer.layers[kwargs["name"]]
        show_info(f"{kwargs['name']}: {told}, as File > Open with Plugin > CRF Label opens it (the file is "
                  "unchanged).")

    def _fix_inverted_alpha(self, image: Image) -> None:
        """Show a 4-band JPEG of RGB and alpha (orthomosaic exporters), which Pillow reads inverted, as it is meant.

        napari's reader takes Pillow's inverted bands as they come: the 4th
        for alpha, so the image shows black and the panel would see it all
        as no data, and the colours as their negative. The layer's data
        (not the file) is inverted back, and the user is told.
        """
        path = getattr(getattr(image, "source", None), "path", None)
        data = image.data
        mark = image.metadata.get(META_KEY, {})
        if mark.get("alpha_repaired") or not (
                isinstance(data, np.ndarray) and data.ndim == 3 and data.shape[-1] == 4 and data.dtype == np.uint8
                and image.rgb and inverted_rgba_jpeg(path)):
            return  # repaired once: choosing the image again must not invert it back (it showed black)
        fixed = 255 - data
        fixed[..., 3] = np.where(inverted_alpha_valid(data[..., 3]), 255, 0)
        image.data = fixed
        image.metadata[META_KEY] = {**mark, "alpha_repaired": True}
        show_info(f"{image.name}: a 4-band JPEG of colour and transparency (as orthomosaic exporters write it), "
                  "which napari read as inverted CMYK and showed black; it is shown as it is meant now "
                  "(the file is unchanged).")

    def _pick_strokes(self, image: Image) -> None:
        """Choose the image's own strokes layer, else keep a choice that fits it, else one that does (or none).

        A layer fits an image of its size unless it is another image's own
        strokes layer (``<other image> strokes``): with none chosen, *Use
        names* makes the image its own layer. The same file opened twice
        (a session opened while its image was open: ``scene`` and
        ``scene [1]``) is one image.
        """
        choices = self._stroke_choices()
        wanted = next((lay for name, lay in choices if name == f"{image.name} strokes"), None)
        if wanted is None:
            shape = image_data_from_layer(image).shape
            path = source_path(image)
            others = {f"{lay.name} strokes" for lay in self.viewer.layers
                      if isinstance(unwrap(lay), Image) and lay.name != image.name
                      and (path is None or source_path(lay) != path)}
            fits = [lay for name, lay in choices if np.shape(lay.data)[-2:] == shape and name not in others]
            current = self.strokes_layer
            wanted = current if any(same_layer(current, lay) for lay in fits) else next(iter(fits), None)
            if wanted is None and current is not None:
                self.strokes_picker.value = None
                return
        if wanted is not None and not same_layer(wanted, self.strokes_layer):
            self.strokes_picker.value = wanted

    def _strokes_changed(self, *_: Any) -> None:
        """Show the classes of the chosen strokes layer, watch it for edits, take a session's settings."""
        self._show_typed_names()
        layer = self.strokes_layer
        if layer is None:
            self._show_classes(None)
            return
        classes = classes_from_layer(layer)
        self._show_classes(classes)
        if classes is not None and self.image_layer is not None:
            self._last_classes = (self.image_layer.name, classes)
        key = layer_key(layer)
        if key not in self._state.watched:
            self._state.watched.add(key)
            layer.events.paint.connect(self._on_paint)
            layer.events.data.connect(self._on_paint)
            _call_after_undo(layer, lambda undone: self._on_paint(SimpleNamespace(source=undone)))
            layer.events.selected_label.connect(self._brush_label_changed)
            show_band_values(layer, self._image_data)
        params = layer.metadata.get(META_KEY, {}).get("params")
        if params and key not in self._state.applied_params:
            self._state.applied_params.add(key)
            self._apply_params(params)
        self.prepare_ahead()

    def _carry_classes(self) -> None:
        """Give the chosen image, still without strokes, the classes last used on another image.

        A survey's images share their classes: trials 35 and 36 loaded the
        class files again for each image. Not when the image has an
        earlier session's autosave to restore (it brings its own classes).
        """
        try:
            image, layer, earlier = self.image_layer, self.strokes_layer, self._earlier_autosave()
        except RuntimeError:  # the panel was closed before this deferred call
            return
        if image is None or layer is not None or self._last_classes is None or earlier is not None:
            return
        source, classes = self._last_classes
        if source == image.name or self.set_classes(classes) is None:
            return
        given = "The classes chosen" if source is None else f"Classes of {source}"
        told = f"{given} given to {image.name}: load or type others to change them."
        self._update_status(f"{self._message} {told}" if self._message else told)  # after the reach's note

    def classes_in_hand(self) -> ClassSet | None:
        """Return the chosen strokes layer's classes, else those chosen before any image was open (or None)."""
        layer = self.strokes_layer
        if layer is not None:
            return classes_from_layer(layer)
        if self._last_classes is not None and self._last_classes[0] is None:
            return self._last_classes[1]
        return None

    def _apply_chosen_classes(self, classes: ClassSet) -> bool:
        """Apply classes the user loaded or typed (kept for the next image when none is open); return success."""
        if self.image_layer is None:
            self._hold_classes(classes)
            return True
        if self.set_classes(classes) is None:
            return False
        self._update_status()  # not "Classes of ... given to ..." (trial 40 read it after typing its own)
        return True

    def _hold_classes(self, classes: ClassSet) -> None:
        """Keep classes chosen with no image open for the next image or project (trial 37 was told to open one)."""
        self._last_classes = (None, classes)
        self._show_classes(classes)
        self._update_status("Classes kept: the next image you open, or a folder opened as a project, gets them.")

    def _image_data(self) -> ImageData | None:
        """Return the chosen image's full data (for the status bar), or None."""
        image = self.image_layer
        return None if image is None else image_data_from_layer(image)

    # ----------------------------------------------------------------- bands
    def _show_composites(self, image: Image) -> None:
        """Offer the image's composites and band choices when it has other than 1 or 3 bands or band metadata."""
        data = image_data_from_layer(image)
        n_bands = data.array.shape[2]
        offered = image_composites(data)
        shown = tuple(image.metadata.get(META_KEY, {}).get("bands", offered[0][1]))
        if META_KEY in image.metadata and layer_key(image) not in self._state.watched:
            self._state.watched.add(layer_key(image))  # shown values are stretched: report the file's
            show_band_values(image, self._image_data)
        multi = META_KEY in image.metadata and len(offered) > 1
        self.composite.visible = self.bands_row.visible = multi
        if not multi:
            return
        with self.composite.changed.blocked():
            self.composite.reset_choices()
            self.composite.value = shown if shown in [b for _, b in offered] else ()
        self._fill_band_boxes(shown, n_bands)

    def _fill_band_boxes(self, bands: tuple[int, ...], n_bands: int | None = None) -> None:
        """Put ``bands`` (0-based; one band fills all three) into the R, G, B boxes without showing them yet.

        ``n_bands``: the boxes' new maximum (another image), set first.
        """
        for box, band in zip(self.band_boxes, (*bands, *bands, *bands)[:3]):
            with box.changed.blocked():
                if n_bands is not None:
                    box.max = n_bands
                box.value = band + 1

    def _composite_choices(self, widget: Any = None) -> list[tuple[str, tuple[int, ...]]]:
        """Return the composites offered for the chosen image (none for images not read by this plugin)."""
        image = self.image_picker.value if hasattr(self, "image_picker") else None
        if image is None or META_KEY not in image.metadata:
            return []
        return [*image_composites(image_data_from_layer(image)), ("custom: the R, G, B boxes", ())]

    def _composite_chosen(self, bands: tuple[int, ...] | None) -> None:
        """Show a preset composite (the user's choice; refills of the list when layers change are ignored)."""
        if self.composite.native.isHidden() or bands is None or self._refilling:
            return
        if not bands:  # "custom": the boxes say which bands
            self._bands_changed()
            return
        self._fill_band_boxes(bands)
        self._show_bands(tuple(bands))

    def _bands_changed(self, *_: Any) -> None:
        """Show the bands typed in the R, G, B boxes."""
        bands = tuple(box.value - 1 for box in self.band_boxes)
        with self.composite.changed.blocked():
            self.composite.value = bands if bands in self.composite.choices else ()
        self._show_bands(bands)

    def _show_bands(self, bands: tuple[int, ...]) -> None:
        """Show ``bands`` of the chosen multi-band image as its picture."""
        image = self.image_layer
        if image is None or META_KEY not in image.metadata:
            return
        picture = composite(image.metadata[META_KEY]["image"], bands)
        if picture.ndim != np.asarray(image.data).ndim:
            show_info("Open the image again to switch between grey and colour display.")
            return
        image.data = picture
        image.metadata[META_KEY]["bands"] = bands

    # ----------------------------------------------------------------- classes
    def _show_classes(self, classes: ClassSet | None) -> None:
        """List classes with their colour swatches."""
        with QSignalBlocker(self.class_list):  # a list being made is no choice of class
            self.class_list.clear()
            if classes is None:
                return
            for k, (name, rgb) in enumerate(zip(classes.names, classes.rgb_uint8()), start=1):
                pix = QPixmap(14, 14)
                pix.fill(QColor(*map(int, rgb)))
                item = QListWidgetItem(QIcon(pix), f"{k}  {name}")
                item.setData(Qt.ItemDataRole.UserRole, k)
                self.class_list.addItem(item)
            layer = self.strokes_layer  # the list shows the brush label
            if layer is not None and 1 <= int(layer.selected_label) <= len(classes):
                self.class_list.setCurrentRow(int(layer.selected_label) - 1)

    def _show_typed_names(self) -> None:
        """Put the chosen strokes layer's class names in the names box, unless it holds names typed and not used.

        The box showed the previous image's names after another image was
        chosen (trial 23); names a user typed for the image about to be
        opened are kept. A session's strokes layer, arriving after its
        image, fills the box too.
        """
        typed = self.class_names.value.strip()
        if typed and typed != self._names_in_box:
            return
        layer = self.strokes_layer
        classes = None if layer is None else classes_from_layer(layer)
        self._names_in_box = "" if classes is None else ", ".join(classes.names)
        self.class_names.value = self._names_in_box

    def choose_class(self, label: int) -> None:
        """Make class ``label`` (1-based) the brush label, highlight it in the list, switch to painting."""
        layer = self.strokes_layer
        if layer is None:
            return
        self.class_list.setCurrentRow(int(label) - 1)
        layer.selected_label = int(label)
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer

    def _brush_label_changed(self, event: Any = None) -> None:
        """Highlight the brush's class in the list when napari's own label control changed it."""
        layer = self.strokes_layer
        if layer is None or not same_layer(getattr(event, "source", None), layer):
            return
        row = int(layer.selected_label) - 1
        if 0 <= row < self.class_list.count() and row != self.class_list.currentRow():
            with QSignalBlocker(self.class_list):  # the brush has its class already
                self.class_list.setCurrentRow(row)

    def step_class(self, step: int) -> None:
        """Make the next (``step`` = 1) or previous (-1) class the brush label."""
        layer = self.strokes_layer
        classes = None if layer is None else classes_from_layer(layer)
        if layer is not None and classes is not None:
            self.choose_class((int(layer.selected_label) - 1 + step) % len(classes) + 1)

    def load_class_files(self) -> ClassSet | None:
        """Read the labels and colors files and apply the classes."""
        labels, colors = self.labels_file.value, self.colors_file.value
        if labels is None:
            show_error("Choose a labels file first (one class name a line).")
            return None
        try:
            classes = read_class_files(labels, colors)
        except InputError as exc:
            show_error(str(exc))
            return None
        return classes if self._apply_chosen_classes(classes) else None

    def use_typed_names(self) -> ClassSet | None:
        """Apply the class names typed in the text field."""
        try:
            classes = ClassSet.from_names(self.class_names.value)
            old = None if self.strokes_layer is None else classes_from_layer(self.strokes_layer)
            if old is not None:  # classes keep their colours when only their names change
                painted = {int(k) for k in np.unique(np.asarray(self.strokes_layer.data)) if k > 0}
                classes = ClassSet.from_names(classes.names,
                                              renamed_colors(old.names, old.colors, classes.names, painted))
        except InputError as exc:
            show_error(str(exc))
            return None
        if not self._apply_chosen_classes(classes):
            return None
        self._names_in_box = self.class_names.value.strip()  # used: the next image may replace them
        return classes

    def set_classes(self, classes: ClassSet) -> Labels | None:
        """Colour the strokes layer by ``classes``, creating it for the image if needed.

        Painted strokes keep their numbers; when that would give painted
        classes new names, the user is asked first.
        """
        image = self.image_layer
        if image is None:
            show_error("Open an image first.")
            return None
        layer = self.strokes_layer
        if layer is not None:
            if not self._may_rename(layer, classes):
                return None
            for key, value in class_layer_kwargs(classes).items():
                setattr(layer, key, value)
            layer.metadata.setdefault(META_KEY, {})["classes"] = classes
        else:
            shape = image_data_from_layer(image).shape
            data, kwargs, _ = strokes_layer_data(np.zeros(shape, np.uint8), classes, f"{image.name} strokes",
                                                 scale=image.scale, translate=image.translate,
                                                 affine=image.affine.affine_matrix)
            layer = unwrap(self.viewer.add_labels(data, **kwargs))
            self.reset_choices()
            self.strokes_picker.value = layer
        layer.selected_label = 1
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer
        self._show_classes(classes)
        self._show_typed_names()  # classes loaded from files or a restored session, into an existing layer too
        self.prepare_ahead()
        return layer

    def _may_rename(self, layer: Labels, classes: ClassSet) -> bool:
        """Return whether new classes may be applied to a painted layer (asking before renaming classes)."""
        painted = np.unique(np.asarray(layer.data))
        painted = painted[painted > 0]
        if painted.size and int(painted.max()) > len(classes):
            message = (f"The strokes use class {int(painted.max())} but only {len(classes)} classes were given: "
                       f"give at least {int(painted.max())} classes, or erase the strokes of the others first. "
                       "Nothing was changed.")
            show_error(message)
            self._update_status(message)
            return False
        old = classes_from_layer(layer)
        renamed = [f"{k}: {old.names[k - 1]} -> {classes.names[k - 1]}" for k in map(int, painted)
                   if old is not None and k <= len(old) and old.names[k - 1] != classes.names[k - 1]]
        if renamed and not self._confirm("Rename painted classes?",
                                         "Painted strokes would change class name:\n" + "\n".join(renamed)):
            show_info("Classes left unchanged.")
            return False
        return True

    # --------------------------------------------------------------------- run
    def params(self) -> dict[str, Any]:
        """Return the label_image keywords set in the panel."""
        kw: dict[str, Any] = {name: box.value for name, box in self.crf_fields.items()}
        kw["scale"] = float(self.scale.value)
        kw["window"] = self.window.value or None
        kw["overlap"] = None if self.overlap.value < 0 else self.overlap.value
        kw["method"] = self.method.value
        kw["reach"] = float(self.reach.value)
        kw["engine"] = self.engine.value
        return kw

    def _apply_params(self, params: dict[str, Any]) -> None:
        """Set the panel's controls from saved run parameters (a session's)."""
        for name, box in self.crf_fields.items():
            if name in params:
                box.value = params[name]
        if "scale" in params:
            self.scale.value = params["scale"]
        if params.get("method") in METHODS:
            self.method.value = params["method"]
        if params.get("engine") in ENGINES:
            self.engine.value = params["engine"]
        if "reach" in params:
            self.reach.value = params["reach"]
        if "window" in params:
            self.window.value = params["window"] or 0
        if "overlap" in params:
            self.overlap.value = -1 if params["overlap"] is None else params["overlap"]
        image = self.image_layer
        if image is not None and params.get("annotation_seconds"):
            self._state.of(image).clock.seconds = float(params["annotation_seconds"])
        if image is not None and params.get("guided"):
            try:
                self._state.of(image).walk = GuidedWalk.from_dict(params["guided"])
                self.guided.image_changed()  # its table and outlines at once (trial 36 saw them after a run)
            except ValueError as exc:
                show_warning(f"The saved guided annotation pass was not restored: {exc}")
        self._apply_bands(params.get("bands"))

    def _apply_bands(self, bands: Any) -> None:
        """Show a session's bands again (trial 34 chose SWIR, NIR, red, and found natural colour next day)."""
        image = self.image_layer
        if not bands or image is None or META_KEY not in image.metadata or self.composite.native.isHidden():
            return
        shown = saved_bands(bands, image_data_from_layer(image).array.shape[2])
        if shown is None:
            return  # a session of another image's bands: the image stays as it is shown
        self._fill_band_boxes(shown)
        self._bands_changed()

    def _run_params(self, image: Image) -> dict[str, Any]:
        """Return the keywords a run on ``image`` takes: the panel's, and what its project taught."""
        params = self.params()
        samples = self.dataset.samples_for(image)
        if samples is not None:  # what the project's other images taught the classifier
            params["samples"] = samples
            params["method"] = _taught_method(params["method"], True)
        return params

    def _settings_changed(self) -> None:
        """Build ahead for the new settings, and say whether the result shown was made with others."""
        self.prepare_ahead()
        self._refresh_status()

    def _stale_settings(self) -> list[str]:
        """Return the settings that differ from those the chosen image's result was made with."""
        image = self.image_layer
        state = self._state.get(image)
        if image is None or state is None or state.result is None:
            return []
        used, now = state.result.params, self.params()  # not _run_params: it reads the project's samples file
        now["method"] = _taught_method(now["method"], self.dataset.current(image) is not None)
        return [name for name, value in now.items() if name in used and used[name] != value]

    def prepare_ahead(self) -> None:
        """Start building the chosen image's CRFs and features in the background (see :mod:`._ahead`).

        Needs the image, its strokes layer and its classes; a run going on
        has them built already. Only for images that can be labelled
        interactively (those with a live preview): a larger one would take
        gigabytes for a run that takes minutes anyway. What was built for
        another image without a run on it is dropped.
        """
        image, layer = self.image_layer, self.strokes_layer
        classes = None if layer is None else classes_from_layer(layer)
        if image is None or classes is None or self.worker is not None:
            return
        data = image_data_from_layer(image)
        if data.shape[0] * data.shape[1] > LIVE_MAX_PIXELS:
            return
        params = self._run_params(image)
        key = (layer_key(image), len(classes), tuple(sorted((k, repr(v)) for k, v in params.items()
                                                            if k != "samples")))
        if key == self._ahead_key and (self._ahead.busy or self._ahead.outcome == "prepared"):
            return  # layers come and go (results, previews): the build need not start again
        self._ahead_key = key
        unused = [cache for other in self._state.others(image) if other.result is None
                  for cache in (other.cache, other.preview)]
        self._ahead.start(data, len(classes), params, self._state.of(image), _wait_for_warm_up, unused,
                          self._tell("ahead_done"))
        self._refresh_status()

    def run(self) -> Any:
        """Start the CRF on the chosen image and strokes in a worker thread; return the worker.

        On an image larger than a preview, the run first shows a whole-scene
        preview at reduced resolution (the ``<image> CRF preview`` layer),
        then the full result replaces it.
        """
        return self._start_run(full=True)

    def live_preview(self) -> Any:
        """Show a preview of the chosen image's labels from the current strokes (Live mode); return the worker.

        A run already going on is left alone: the preview is tried again
        once painting pauses after it.
        """
        if not self.live.value or not self.live.enabled:
            return None
        if self.worker is not None or self.export_worker is not None:
            self._live_timer.start()  # retry when the current job has had time to end
            return None
        return self._start_run(full=False)

    def _start_run(self, full: bool) -> Any:
        """Start a run (``full``) or a live preview only in a worker thread; return the worker."""
        if self.worker is not None:
            show_info("A CRF run is already going on.")
            return None
        image, strokes_layer = self.image_layer, self.strokes_layer
        if image is None or strokes_layer is None:
            show_error("Choose an image and a strokes layer (load or type classes to create one).")
            return None
        data = image_data_from_layer(image)
        strokes = np.array(strokes_layer.data, copy=True)
        state = self._state.of(image)
        state.bands = image.metadata.get(META_KEY, {}).get("bands")
        self.guided.highlight_empty()
        params = self._run_params(image)
        self._stop = threading.Event()  # the run's own: a cancelled run's threads stay stopped whatever comes next
        if not full and preview_params(data.shape, params) is None:
            full = True  # an image no larger than a preview is its own preview: the live run is a full run
        check = state.proximity_check
        run_params = params
        if check is not None and check.holds_for(strokes, params):  # one edit must not relabel far areas
            run_params = {**params, "proximity": check.choice}
        preview = state.preview  # every run shows a preview first (and so keeps its cache warm for the next)
        self._live_only, self._run_image = not full, layer_key(image)
        last = state.result.params.get("proximity", "kept") if state.result is not None else "kept"
        self.worker = create_worker(_label_job, data, strokes, classes_from_layer(strokes_layer), state.cache,
                                    run_params, self._stop, self._relay, preview, full, last, self._ahead.halt(),
                                    _start_thread=False, _ignore_errors=True)
        image_key = layer_key(image)
        self.worker.yielded.connect(lambda step: self._on_yielded(image_key, data, step))
        self.worker.returned.connect(lambda result: self._on_result(image_key, data, result, strokes, params))
        self.worker.errored.connect(self._on_error)
        self.worker.aborted.connect(self._on_cancelled)
        self.worker.finished.connect(self._on_finished)
        self._start_feedback("Starting..." if full else "Live preview...")
        self._run_started = time.perf_counter()
        self.worker.start()
        self._add_waiting_layers(image, data, state, params, full)
        return self.worker

    def cancel(self) -> None:
        """Stop the running CRF or export at its next step (well within a second); nothing is changed."""
        worker = self.worker or self.export_worker
        if worker is None:
            return
        self._stop.set()
        if worker is self.worker:
            worker.quit()
        self.cancel_button.enabled = False
        self._drop_feedback()
        self.stage_label.value = "Cancelling..."

    def _start_feedback(self, text: str, exporting: bool = False) -> None:
        """Reset the progress bar and show the Cancel button for a new run or export.

        The bar is the panel's own: napari's activity entry animates its
        indicator all along, which with software OpenGL (a remote desktop,
        Xvfb) redraws the window about 20 times a second, 0.3 s of CPU per
        second that the run needs.
        """
        self.run_button.enabled = False
        self.export_button.enabled = False
        self.cancel_button.enabled = True
        self._progress = RunProgress(exporting)
        self._bar_owner = object()  # the bar is this job's now
        self._drop_feedback()
        self._next_bar, self._feedback_at = 0, 0.0  # the run's first report shows at once
        self.progress_bar.value = 0
        self.progress_bar.native.setFormat("%p% in all")
        self.stage_label.value = text

    def _on_yielded(self, image_key: Hashable, data: ImageData, step: Any) -> None:
        """Show a preview the run yielded, or record its tile progress."""
        if isinstance(step, LabelResult):
            self.show_preview(image_key, data, step)
        else:
            self._on_tiles(step)

    def _on_tiles(self, step: tuple[int, int]) -> None:
        """Record tiles done / total (stages inside a tile move the bar between them)."""
        bar = self._progress.on_tiles(*step)
        if bar is not None:
            self._set_bar(bar)

    def _on_stage(self, stage: str, fraction: float) -> None:
        """Name the stage a job reports and move the bar, as :class:`RunProgress` decides."""
        if self._stop.is_set():
            return
        shown = self._progress.on_stage(stage, fraction)
        if shown is None:
            return
        text, bar = shown  # shown with the bar, at most every FEEDBACK_MS
        if text is not None:
            self._next_text = text
        if bar is None:
            self._feedback_soon()
        else:
            self._set_bar(bar)

    def _set_bar(self, fraction: float) -> None:
        """Move the panel's bar to ``fraction`` (never backwards), soon."""
        self._next_bar = max(self._next_bar, int(round(min(max(fraction, 0.0), 1.0) * _BAR_STEPS)))
        self._feedback_soon()

    def _feedback_soon(self) -> None:
        """Show the waiting stage text and bar now if the last update is FEEDBACK_MS old, else when it is."""
        wait = FEEDBACK_MS - (time.monotonic() - self._feedback_at) * 1000
        if wait <= 0:
            self._show_feedback()
        elif not self._feedback_timer.isActive():
            self._feedback_timer.start(int(wait) + 1)

    def _show_feedback(self) -> None:
        """Show the waiting stage text and bar value."""
        self._feedback_at = time.monotonic()
        if self._next_text is not None:
            self.stage_label.value, self._next_text = self._next_text, None
        if self._next_bar > self.progress_bar.value:
            self.progress_bar.value = self._next_bar

    def _drop_feedback(self) -> None:
        """Forget the stage text waiting to be shown (the run ended or is being stopped)."""
        self._feedback_timer.stop()
        self._next_text = None

    def _on_result(self, image_key: Hashable, data: ImageData, result: LabelResult | None, strokes: np.ndarray,
                   params: dict[str, Any]) -> None:
        """Show a run's result and keep it in the project of a project image (None: a live preview's end).

        A run that made the held-out check leaves its choice for the image's
        next runs (``strokes`` and ``params`` are the run's, before the panel
        chose the proximity for it).
        """
        if result is None:
            return
        image = self.show_result(image_key, data, result)
        if image is None:
            return
        check = ProximityCheck.of(result, strokes, params)
        if check is not None:
            self._state.of(image).proximity_check = check
        self.dataset.on_result(image, data, result, strokes)

    def reset_feedback(self) -> None:
        """Clear the run's progress and messages (another image was opened)."""
        self._drop_feedback()
        self._next_bar = 0
        # the bar once the new image's layers are drawn: emptied while napari drew them, it crashed napari in
        # Mesa's glDrawArrays (trial 30: 11 of 13 walks through a project's GeoTIFF scenes, at the image after
        # one showing its kept result)
        self._bar_owner = owner = object()  # a job started before it runs keeps its bar
        QTimer.singleShot(0, lambda: self._empty_bar(owner))
        self.stage_label.value = ""
        state = self.image_state()
        self.guided.offer_after_run(state is not None and state.result is not None)
        self._update_status()

    def _empty_bar(self, owner: object) -> None:
        """Empty the progress bar, unless a job started since ``owner`` was handed out (or the panel was closed)."""
        if owner is not self._bar_owner:
            return
        try:
            self.progress_bar.value = 0
            self.progress_bar.native.setFormat("")
        except RuntimeError:  # the panel was closed: its Qt widgets are gone
            pass

    def _on_error(self, exc: Exception) -> None:
        """Report a failed run or export as a plain notification."""
        if isinstance(exc, Cancelled):
            self._on_cancelled()
            return
        self._failed = True
        what = "Export failed" if self.export_worker is not None else "CRF run failed"
        show_error(str(exc) if isinstance(exc, InputError) else f"{what}: {exc}")

    def _on_cancelled(self) -> None:
        """Say that the run or export stopped without changing anything."""
        if self.export_worker is not None:
            show_info("Export cancelled; nothing was written.")
        else:
            show_info("CRF run cancelled; no layer or file was changed.")

    def _on_finished(self) -> None:
        """Reset the buttons and progress after any end of a run or export."""
        self.worker = None
        self.export_worker = None
        self.run_button.enabled = True
        self.export_button.enabled = True
        self.cancel_button.enabled = False
        stopped = self._stop.is_set() or self._failed
        self._drop_feedback()
        if not stopped:
            self._show_feedback()  # the bar's last value; the text is the run's end
        self.stage_label.value = ("Cancelled." if self._stop.is_set() else
                                  "Failed: see the message; nothing was changed." if self._failed else
                                  "Preview shown (Run CRF for full resolution)." if self._live_only else "Done.")
        if stopped:
            self.progress_bar.value = 0
            self._update_status()  # "full resolution on its way" no longer holds
        elif self._live_only:  # a live preview is no part of a full run: no "0% in all" beside it
            self.progress_bar.value = 0
            self.progress_bar.native.setFormat("")
        self._drop_waiting_layers()  # a run that stopped before filling them changes no layer
        image = find_layer(self.viewer.layers, self._run_image)
        if image is not None and stopped and not self._live_only:  # a preview without its full result goes
            self._hide_preview(self._state.of(image))
        if self._live_only:  # a live preview stopped the background build of the full resolution: go on
            QTimer.singleShot(0, self.prepare_ahead)
        self._live_only, self._run_image, self._run_started = False, None, None
        self._failed = False
        # not cleared: napari drops a quit run's generator without closing it, and its threads go on until
        # their next checkpoint, which must still stop them
        self._stop = threading.Event()

    # ------------------------------------------------------------------ export
    def _stem(self, image: Image, data: ImageData) -> str:
        """Return the output file stem of an image."""
        return data.path.stem if data.path is not None else image.name

    def export(self, outdir: str | Path | None = None) -> Any:
        """Write all outputs of the last run into ``outdir`` (the Output folder field, or asked for).

        The files are written in a worker thread, so the viewer stays
        responsive; returns that worker (None when nothing is exported).
        ``last_export`` holds the written paths once it is done.
        """
        image = self.image_layer
        state = self._state.get(image)
        if image is None or state is None or state.result is None:
            show_error("Run the CRF before exporting.")
            return None
        if self.export_worker is not None or self.worker is not None:
            show_info("Wait for the running CRF or export to finish (or cancel it).")
            return None
        data = image_data_from_layer(image)
        target = self.dataset.export_target(image)  # a project image goes into the project's output folder
        outdir = outdir or (target[0] if target else None) or self.outdir.value or self._ask_folder(data)
        if not outdir:
            return None
        created = not Path(outdir).exists()
        try:
            Path(outdir).mkdir(parents=True, exist_ok=True)  # as the command line does
        except OSError as exc:
            text = (f"Cannot create the output folder {outdir} ({exc.strerror or exc}): choose a folder you can "
                    "write to.")
            show_error(text)
            self._update_status(f"Not exported: {text}")  # not the last export's "Exported..." (trial 29)
            return None
        stem = target[1] if target else self._stem(image, data)
        state.clock.tick()  # annotation time runs from the first stroke to export
        self._update_status()
        paths = output_paths(stem, outdir, data.is_georeferenced)
        existing = [p.name for p in paths.values() if p.exists()]
        if existing and not self._confirm("Replace files?",
                                          "These files exist and would be replaced:\n" + "\n".join(existing)):
            show_info("Export cancelled; existing files kept.")
            self._update_status("Export cancelled; existing files kept.")
            self.stage_label.value = "Export cancelled."  # not the last run's "Done." (trial 34)
            return None
        if self._strokes_changed_since(state.result):
            # a live preview of the new strokes on screen would not be what the files hold
            self._hide_preview(state)
            show_warning("The strokes changed since the last run: the export holds that run's strokes and labels "
                         "(shown now). Run the CRF to include the new strokes.")
        self.last_export = None
        self._stop = threading.Event()
        self.export_worker = create_worker(_export_job, self._stop, self._relay, state.result, data, outdir, stem,
                                           annotation_seconds=state.clock.seconds or None,
                                           overwrite=bool(existing), bands=state.bands,
                                           guided=state.walk if state.walk is not None and state.walk.ask_classes
                                           else None,
                                           _start_thread=False, _ignore_errors=True)
        image_key = layer_key(image)
        self.export_worker.returned.connect(
            lambda written: self._on_exported(written, outdir, image_key, created))
        self.export_worker.errored.connect(self._on_error)
        self.export_worker.finished.connect(self._on_finished)
        self._start_feedback("Exporting...", exporting=True)
        self.export_worker.start()
        return self.export_worker

    def _ask_folder(self, data: ImageData) -> str:
        """Ask for an output folder (starting beside the image)."""
        start = str(data.path.parent) if data.path is not None else ""
        return QFileDialog.getExistingDirectory(self.native, "Export to folder", start)

    def _on_exported(self, written: dict[str, Path], outdir: str | Path, image_key: Hashable = None,
                     created: bool = False) -> None:
        """Report the written files (and record them in the project of a project image)."""
        self.last_export = written
        image = find_layer(self.viewer.layers, image_key)
        if image is not None:
            self.dataset.on_exported(image, written)
        self._set_bar(1.0)
        self._update_status(f"Exported {len(written)} files to {outdir}" + (" (folder created)." if created else "."))

    def _strokes_changed_since(self, result: LabelResult) -> bool:
        """Return True when the strokes layer no longer holds the strokes ``result`` was made from.

        Strokes on no-data pixels do not count: the run left them out of
        ``result.strokes``, and unchanged they are no change (trial 25 was
        told to run again for nothing).
        """
        layer, image = self.strokes_layer, self.image_layer
        if layer is None:
            return False
        painted = np.asarray(layer.data)
        if image is not None:
            painted = strokes_on_data(image, painted)
        return painted.shape != result.strokes.shape or not np.array_equal(painted, result.strokes)

    def _confirm(self, title: str, text: str) -> bool:
        """Ask a yes/no question (No is the default)."""
        answer = QMessageBox.question(self.native, title, text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _on_paint(self, event: Any = None) -> None:
        """Count annotation time and schedule an autosave after a stroke edit of the chosen strokes layer."""
        image = self.image_layer
        if image is None or not same_layer(getattr(event, "source", None), self.strokes_layer):
            return
        clock = self._state.of(image).clock
        before = clock.seconds
        clock.tick()
        if self.guided.walk is not None:  # its table shows, stopped too: it follows the strokes
            if self.guided.active:
                self.guided.walk.add_time(clock.seconds - before)
            self._coverage_timer.start()
        if int(clock.seconds) != int(before):
            self._refresh_status()
        self.restore_button.visible = False
        if not self._autosave_timer.isActive():
            self._autosave_timer.start()
        if self.live.value and self.live.enabled:
            self._live_timer.start()  # (re)started on every paint event: the preview waits for a pause

    def autosave_pending(self) -> None:
        """Autosave now if strokes wait for their autosave (a layer is about to go, or the window to close).

        A project image's strokes go into the project too: trial 40's last
        stroke before closing was in the autosave, and the project reopened
        without it.
        """
        if self._autosave_timer.isActive():
            self._autosave_timer.stop()
            self.autosave()
            self.dataset.save_current()

    def reveal(self, widget: Any) -> None:
        """Scroll the panel so that ``widget`` (one of its sections) is in view, as its layout settles."""
        self._reveal.show(widget.native)

    def _tell(self, signal: str) -> Callable[[], None]:
        """Return a call that emits the relay's ``signal`` from a background thread; nothing if the panel is gone."""

        def emit() -> None:
            try:
                getattr(self._relay, signal).emit()
            except RuntimeError:  # the panel was closed and its Qt objects deleted
                pass

        return emit

    def _background_ended(self) -> None:
        """Refresh the status once the engine's compile or the build ahead ended (their lines go)."""
        try:
            self._refresh_status()
        except RuntimeError:  # the panel was closed while it ran: its Qt widgets are gone
            pass

    def _warmed_up(self) -> None:
        """Drop the "preparing the engine" line once the background compile ended."""
        self._warming = False
        self._background_ended()

    def _refresh_status(self) -> None:
        """Show the status again with its last message (the annotation time, settings or no-data changed)."""
        self._update_status(self._message)

    def _update_status(self, message: str = "") -> None:
        """Show the last message, strokes left out on no-data, the annotation time and the autosave.

        Kept short (the autosave's path is in the tooltip): it sits under
        Export, and its first lines should show in a 1000-pixel window.
        """
        path = self._autosave_path()
        image = self.image_layer
        self._message = message
        parts = [message] if message else []
        dropped = None if image is None else self._state.of(image).dropped_told
        if dropped:  # napari's pop-up cut it after "no-data pixels" (trial 24)
            parts.append(f"Not used (on no-data): {dropped.split('dropped: ', 1)[-1]} stroke pixels.")
        stale = self._stale_settings() if self.worker is None else []
        if stale:  # the labels on screen are not those of the settings shown
            parts.append(f"Settings changed since this result ({', '.join(stale)}): Run CRF to apply them.")
        if self._warming:
            parts.insert(0, "Preparing the CRF engine (once per installation, about 15 s); Run CRF waits for it.")
        if self._ahead.busy and self.worker is None:  # say so: the first run will be quicker for it
            labelled = image is not None and self._state.of(image).result is not None
            # on a labelled image "getting it ready" read as if its result were not (trial 28)
            parts.append("Getting a re-run ready in the background..." if labelled
                         else "Getting this image ready for Run CRF while you paint...")
        if image is not None:
            parts.append(f"Annotation time: {self._state.of(image).clock.seconds:.0f} s"
                         + ("; strokes autosave (hover for where)" if path is not None else ""))
        self.status.tooltip = None if path is None else f"Strokes autosave to {path}"
        self.status.value = "\n".join(parts)
