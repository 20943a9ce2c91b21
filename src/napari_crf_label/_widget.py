"""The dock widget: classes, strokes, Run CRF, export, sessions.

A thin layer over the core: it maps napari layers to arrays, buttons to
:func:`~napari_crf_label.labelling.iter_label_image` (run in a napari
``thread_worker`` so the viewer stays responsive) and
:func:`~napari_crf_label.export.export_all`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ._layers import (
    META_KEY,
    class_layer_kwargs,
    classes_from_layer,
    composite,
    image_data_from_layer,
    strokes_layer_data,
)
from .classes import ClassSet, read_class_files
from .crf import DEFAULT_ENGINE, ENGINES, CRFParams
from .errors import InputError
from .export import export_all, output_paths
from .features import FeatureParams
from .image_io import ImageData
from .labelling import DEFAULT_METHOD, METHODS, CRFCache, LabelResult, iter_label_image
from .session import AnnotationClock, Session, SessionError, autosave_path, load_session, save_session

if TYPE_CHECKING:
    import napari

__all__ = ["CRFLabelWidget"]

#: Mean-field iterations of a re-run after stroke edits, started from the previous result.
WARM_ITERATIONS = 5

#: Seconds between autosaves while painting.
AUTOSAVE_SECONDS = 3.0

_TOOLTIPS = {
    "gt_prob": "Confidence that a painted pixel belongs to its class (0-1).",
    "sxy_gaussian": "Width (pixels at CRF resolution) of the smoothness kernel.",
    "compat_gaussian": "Weight of the smoothness kernel: removes isolated pixels.",
    "sxy_bilateral": "Spatial reach (pixels at CRF resolution) of the appearance kernel.",
    "schan": "Colour tolerance of the appearance kernel (0-255 units): larger merges more different colours.",
    "compat_bilateral": "Weight of the appearance kernel: similar nearby colours get the same class.",
    "iterations": "Mean-field iterations.",
}


@dataclass
class _ImageState:
    """What the widget keeps per image layer."""

    cache: CRFCache = field(default_factory=lambda: CRFCache(warm_start=WARM_ITERATIONS))
    clock: AnnotationClock = field(default_factory=AnnotationClock)
    result: LabelResult | None = None
    result_layer: Labels | None = None


class CRFLabelWidget(QWidget):
    """Dock widget turning strokes on a Labels layer into a dense label layer."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.export_worker = None
        self.last_export: dict[str, Path] | None = None
        self._progress: progress | None = None
        self._states: dict[int, _ImageState] = {}
        self._watched: set[int] = set()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(int(AUTOSAVE_SECONDS * 1000))
        self._autosave_timer.timeout.connect(self.autosave)
        self._build()
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.layers.events.moved.connect(self._refresh_layers)
        self._refresh_layers()

    # ----------------------------------------------------------------- layout
    def _build(self) -> None:
        """Create the controls."""
        layout = QVBoxLayout(self)

        layers = QFormLayout()
        self.image_combo = QComboBox(toolTip="The image to label (all its bands feed the CRF).")
        self.strokes_combo = QComboBox(toolTip="The Labels layer you paint strokes on (value k = class k).")
        self.image_combo.currentIndexChanged.connect(self._image_changed)
        self.strokes_combo.currentIndexChanged.connect(self._strokes_changed)
        layers.addRow("Image", self.image_combo)
        layers.addRow("Strokes", self.strokes_combo)
        self.bands = [QSpinBox(minimum=1, maximum=1, toolTip=f"Band shown as {c}") for c in "RGB"]
        band_row = QHBoxLayout()
        for box in self.bands:
            box.valueChanged.connect(self._bands_changed)
            band_row.addWidget(box)
        self.bands_label = QLabel("Shown bands (R, G, B)")
        layers.addRow(self.bands_label, band_row)
        layout.addLayout(layers)

        classes = QGroupBox("Classes")
        form = QFormLayout(classes)
        self.labels_file = QLineEdit(placeholderText="labels file: one class name a line")
        self.colors_file = QLineEdit(placeholderText="colors file: one color a line")
        form.addRow("Labels file", self._with_browse(self.labels_file))
        form.addRow("Colors file", self._with_browse(self.colors_file))
        self.load_classes_button = QPushButton("Load class files")
        self.load_classes_button.clicked.connect(self.load_class_files)
        form.addRow(self.load_classes_button)
        self.class_names = QLineEdit(placeholderText="or type names: water, sand, vegetation")
        self.use_names_button = QPushButton("Use names")
        self.use_names_button.clicked.connect(self.use_typed_names)
        row = QHBoxLayout()
        row.addWidget(self.class_names)
        row.addWidget(self.use_names_button)
        form.addRow(row)
        self.class_list = QListWidget(toolTip="Click a class to paint it with napari's brush.")
        self.class_list.itemClicked.connect(self._class_clicked)
        form.addRow(self.class_list)
        layout.addWidget(classes)

        run = QGroupBox("Run")
        form = QFormLayout(run)
        self.window = QSpinBox(minimum=0, maximum=100_000, singleStep=256, specialValueText="auto",
                               toolTip="Largest tile in image pixels; auto = 1024 pixels at CRF resolution.")
        self.overlap = QSpinBox(minimum=-1, maximum=50_000, singleStep=32, value=-1, specialValueText="auto",
                                toolTip="Context read around each tile, in image pixels; "
                                        "auto = 128 pixels at CRF resolution.")
        self.scale = QDoubleSpinBox(minimum=0.01, maximum=1.0, singleStep=0.05, value=1.0, decimals=3,
                                    toolTip="Downscale factor for the CRF (like the original -s): 0.25 runs "
                                            "the CRF at a quarter of the size and scales the result back.")
        self.method = QComboBox(toolTip="features+crf (default): a pixel classifier trained on your strokes, "
                                        "and how near each pixel is to each class's strokes without crossing an "
                                        "edge, guide the CRF. crf: the CRF on your strokes alone (try it for a "
                                        "cut-out whose parts are cut off from your strokes by strong edges). "
                                        "features: the classifier alone (if the CRF flips a class).")
        self.method.addItems(list(METHODS))
        self.method.setCurrentText(DEFAULT_METHOD)
        form.addRow("Method", self.method)
        self.reach = QDoubleSpinBox(minimum=1.0, maximum=100_000.0, decimals=0, singleStep=50.0,
                                    value=FeatureParams.reach,
                                    toolTip="features+crf: how far (CRF pixels of uniform ground) a class's "
                                            "strokes reach before their pull fades. Raise it when a class is "
                                            "missed far from its strokes; lower it when a class leaks.")
        self.method.currentTextChanged.connect(lambda m: self.reach.setEnabled(m == "features+crf"))
        form.addRow("Reach", self.reach)
        form.addRow("Window", self.window)
        form.addRow("Overlap", self.overlap)
        form.addRow("Scale", self.scale)
        advanced = QCollapsible("Advanced CRF parameters")
        inner = QWidget()
        adv_form = QFormLayout(inner)
        self.crf_fields: dict[str, QDoubleSpinBox | QSpinBox] = {}
        for name, value in CRFParams().as_dict().items():
            if isinstance(value, int):
                box = QSpinBox(minimum=1, maximum=200, value=value)
            else:
                box = QDoubleSpinBox(minimum=0.0, maximum=1000.0, decimals=3, value=value,
                                     singleStep=0.05 if name == "gt_prob" else 1.0)
                if name == "gt_prob":
                    box.setRange(0.01, 0.99)
            box.setToolTip(_TOOLTIPS[name])
            self.crf_fields[name] = box
            adv_form.addRow(name, box)
        self.engine = QComboBox(toolTip="dense CRF engine: numba (default, built in) or pydensecrf "
                                        "(needs pip install 'napari-crf-label[pydensecrf]'); same labels")
        self.engine.addItems(list(ENGINES))
        self.engine.setCurrentText(DEFAULT_ENGINE)
        adv_form.addRow("engine", self.engine)
        advanced.addWidget(inner)
        form.addRow(advanced)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run CRF")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        self.progress_bar = QProgressBar(minimum=0, maximum=1, value=0, format="tiles %v/%m")
        form.addRow(self.progress_bar)
        layout.addWidget(run)

        out = QGroupBox("Output")
        box = QVBoxLayout(out)
        self.export_button = QPushButton("Export...")
        self.export_button.setToolTip("Write the .mat, mres figure, report, label PNG (and GeoTIFF) and session.")
        self.export_button.clicked.connect(lambda: self.export())
        self.save_session_button = QPushButton("Save session...")
        self.save_session_button.clicked.connect(lambda: self.save_session())
        self.restore_button = QPushButton("Restore autosaved strokes", visible=False)
        self.restore_button.clicked.connect(self.restore_autosave)
        self.status = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        for w in (self.export_button, self.save_session_button, self.restore_button, self.status):
            box.addWidget(w)
        layout.addWidget(out)
        layout.addStretch()

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        """Return ``edit`` with a Browse button that fills it from a file dialog."""
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse...")
        button.clicked.connect(lambda: self._browse(edit))
        row.addWidget(edit)
        row.addWidget(button)
        return holder

    def _browse(self, edit: QLineEdit) -> None:
        """Fill ``edit`` with a text file chosen in a dialog."""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a text file", "", "Text files (*.txt);;All files (*)")
        if path:
            edit.setText(path)

    # ------------------------------------------------------------- layer lists
    def _refresh_layers(self, event: Any = None) -> None:
        """Refill the image and strokes combo boxes, keeping the current choices."""
        for combo, kind in ((self.image_combo, Image), (self.strokes_combo, Labels)):
            current = combo.currentText()
            names = [lay.name for lay in self.viewer.layers if isinstance(lay, kind)
                     and not (kind is Labels and lay.name.endswith(" CRF labels"))]
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            combo.blockSignals(False)
        self._image_changed()

    @property
    def image_layer(self) -> Image | None:
        """The chosen image layer."""
        name = self.image_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    @property
    def strokes_layer(self) -> Labels | None:
        """The chosen strokes layer."""
        name = self.strokes_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _state(self, layer: Image) -> _ImageState:
        """Return the per-image state of ``layer``."""
        return self._states.setdefault(id(layer), _ImageState())

    def _image_changed(self, *_: Any) -> None:
        """Pick the image's strokes layer, show band choices, offer an autosave."""
        image = self.image_layer
        if image is None:
            return
        wanted = f"{image.name} strokes"
        if self.strokes_combo.findText(wanted) >= 0:
            self.strokes_combo.setCurrentText(wanted)
        data = image_data_from_layer(image)
        n_bands = data.array.shape[2]
        multi = n_bands not in (1, 3)
        shown = image.metadata.get(META_KEY, {}).get("bands", (0, 1, 2))
        for box, b in zip(self.bands, shown):
            box.blockSignals(True)
            box.setMaximum(n_bands)
            box.setValue(b + 1)
            box.blockSignals(False)
            box.setVisible(multi)
        self.bands_label.setVisible(multi)
        self._strokes_changed()
        path = self._autosave_path()
        has_autosave = path is not None and path.exists() and not self._strokes_painted()
        self.restore_button.setVisible(has_autosave)
        if has_autosave:
            show_info(f"Autosaved strokes found for {image.name}: click 'Restore autosaved strokes' to resume.")
        self._update_status()

    def _strokes_changed(self, *_: Any) -> None:
        """Show the classes of the chosen strokes layer and watch it for edits."""
        layer = self.strokes_layer
        if layer is None:
            self._show_classes(None)
            return
        self._show_classes(classes_from_layer(layer))
        if id(layer) not in self._watched:
            self._watched.add(id(layer))
            layer.events.paint.connect(lambda e, lay=layer: self._on_paint(lay))
            layer.events.data.connect(lambda e, lay=layer: self._on_paint(lay))

    def _strokes_painted(self) -> bool:
        """Return True when the chosen strokes layer holds any stroke."""
        layer = self.strokes_layer
        return layer is not None and bool(np.any(np.asarray(layer.data)))

    def _bands_changed(self, *_: Any) -> None:
        """Show the chosen bands of a multi-band image as its RGB composite."""
        image = self.image_layer
        if image is None or META_KEY not in image.metadata:
            return
        bands = tuple(box.value() - 1 for box in self.bands)
        image.data = composite(image.metadata[META_KEY]["image"], bands)
        image.metadata[META_KEY]["bands"] = bands

    # ----------------------------------------------------------------- classes
    def _show_classes(self, classes: ClassSet | None) -> None:
        """List classes with their colour swatches."""
        self.class_list.clear()
        if classes is None:
            return
        for k, (name, rgb) in enumerate(zip(classes.names, classes.rgb_uint8()), start=1):
            pix = QPixmap(14, 14)
            pix.fill(QColor(*map(int, rgb)))
            item = QListWidgetItem(QIcon(pix), f"{k}  {name}")
            item.setData(Qt.ItemDataRole.UserRole, k)
            self.class_list.addItem(item)

    def _class_clicked(self, item: QListWidgetItem) -> None:
        """Select the clicked class as the brush label and switch to painting."""
        layer = self.strokes_layer
        if layer is None:
            return
        layer.selected_label = int(item.data(Qt.ItemDataRole.UserRole))
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer

    def load_class_files(self) -> ClassSet | None:
        """Read the labels and colors files and apply the classes."""
        labels = self.labels_file.text().strip()
        colors = self.colors_file.text().strip() or None
        if not labels:
            show_error("Choose a labels file first (one class name a line).")
            return None
        try:
            classes = read_class_files(labels, colors)
        except InputError as exc:
            show_error(str(exc))
            return None
        self.set_classes(classes)
        return classes

    def use_typed_names(self) -> ClassSet | None:
        """Apply the class names typed in the text field."""
        try:
            classes = ClassSet.from_names(self.class_names.text())
        except InputError as exc:
            show_error(str(exc))
            return None
        self.set_classes(classes)
        return classes

    def set_classes(self, classes: ClassSet) -> Labels | None:
        """Colour the strokes layer by ``classes``, creating it for the image if needed."""
        image = self.image_layer
        if image is None:
            show_error("Open an image first.")
            return None
        layer = self.strokes_layer
        if layer is not None:
            painted = int(np.asarray(layer.data).max(initial=0))
            if painted > len(classes):
                show_error(f"The strokes layer '{layer.name}' uses class {painted} but only "
                           f"{len(classes)} classes were given; strokes were left unchanged.")
                return None
            for key, value in class_layer_kwargs(classes).items():
                setattr(layer, key, value)
            layer.metadata.setdefault(META_KEY, {})["classes"] = classes
        else:
            shape = image_data_from_layer(image).shape
            data, kwargs, _ = strokes_layer_data(np.zeros(shape, np.uint8), classes, f"{image.name} strokes",
                                                 scale=image.scale, translate=image.translate,
                                                 affine=image.affine.affine_matrix)
            layer = self.viewer.add_labels(data, **kwargs)
            self._refresh_layers()
            self.strokes_combo.setCurrentText(layer.name)
        layer.selected_label = 1
        layer.mode = "paint"
        self.viewer.layers.selection.active = layer
        self._show_classes(classes)
        return layer

    # --------------------------------------------------------------------- run
    def params(self) -> dict[str, Any]:
        """Return the label_image keywords set in the widget."""
        kw: dict[str, Any] = {name: box.value() for name, box in self.crf_fields.items()}
        kw["scale"] = float(self.scale.value())
        kw["window"] = self.window.value() or None
        kw["overlap"] = None if self.overlap.value() < 0 else self.overlap.value()
        kw["method"] = self.method.currentText()
        kw["reach"] = float(self.reach.value())
        kw["engine"] = self.engine.currentText()
        return kw

    def run(self) -> Any:
        """Start the CRF on the chosen image and strokes in a worker thread; return the worker."""
        if self.worker is not None:
            show_info("A CRF run is already going on.")
            return None
        image, strokes_layer = self.image_layer, self.strokes_layer
        if image is None or strokes_layer is None:
            show_error("Choose an image and a strokes layer (load or type classes to create one).")
            return None
        data = image_data_from_layer(image)
        strokes = np.array(strokes_layer.data, copy=True)
        classes = classes_from_layer(strokes_layer)
        state = self._state(image)
        kwargs = self.params()
        self.worker = create_worker(iter_label_image, data, strokes, classes=classes, cache=state.cache,
                                    **kwargs, _start_thread=False, _ignore_errors=True)
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(lambda result, lay=image: self._on_result(lay, data, result))
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.worker.aborted.connect(lambda: show_info("CRF run cancelled; no layer or file was changed."))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setValue(0)
        self._progress = progress(total=1, desc="CRF tiles")
        self._started = time.perf_counter()
        self.worker.start()
        return self.worker

    def cancel(self) -> None:
        """Ask the running CRF to stop (it stops within one iteration)."""
        if self.worker is not None:
            self.worker.quit()
            self.cancel_button.setEnabled(False)

    def _on_progress(self, step: tuple[int, int]) -> None:
        """Show tiles done / total."""
        done, total = step
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(done)
        if self._progress is not None:
            self._progress.total = total
            self._progress.n = done
            self._progress.refresh()

    def _on_result(self, image: Image, data: ImageData, result: LabelResult) -> None:
        """Show the dense labels as the image's result layer (re-used across runs)."""
        state = self._state(image)
        state.result = result
        name = f"{image.name} CRF labels"
        meta = {META_KEY: {"image": data, "classes": result.classes}}
        kwargs = class_layer_kwargs(result.classes)
        layer = state.result_layer
        if layer is None or layer not in self.viewer.layers:
            layer = self.viewer.add_labels(result.labels, name=name, opacity=0.5, metadata=meta,
                                           scale=image.scale, translate=image.translate,
                                           affine=image.affine.affine_matrix, **kwargs)
            state.result_layer = layer
        else:
            layer.data = result.labels
            for key, value in kwargs.items():
                setattr(layer, key, value)
            layer.metadata.update(meta)
        if result.missing_classes:
            show_warning(f"No strokes for {', '.join(result.missing_classes)}: absent from the result.")
        if self.strokes_layer is not None:
            self.viewer.layers.selection.active = self.strokes_layer
        self._update_status(f"CRF done in {result.seconds:.1f} s ({result.params['tiles']} tile(s)).")

    def _on_error(self, exc: Exception) -> None:
        """Report a failed run as a plain notification."""
        show_error(f"CRF run failed: {exc}" if not isinstance(exc, InputError) else str(exc))

    def _on_finished(self) -> None:
        """Reset the buttons and progress after any end of a run."""
        self.worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    # ------------------------------------------------------------------ export
    def _stem(self, image: Image, data: ImageData) -> str:
        """Return the output file stem of an image."""
        return data.path.stem if data.path is not None else image.name

    def export(self, outdir: str | Path | None = None) -> Any:
        """Write all outputs of the last run into ``outdir`` (asked for if None).

        The files are written in a worker thread, so the viewer stays
        responsive; returns that worker (None when nothing is exported).
        ``last_export`` holds the written paths once it is done.
        """
        image = self.image_layer
        state = self._states.get(id(image)) if image is not None else None
        if image is None or state is None or state.result is None:
            show_error("Run the CRF before exporting.")
            return None
        if self.export_worker is not None:
            show_info("An export is already going on.")
            return None
        data = image_data_from_layer(image)
        if outdir is None:
            start = str(data.path.parent) if data.path is not None else ""
            outdir = QFileDialog.getExistingDirectory(self, "Export to folder", start)
            if not outdir:
                return None
        stem = self._stem(image, data)
        state.clock.tick()  # annotation time runs from the first stroke to export
        paths = output_paths(stem, outdir, data.is_georeferenced)
        existing = [p.name for p in paths.values() if p.exists()]
        overwrite = False
        if existing:
            if not self._confirm_overwrite(existing):
                show_info("Export cancelled; existing files kept.")
                return None
            overwrite = True
        self.last_export = None
        self.export_worker = create_worker(export_all, state.result, data, outdir, stem,
                                           annotation_seconds=state.clock.seconds or None, overwrite=overwrite,
                                           _start_thread=False, _ignore_errors=True)
        self.export_worker.returned.connect(lambda written: self._on_exported(written, outdir))
        self.export_worker.errored.connect(lambda exc: show_error(f"Export failed: {exc}"))
        self.export_worker.finished.connect(self._on_export_finished)
        self.export_button.setEnabled(False)
        self.export_worker.start()
        return self.export_worker

    def _on_exported(self, written: dict[str, Path], outdir: str | Path) -> None:
        """Report the written files."""
        self.last_export = written
        self._update_status(f"Exported {len(written)} files to {outdir}.")

    def _on_export_finished(self) -> None:
        """Allow the next export."""
        self.export_worker = None
        self.export_button.setEnabled(True)

    def _confirm_overwrite(self, names: list[str]) -> bool:
        """Ask whether to replace existing output files."""
        answer = QMessageBox.question(self, "Replace files?",
                                      "These files exist and would be replaced:\n" + "\n".join(names),
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ---------------------------------------------------------------- sessions
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
        params = {**self.params(), "annotation_seconds": self._state(image).clock.seconds}
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

    def _on_paint(self, layer: Labels) -> None:
        """Count annotation time and schedule an autosave after a stroke edit."""
        image = self.image_layer
        if image is None or layer is not self.strokes_layer:
            return
        self._state(image).clock.tick()
        self.restore_button.setVisible(False)
        if not self._autosave_timer.isActive():
            self._autosave_timer.start()

    def autosave(self) -> Path | None:
        """Save the strokes to the autosave file now."""
        session, path = self._session(), self._autosave_path()
        if session is None or path is None or not session.strokes.any():
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_session(path, session)
        except OSError as exc:
            show_warning(f"Autosave to {path} failed: {exc}")
            return None
        self._update_status()
        return path

    def save_session(self, path: str | Path | None = None) -> Path | None:
        """Save strokes, classes and parameters to ``path`` (asked for if None)."""
        session = self._session()
        if session is None:
            show_error("Choose an image and a strokes layer first.")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save session", "", "Session (*_session.npz)")
            if not path:
                return None
        path = Path(path)
        if not path.name.endswith("_session.npz"):
            path = path.with_name(path.name.removesuffix(".npz") + "_session.npz")
        try:
            return save_session(path, session)
        except OSError as exc:
            show_error(f"Saving the session failed: {exc}")
            return None

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
        return self.apply_session(session)

    def apply_session(self, session: Session) -> bool:
        """Put a session's strokes, classes and parameters into the widget and layers."""
        image = self.image_layer
        if image is None:
            show_error("Open the session's image first.")
            return False
        if session.strokes.shape != image_data_from_layer(image).shape:
            show_error(f"The session's strokes are {session.strokes.shape} but the image is "
                       f"{image_data_from_layer(image).shape}; nothing was loaded.")
            return False
        layer = self.strokes_layer
        if layer is not None and np.asarray(layer.data).shape != session.strokes.shape:
            layer = None
        if layer is None:
            layer = self.set_classes(session.classes)
        else:
            self.set_classes(session.classes)
        if layer is None:
            return False
        layer.data = session.strokes.astype(np.asarray(layer.data).dtype)
        for name, box in self.crf_fields.items():
            if name in session.params:
                box.setValue(session.params[name])
        if "scale" in session.params:
            self.scale.setValue(session.params["scale"])
        if session.params.get("method") in METHODS:
            self.method.setCurrentText(session.params["method"])
        if "reach" in session.params:
            self.reach.setValue(session.params["reach"])
        if "window" in session.params:
            self.window.setValue(session.params["window"] or 0)
        if "overlap" in session.params:
            overlap = session.params["overlap"]
            self.overlap.setValue(-1 if overlap is None else overlap)
        self._state(image).clock.seconds = float(session.params.get("annotation_seconds", 0.0))
        self.restore_button.setVisible(False)
        return True

    def _update_status(self, message: str = "") -> None:
        """Show the autosave location, annotation time and the last message."""
        path = self._autosave_path()
        image = self.image_layer
        parts = [message] if message else []
        if image is not None:
            parts.append(f"Annotation time: {self._state(image).clock.seconds:.0f} s")
        if path is not None:
            parts.append(f"Autosave: {path}")
        self.status.setText("\n".join(parts))
