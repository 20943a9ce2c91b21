"""The panel's project section: a dataset of images labelled one after another, each starting from the others.

Open a project file (or a folder of images, which becomes one), see every
image with its status, move with *Previous* / *Next*. Each image opens
with its saved strokes and the project's classes; an image without strokes
opens with a **draft** layer, labelled from the stroke samples of every
other labelled image, so the user paints corrections only. Runs train on
those samples too; results, strokes, time and exports go into the project.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import Container, FileEdit, Label, PushButton
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QListWidget, QListWidgetItem, QSizePolicy

from ._layers import META_KEY, class_layer_kwargs, image_data_from_layer, image_layer_data, strokes_layer_data
from ._panel_state import find_layer, layer_key, unwrap
from ._tooltips import TOOLTIPS
from .dataset import PROJECT_REACH, ExportReport, draft_labels, export_project, kept_result, update_samples
from .errors import InputError
from .image_io import ImageData, read_image
from .io.project import (
    UNLABELLED,
    Project,
    ProjectError,
    create_project,
    load_project,
    relative_path,
    strokes_digest,
)
from .progress import Cancelled, reporting

if TYPE_CHECKING:
    from ._widget import CRFLabelWidget
    from .pipeline import LabelResult

__all__ = ["ProjectControls", "PROJECT_KEYS", "FOLDER_PROJECT"]

#: Keys to move between a project's images (none of them is one of napari's own).
PROJECT_KEYS = {"project_next": "Shift+PageDown", "project_previous": "Shift+PageUp"}
#: Name of the project file made for a folder of images.
FOLDER_PROJECT = "napari-crf-label-project.json"
_ROLE = "project"


def _names(paths: list[str], most: int = 5) -> str:
    """Return the file names of ``paths``, the first ``most`` of them and how many more."""
    names = [Path(p).name for p in paths]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _export_project_job(stop: threading.Event, relay: Any, project: Project, written: list[str]
                        ) -> ExportReport | None:
    """Run :func:`export_project`, reporting each image; None when stopped between images (``written`` kept).

    An image stopped while it is written leaves none of its files (the
    export stages them); the images before it stay exported.
    """
    done = [0, 1]  # images written, images to write (known after the first)

    def reporter(stage: str, fraction: float) -> None:
        if stop.is_set():
            raise Cancelled
        relay.stage.emit(f"image {done[0] + 1} of {done[1]}", (done[0] + fraction) / done[1])

    def progress(n: int, total: int, name: str) -> None:
        done[:] = [n, total]
        if name:
            written.append(name)

    try:
        with reporting(reporter):
            return export_project(project, progress=progress)
    except Cancelled:
        return None


class ProjectControls(Container):
    """Open a project or a folder, list its images with their status, move between them."""

    def __init__(self, panel: CRFLabelWidget) -> None:
        super().__init__(labels=False)
        self.margins = (0, 0, 0, 0)
        self._panel = panel
        self.project: Project | None = None
        self.index: int | None = None
        self._keys: dict[str, Any] = {}  # layer keys of the open image: image, strokes, draft
        self._draft_worker: Any = None
        self._samples_workers: list[Any] = []  # one image's samples kept at a time, in the order of the runs
        self._opening = False  # an image of the project is being opened (its layers arrive one by one)
        self._outside = False  # the image chosen last is not one of the project's
        self._outdir_outside: Any = None  # the output folder the user chose for images beside the project
        self._reach = {False: 0.0, True: 0.0}  # the reach images outside / inside the project are run with
        self._after_samples: list[Callable[[], None]] = []
        self.project_file = FileEdit(label="Project", mode="r", filter="*.json", nullable=True,
                                     tooltip=TOOLTIPS["project_file"])
        self.open_button = PushButton(text="Open project", tooltip=TOOLTIPS["project_open"])
        self.folder = FileEdit(label="Image folder", mode="d", nullable=True, tooltip=TOOLTIPS["project_folder"])
        self.folder.choose_btn.text = "Select folder"  # as wide as the Project row's "Select file": fields align
        self.folder_button = PushButton(text="Open folder as project", tooltip=TOOLTIPS["project_folder_open"])
        self.progress = Label(value="")
        self.images = QListWidget(toolTip=TOOLTIPS["project_images"])
        self.images.setMaximumHeight(140)
        self.images.itemDoubleClicked.connect(lambda item: self.open_image(item.data(Qt.ItemDataRole.UserRole)))
        holder = Container(labels=False)
        holder.margins = (0, 0, 0, 0)
        holder.native.layout().addWidget(self.images)
        self.previous_button = PushButton(text="Previous image", enabled=False,
                                          tooltip=TOOLTIPS["project_previous"].format(
                                              key=PROJECT_KEYS["project_previous"]))
        self.next_button = PushButton(text="Next image", enabled=False,
                                      tooltip=TOOLTIPS["project_next"].format(key=PROJECT_KEYS["project_next"]))
        self.export_button = PushButton(text="Export project", enabled=False, tooltip=TOOLTIPS["project_export"])
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        self.status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # wrapped text is laid out for a wider line than it gets: the draft's third line was cut (trial 37)
        self.status.native.setMinimumHeight(3 * self.status.native.fontMetrics().lineSpacing() + 4)
        row = Container(widgets=[self.previous_button, self.next_button], layout="horizontal", labels=False)
        row.margins = (0, 0, 0, 0)
        files = Container(widgets=[self.project_file, self.folder])
        buttons = Container(widgets=[self.open_button, self.folder_button], layout="horizontal", labels=False)
        buttons.margins = (0, 0, 0, 0)
        for widget in (files, buttons, self.progress, holder, row, self.export_button, self.status):
            self.append(widget)
        self.open_button.changed.connect(lambda: self.open_project())
        self.folder_button.changed.connect(lambda: self.open_folder())
        self.next_button.changed.connect(lambda: self.step(1))
        self.previous_button.changed.connect(lambda: self.step(-1))
        self.export_button.changed.connect(lambda: self.export_project())

    # ------------------------------------------------------------- opening
    def open_project(self, path: str | Path | None = None) -> bool:
        """Open a project file and its first unfinished image."""
        path = path or self.project_file.value
        if not path:
            show_error("Choose a project file (*.json) first.")
            return False
        try:
            project = load_project(path)
        except InputError as exc:
            show_error(str(exc))
            return False
        return self._use(project)

    def open_folder(self, folder: str | Path | None = None) -> bool:
        """Open the project of a folder of images, making it (with the panel's classes) on first use."""
        folder = folder or self.folder.value
        if not folder or not Path(folder).is_dir():
            show_error("Choose a folder of images first.")
            return False
        path = Path(folder) / FOLDER_PROJECT
        if path.exists():
            return self.open_project(path)
        classes = self._panel.classes_in_hand()
        if classes is None:
            show_error("Load or type the classes first: a new project takes the panel's classes.")
            return False
        try:
            project = create_project(path, [folder], classes, Path(folder) / "labels", self._settings())
        except InputError as exc:
            show_error(str(exc))
            return False
        show_info(f"Project created: {path} (outputs in {project.output_folder}).")
        return self._use(project)

    def _adopt(self, project: Project) -> None:
        """Take the project's images that are already open out of the viewer, their strokes into the project.

        Opening a folder as a project after opening one of its images would
        otherwise show that image twice; strokes painted on it are kept in
        the project when the project has none for it yet.
        """
        panel = self._panel
        paths = {project.image_path(i).resolve(): i for i in range(len(project.images))}
        for layer in [unwrap(lay) for lay in panel.viewer.layers]:
            if not isinstance(layer, Image) or layer.metadata.get(META_KEY, {}).get("role") is not None:
                continue  # not an image, or a confidence layer
            source = image_data_from_layer(layer).path
            i = paths.get(Path(source).resolve()) if source is not None else None
            if i is None:
                continue
            strokes = next((lay for lay in panel.viewer.layers if lay.name == f"{layer.name} strokes"), None)
            if strokes is not None:
                data = np.asarray(strokes.data)
                if data.any() and project.strokes(i) is None and int(data.max()) <= len(project.classes):
                    project.set_strokes(i, data)
                panel.viewer.layers.remove(strokes.name)
            panel.viewer.layers.remove(layer.name)

    def _settings(self) -> dict:
        """Return the run settings to keep in a new project (as JSON values)."""
        keep = ("scale", "window", "overlap", "method")  # a project's reach is its own (PROJECT_REACH)
        return {k: v for k, v in self._panel.params().items() if k in keep}

    def _use(self, project: Project) -> bool:
        """Make ``project`` the open one and show its first image not yet labelled."""
        self.save_current()
        self.close_current()
        self._adopt(project)
        self.project = project
        self.project_file.value = project.path
        settings = {"reach": PROJECT_REACH, **project.settings}
        if self._panel.reach.value != settings["reach"]:
            show_info(f"Reach set to {settings['reach']:g} for this project: the other images' samples let the "
                      "classifier decide far from the strokes (change it under Run).")
        if not self._reach[False]:  # the reach before any project: for images opened beside it
            self._reach[False] = float(self._panel.reach.value)
        self._reach[True] = float(settings["reach"])
        self._panel._apply_params(settings)
        first = next((i for i, e in enumerate(project.images) if e.status in UNLABELLED), None)
        self.refresh()
        opened = self.open_image(0 if first is None else first)
        if opened:  # which one, and why this one (trial 39 was not told)
            self.status.value = ((f"Opened {project.images[first].path}, the first image not labelled yet. "
                                  if first is not None else "Every image is labelled; opened the first. ")
                                 + self.status.value)
        self._panel.reveal(self)  # its list and status in view, however the panel was scrolled
        return opened

    def image_changed(self) -> str:
        """Follow the image chosen in the panel: inside the project or beside it (trial 38 opened a photo).

        An image beside the project is run with the reach it had before the
        project (the project's far reach needs the other images' samples),
        and the project's line says the image is not in the project. Return
        what the panel's status should say of the change ("" for nothing).
        """
        panel = self._panel
        if self.project is None or self._opening or panel.image_layer is None:
            return ""
        inside = self.current(panel.image_layer) is not None
        if not inside:  # the line under the list spoke of the project's image (trial 39)
            self.status.value = (f"{panel.image_layer.name} is not in this project: Next image, Previous image or a "
                                 "double-click in the list opens the project's images.")
        elif self._outside and self.index is not None:  # back from an image beside the project
            entry = self.project.images[self.index]
            self.status.value = f"{entry.path}: {entry.status}."
        self._show_output_folder(inside)
        self._outside = not inside
        reach, note = self._reach[inside], ""
        if panel.reach.value != reach:
            self._reach[not inside] = float(panel.reach.value)  # a reach the user set is kept for when they return
            panel.reach.value = reach
            where = "the project's images" if inside else f"{panel.image_layer.name}, which is not in the project"
            note = f"Reach {reach:g} for {where}."
        self.refresh()
        return note

    def _show_output_folder(self, inside: bool) -> None:
        """Show where *Export* writes: the project's folder for its images (fixed), the user's for the others.

        Trial 40 read another image's export folder in the field while a
        project image's export went to the project's folder.
        """
        field = self._panel.outdir
        if inside and field.enabled:
            self._outdir_outside = field.value
            field.value = self.project.output_folder
        elif not inside and not field.enabled:
            field.value = self._outdir_outside
        field.enabled = not inside

    # -------------------------------------------------------------- images
    def refresh(self) -> None:
        """Show every image with its status, and the progress."""
        project = self.project
        self.images.clear()
        if project is None:
            return
        for i, entry in enumerate(project.images):
            mark = "> " if i == self.index else "  "
            item = QListWidgetItem(f"{mark}{Path(entry.path).name}  ({entry.status})")
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.images.addItem(item)
        if self.index is not None:
            self.images.setCurrentRow(self.index)
        # as tall as its rows, up to 140 px: five images left 60 px empty under the dock's fold (trial 37)
        rows = max(3, self.images.count())
        self.images.setMaximumHeight(min(140, rows * self.images.sizeHintForRow(0) + 2 * self.images.frameWidth()))
        image = self._panel.image_layer
        where = f"Image {self.index + 1} of {len(project.images)}; " if self.index is not None else ""
        if image is not None and self.index is not None and self.current(image) is None and not self._opening:
            where = f"{image.name} is not in this project; "
        self.progress.value = where + project.progress_text()  # trial 37 looked for "image 3 of 5"
        self.export_button.enabled = True
        self.previous_button.enabled = self.index is not None and self.index > 0
        self.next_button.enabled = self.index is not None and self.index < len(project.images) - 1

    def step(self, direction: int) -> bool:
        """Open the next (1) or previous (-1) image of the project."""
        if self.project is None or self.index is None:
            return False
        target = self.index + direction
        if not 0 <= target < len(self.project.images):
            return False
        return self.open_image(target)

    def open_image(self, i: int) -> bool:
        """Save the open image's strokes, close its layers, open image ``i`` with its strokes (or a draft)."""
        if self.project is None:
            return False
        self.save_current(leaving=True)
        self._opening = True
        try:
            return self._open_image(i)
        finally:
            self._opening = False
            note = self.image_changed()
            if note:
                self._panel._update_status(note)

    def _open_image(self, i: int) -> bool:
        """Open image ``i`` (:meth:`open_image` once the open image is saved)."""
        project, panel = self.project, self._panel
        try:
            data = read_image(project.image_path(i))
            strokes = project.strokes(i)
        except InputError as exc:
            text = str(exc)
            show_error(text if project.images[i].path in text or str(project.image_path(i)) in text
                       else f"{project.images[i].path}: {text}")
            return False
        self.close_current()
        self.index = i
        name = Path(project.images[i].path).stem
        picture, kwargs, _ = image_layer_data(data, name=name)
        image = unwrap(panel.viewer.add_image(picture, **kwargs))
        blank = strokes is None or strokes.shape != data.shape
        strokes = np.zeros(data.shape, np.uint8) if blank else strokes.astype(np.uint8)
        sdata, skw, _ = strokes_layer_data(strokes, project.classes, f"{name} strokes", scale=image.scale,
                                           translate=image.translate)
        layer = unwrap(panel.viewer.add_labels(sdata, **skw))
        self._keys = {"image": layer_key(image), "strokes": layer_key(layer)}
        panel.image_picker.value = image
        panel.strokes_picker.value = layer
        panel.image_state().clock.seconds = project.images[i].seconds
        self._restore_walk(i)
        layer.mode = "paint"
        panel.viewer.layers.selection.active = layer
        self.refresh()
        panel.reset_feedback()
        self.status.value = f"{project.images[i].path}: {project.images[i].status}."
        kept = project.result_digest(i) if strokes.any() else None
        if kept is not None:  # its last result, current or not (trial 41 reopened a painted image and saw none)
            self._show_kept_result(i, data, image, current=kept == strokes_digest(strokes))
        elif not strokes.any():
            self._start_draft(i, data, image)
        return True

    def _show_kept_result(self, i: int, data: ImageData, image: Any, current: bool = True) -> None:
        """Show the result the project kept for image ``i``.

        Ready to export, or (not ``current``) made from strokes painted over since.
        """
        result = kept_result(self.project, i)
        self._panel.show_result(layer_key(image), data, result)
        entry = self.project.images[i]
        if not current:
            self._panel._update_status("Its last result, from before the strokes painted since: Run CRF updates it.")
            self.status.value = f"{entry.path}: painted since its last run, that result shown."
            return
        # not "CRF done in ...": no run was made now (trial 30 read it on an image labelled the day before); and
        # no time: the run's own seconds beside the "CRF done" figure (click to result) read as two (trial 33)
        self._panel._update_status("Result kept in the project; Run CRF makes it again, Export writes it.")
        self.status.value = f"{entry.path}: {entry.status}, its result shown."

    def _restore_walk(self, i: int) -> None:
        """Bring back image ``i``'s guided annotation pass, if one was saved with its strokes."""
        from .guided import GuidedWalk

        try:
            saved = self.project.session_params(i).get("guided")
            if saved:
                self._panel.image_state().walk = GuidedWalk.from_dict(saved)
                self._panel.guided.name_start()  # "... again" for a pass walked to its end (trial 39 read "Resume")
        except (InputError, ValueError) as exc:
            show_info(f"The guided pass saved for this image was not restored: {exc}")

    def _start_draft(self, i: int, data: ImageData, image: Any) -> None:
        """Label image ``i`` from the other images' samples in the background and show it as a draft layer."""
        project = self.project
        if self._samples_workers:
            # the image labelled just before is still giving its samples: the draft waits to learn from them
            self.status.value += " Drafting once the last result's samples are kept..."
            self._after_samples.append(
                lambda: self.project is project and self.index == i and self._start_draft(i, data, image))
            return
        _, y, ids = project.samples(exclude=i)
        if not len(y):
            self.status.value += " No other image is labelled yet: paint strokes, then Run CRF."
            return
        sources = len(np.unique(ids))
        self.status.value += f" Drafting from the strokes of {sources} other image(s)..."
        worker = create_worker(draft_labels, project, i, data, _start_thread=False, _ignore_errors=True)
        image_key = layer_key(image)
        worker.returned.connect(lambda result: self._show_draft(i, image_key, result, sources))
        worker.errored.connect(lambda exc: show_error(f"Draft failed: {exc}"))
        self._draft_worker = worker
        worker.finished.connect(lambda: setattr(self, "_draft_worker", None))
        worker.start()

    def _show_draft(self, i: int, image_key: Any, result: LabelResult | None, sources: int) -> None:
        """Add the draft as a Labels layer under the strokes (only if that image is still open)."""
        panel = self._panel
        image = find_layer(panel.viewer.layers, image_key)
        if result is None or image is None or self.index != i:
            return
        layer = unwrap(panel.viewer.add_labels(result.labels, name=f"{image.name} draft", opacity=0.45,
                                               scale=image.scale, translate=image.translate,
                                               metadata={META_KEY: {"role": "result", "draft": True}},
                                               **class_layer_kwargs(result.classes)))
        self._keys["draft"] = layer_key(layer)
        panel._place_below_strokes(layer)
        if panel.strokes_layer is not None:
            panel.viewer.layers.selection.active = panel.strokes_layer
        self.status.value = (f"{self.project.images[i].path}: draft from {sources} other image(s). Paint "
                             "corrections where it is wrong, then Run CRF.")

    @property
    def drafting(self) -> bool:
        """True while a draft is being computed."""
        return self._draft_worker is not None

    def close_current(self) -> None:
        """Remove the open project image's layers (its work is saved first by :meth:`save_current`)."""
        panel = self._panel
        state = panel.image_state() if self._keys else None
        keys = set(self._keys.values())
        if state is not None:
            # the preview too: a hidden "<image> CRF preview" stayed under the next image (trial 27)
            keys |= {state.result_key, state.preview_key, state.confidence_key, *state.guide_keys.values()}
        for key in keys:
            layer = find_layer(panel.viewer.layers, key)
            if layer is not None:
                panel.viewer.layers.remove(layer.name)
        self._keys = {}
        self.index = None

    # ------------------------------------------------------- work into project
    def current(self, image: Any) -> int | None:
        """Return the project index of ``image`` when it is the open project image."""
        if self.project is None or self.index is None or image is None:
            return None
        return self.index if layer_key(image) == self._keys.get("image") else None

    def own_keys(self, image: Any) -> list[Any]:
        """Return the keys of the layers the project added for ``image`` besides its strokes (its draft)."""
        return [self._keys["draft"]] if "draft" in self._keys and self.current(image) is not None else []

    def save_current(self, leaving: bool = False) -> None:
        """Keep the open image's strokes and annotation time in the project.

        ``leaving``: the image is being closed; when its strokes changed
        since its last run, its samples for the other images are made
        again from them (trial 37 erased an image's strokes and its old
        samples still taught the next image's draft).
        """
        panel = self._panel
        i = self.current(panel.image_layer)
        if i is None or panel.strokes_layer is None:
            return
        state = panel.image_state()
        walk = {"guided": state.walk.to_dict()} if state.walk is not None and state.walk.ask_classes else {}
        strokes = np.asarray(panel.strokes_layer.data)
        before = self.project.images[i].status
        try:
            # the kept result's digest is read and the strokes hashed once, in set_strokes (every autosave)
            changed = self.project.set_strokes(i, strokes, state.clock.seconds, walk) is False
            entry = self.project.images[i]
            if entry.status != before:  # the line below the list still said "labelled" (trial 38)
                self.status.value = f"{entry.path}: {entry.status}."
        except (OSError, InputError) as exc:
            show_error(f"Saving the strokes into the project failed: {exc}")
            changed = False
        if leaving and changed and strokes.any():
            self._keep_samples(i, image_data_from_layer(panel.image_layer), strokes.copy())
        self.refresh()

    def samples_for(self, image: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """Return the other images' samples for a run on ``image`` (None outside a project)."""
        i = self.current(image)
        if i is None:
            return None
        x, y, _ = self.project.samples(exclude=i)
        return (x, y) if len(y) else None

    def on_result(self, image: Any, data: ImageData, result: LabelResult, given: np.ndarray | None = None) -> None:
        """Keep a run's result, the image's samples and strokes in the project; drop the draft.

        ``given``: the strokes the run was given (the result's lack those on no-data).
        """
        i = self.current(image)
        if i is None:
            return
        try:
            self.save_current()
            self.project.save_result(i, result.labels, result.probabilities, result.strokes, result.params,
                                     result.seconds, given=given)
        except (OSError, InputError, ProjectError) as exc:
            show_error(f"Keeping the result in the project failed: {exc}")
        self._keep_samples(i, data, result.strokes)
        draft = find_layer(self._panel.viewer.layers, self._keys.pop("draft", None))
        if draft is not None:
            self._panel.viewer.layers.remove(draft.name)
        self.refresh()
        self.status.value = f"{self.project.images[i].path}: labelled; Export writes it to the project's folder."

    def _keep_samples(self, i: int, data: ImageData, strokes: np.ndarray) -> None:
        """Compute and keep image ``i``'s stroke samples for the other images, off napari's thread.

        The features of a 4 MP image took 0.8-1.1 s on napari's thread after
        every Run CRF (trial 27). One image's samples are written at a time,
        in the order of the runs, so the last run's are the ones kept.
        """
        worker = create_worker(update_samples, self.project, i, data, strokes, _start_thread=False,
                               _ignore_errors=True, **self._settings())
        worker.errored.connect(lambda exc: show_error(f"Keeping this image's stroke samples for the project's "
                                                      f"other images failed: {exc}"))
        worker.finished.connect(self._samples_kept)
        self._samples_workers.append(worker)
        if len(self._samples_workers) == 1:
            worker.start()

    def _samples_kept(self) -> None:
        """Start the next image's samples, or what waited for them (a draft)."""
        self._samples_workers.pop(0)
        if self._samples_workers:
            self._samples_workers[0].start()
            return
        waiting, self._after_samples = self._after_samples, []
        try:
            for call in waiting:
                call()
        except RuntimeError:  # the window was closed while they waited: its Qt widgets are gone
            pass

    @property
    def keeping_samples(self) -> bool:
        """True while a result's stroke samples are being computed and kept."""
        return bool(self._samples_workers)

    def export_project(self) -> Any:
        """Write every labelled image's outputs into the project's folder in the background (as ``project export``).

        Trial 37 exported a survey one image at a time: the panel had no
        export of the whole project. Images exported and unchanged since
        are skipped; those run again since their export keep their files
        (the status says so: *Export* on the image replaces them).
        """
        panel, project = self._panel, self.project
        if project is None:
            show_info("Open a project first.")
            return None
        if panel.worker is not None or panel.export_worker is not None:
            show_info("Wait for the running CRF or export to finish (or cancel it).")
            return None
        self.save_current()
        panel._stop = stop = threading.Event()
        written: list[str] = []
        panel.export_worker = create_worker(_export_project_job, stop, panel._relay, project, written,
                                            _start_thread=False, _ignore_errors=True)
        panel.export_worker.returned.connect(lambda report: self._on_project_exported(report, written))
        panel.export_worker.errored.connect(panel._on_error)
        panel.export_worker.finished.connect(panel._on_finished)
        panel.export_worker.finished.connect(self.refresh)
        panel._start_feedback("Exporting the project...", exporting=True)
        panel.export_worker.start()
        return panel.export_worker

    def _on_project_exported(self, report: ExportReport | None, written: list[str]) -> None:
        """Say what a project export wrote, skipped and kept."""
        folder = self.project.output_folder if self.project is not None else ""
        if report is None:  # cancelled between two images: those written stay
            self.status.value = (f"Export stopped: {len(written)} image(s) written to {folder}; "
                                 "Export project again writes the others.")
            return
        parts = [f"Exported {len(report.exported)} image(s) to {folder}."]
        if report.unchanged:
            parts.append(f"{len(report.unchanged)} unchanged since their export.")
        if report.kept:
            parts.append(f"Kept the files of {', '.join(report.kept)} (run again since their export): "
                         "Export on the image replaces them.")
        unlabelled = [] if self.project is None else self.project.unlabelled()
        if unlabelled:  # trials 38 and 39 found images without outputs, and no word of which
            parts.append(f"Not exported, not labelled or painted since their last run (Run CRF on each): "
                         f"{_names(unlabelled)}.")
        self.status.value = " ".join(parts)
        self._panel._set_bar(1.0)
        self._panel._update_status(" ".join(parts))  # beside Export too: the project's line may be out of view

    def export_target(self, image: Any) -> tuple[Path, str] | None:
        """Return (output folder, stem) of the open project image, else None."""
        i = self.current(image)
        if i is None:
            return None
        return self.project.output_folder, self.project.output_stem(i)

    def on_exported(self, image: Any, written: dict[str, Path]) -> None:
        """Record an export of the open project image."""
        i = self.current(image)
        if i is None:
            return
        entry = self.project.images[i]
        entry.outputs = {k: relative_path(p, self.project.folder) for k, p in written.items()}
        entry.status = "exported"
        self.project.save()
        self.refresh()
        self.status.value = f"{entry.path}: exported to {self.project.output_folder}."
