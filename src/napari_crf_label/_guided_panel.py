"""The panel's guided annotation section: walk the CRF's windows, asking for each class in each.

A magicgui Container the main panel embeds. It keeps a
:class:`~napari_crf_label.guided.GuidedWalk` per image (in the panel's image
state), outlines the windows on the image (a Shapes layer coloured by state,
and the current window in a second one), zooms the canvas to the current
window and makes the asked class the brush label. After a run, *Mark places
to check* rings the places where the result is least sure (a Points
layer), for the user to paint the right class on each; the next result
keeps them, dimmed, as the places checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import Container, Label, PushButton, Table
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QHeaderView, QSizePolicy

from ._layers import META_KEY, classes_from_layer, image_data_from_layer, strokes_on_data
from ._panel_state import find_layer, layer_key, unwrap
from ._tooltips import TOOLTIPS
from .guided import GuidedWalk, guide_windows, suggest_points, weak_windows, window_coverage, window_states

if TYPE_CHECKING:
    from ._widget import CRFLabelWidget

__all__ = ["GuidedControls", "GUIDE_KEYS"]

#: Keys of the guided walk (none of them is one of napari's own).
GUIDE_KEYS = {"guide_next": "Shift+Right", "guide_back": "Shift+Left", "guide_skip": "Shift+S"}

#: Outline colour of a window by state.
STATE_COLORS = {"done": "#2ca02c", "started": "#ff7f0e", "empty": "#d62728"}
#: Tallest the coverage table grows (pixels): fifteen classes' rows and more scroll within it.
COVERAGE_MAX_HEIGHT = 480
_ROLE = "guide"


class GuidedControls(Container):
    """Start/stop a guided pass, step through windows and classes, show coverage, review weak windows."""

    def __init__(self, panel: CRFLabelWidget) -> None:
        super().__init__(labels=False)
        self.margins = (0, 0, 0, 0)
        self._panel = panel
        self.start_button = PushButton(text="Start guided annotation", tooltip=TOOLTIPS["guide_start"])
        self.review_button = PushButton(text="Review weak windows", enabled=False, tooltip=TOOLTIPS["guide_review"])
        self.suggest_button = PushButton(text="Mark places to check", enabled=False,
                                         tooltip=TOOLTIPS["guide_suggest"])
        self.prompt = Label(value="")
        self.prompt.native.setWordWrap(True)
        self.prompt.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.prompt.native.setMinimumHeight(2 * self.prompt.native.fontMetrics().height())
        self.back_button = PushButton(text="Back", enabled=False,
                                      tooltip=TOOLTIPS["guide_back"].format(key=GUIDE_KEYS["guide_back"]))
        self.skip_button = PushButton(text="Absent here", enabled=False,
                                      tooltip=TOOLTIPS["guide_skip"].format(key=GUIDE_KEYS["guide_skip"]))
        self.next_button = PushButton(text="Next", enabled=False,
                                      tooltip=TOOLTIPS["guide_next"].format(key=GUIDE_KEYS["guide_next"]))
        self.coverage = Table(tooltip=TOOLTIPS["guide_coverage"], visible=False)  # shown with a pass
        self.coverage.read_only = True
        # a row per class (then state and seconds), a column per window: with a column per class the cells of
        # six classes were cut to "5..." in a 1600-pixel window (trial 31); windows are numbered as the prompt
        # numbers them, each column as wide as its numbers (a scroll bar beyond the dock's width)
        self.coverage.native.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.coverage.native.horizontalHeader().setStretchLastSection(True)
        # a long class name is cut at its end ("shallow_w..."), whole in its tooltip
        self.coverage.native.verticalHeader().setMaximumWidth(110)
        self.coverage.native.verticalHeader().setTextElideMode(Qt.TextElideMode.ElideRight)
        row = Container(widgets=[self.back_button, self.skip_button, self.next_button], layout="horizontal",
                        labels=False)
        row.margins = (0, 0, 0, 0)
        # one button a row: side by side, "Resume guided annotation" widened the dock by 21 px and squeezed the
        # canvas (trial 32)
        for widget in (self.start_button, self.review_button, self.suggest_button, self.prompt, row, self.coverage):
            self.append(widget)
        self.active = False
        self.reviewing = False  # a review walks its own order; the guided pass is kept aside
        self.marked = False  # places to check were marked once (the run's status stops pointing to them)
        self.start_button.changed.connect(self.toggle)
        self.review_button.changed.connect(self.review)
        self.suggest_button.changed.connect(self.suggest)
        self.next_button.changed.connect(lambda: self.step(1))
        self.back_button.changed.connect(lambda: self.step(-1))
        self.skip_button.changed.connect(self.skip)

    # ------------------------------------------------------------------ state
    @property
    def walk(self) -> GuidedWalk | None:
        """Return the walk shown: the review during a review, else the chosen image's guided pass (or None)."""
        state = self._panel.image_state()
        if state is None:
            return None
        return state.review if self.reviewing else state.walk

    def _set_walk(self, walk: GuidedWalk | None) -> None:
        state = self._panel.image_state()
        if state is not None:
            if self.reviewing:
                state.review = walk
            else:
                state.walk = walk

    def _windows(self) -> list:
        """Return the windows a run with the panel's settings uses (the same tiling as the CRF)."""
        image = self._panel.image_layer
        params = self._panel.params()
        return guide_windows(image_data_from_layer(image).shape, params["window"], params["scale"])

    def _coverage(self, walk: GuidedWalk) -> np.ndarray:
        """Return stroke pixels per window and class of the chosen strokes layer, those on no-data left out.

        As the run leaves them out: a window whose only strokes lie on the
        image's no-data border has none (the report said so while the
        panel did not warn, trial 26).
        """
        strokes, image = self._panel.strokes_layer, self._panel.image_layer
        data = np.zeros((1, 1), np.uint8) if strokes is None else np.asarray(strokes.data)
        if strokes is not None and image is not None:
            data = strokes_on_data(image, data)
        return window_coverage(data, walk.windows, walk.n_classes)

    # ---------------------------------------------------------------- actions
    def toggle(self) -> None:
        """Start (or resume) a guided pass, or leave it (every stroke is kept)."""
        if self.active:
            self.stop()
        else:
            self.start()

    def start(self) -> bool:
        """Start the walk at the first window (or where a saved pass stopped), asking for the first class."""
        panel = self._panel
        image, strokes = panel.image_layer, panel.strokes_layer
        classes = None if strokes is None else classes_from_layer(strokes)
        if image is None or classes is None:
            show_info("Load or type the classes first: guided annotation asks for each class in each window.")
            return False
        self.reviewing = False
        windows = self._windows()
        walk = self.walk
        if walk is None or not walk.ask_classes or walk.windows != windows or walk.n_classes != len(classes):
            walk = GuidedWalk(windows, len(classes))
            self._set_walk(walk)
        elif walk.finished:  # a pass walked to its end starts again at the first window, its skips and times kept
            walk.step = walk.class_index = 0
        self.active = True
        self.start_button.text = "Stop guided annotation"
        self.skip_button.enabled = True  # Back and Next: show() sets them by the step
        self.show()
        self._panel.reveal(self)
        return True

    def review(self) -> bool:
        """Walk the windows from the least certain after a run (no class is asked)."""
        panel = self._panel
        state = panel.image_state()
        if state is None or state.result is None:
            show_info("Run the CRF first: the review walks the windows it was least sure about.")
            return False
        windows = self._windows()
        order = weak_windows(state.result.probabilities, windows, state.result.labels.shape)
        self.reviewing = True  # the guided pass (its skips and times) stays as it is
        self._set_walk(GuidedWalk(windows, len(state.result.classes), order=order, ask_classes=False))
        self.active = True
        self.start_button.text = "Stop review"
        self.skip_button.enabled = False  # Back and Next: show() sets them by the step
        self.show()
        self._panel.reveal(self)
        return True

    def offer_after_run(self, offered: bool) -> None:
        """Enable (or not) what needs a result: *Review weak windows* and *Mark places to check*."""
        self.review_button.enabled = self.suggest_button.enabled = offered

    def end_if_walked(self) -> None:
        """Leave a pass (or review) that reached its last step once a run has used it.

        Its *Stop* button stayed offered after the pass's end and the run
        it led to (trial 31).
        """
        if self.active and self.walk is not None and self.walk.finished:
            self.stop()

    def suggest(self) -> int:
        """Ring the places where the last result is least sure (a Points layer); return how many.

        The user paints a short stroke of the right class on each and runs
        again: each such click teaches the classifier what its strokes did
        not (benchmarks/quality/RESULTS.md, stop 25).
        """
        panel = self._panel
        state = panel.image_state()
        if state is None or state.result is None:
            show_info("Run the CRF first: the places to check are where its result is least sure.")
            return 0
        data = image_data_from_layer(panel.image_layer)
        avoid = ~data.valid
        if panel.strokes_layer is not None and np.shape(panel.strokes_layer.data) == avoid.shape:
            avoid = avoid | (np.asarray(panel.strokes_layer.data) > 0)  # painted since the run too
        points = suggest_points(state.result.probabilities, state.result.labels.shape, avoid)
        self.marked = True
        self._remove_layer("points")
        if not len(points):
            panel._update_status("No place to check: away from its class edges and your strokes the result is "
                                 "sure everywhere.")
            return 0
        image = panel.image_layer
        layer = unwrap(panel.viewer.add_points(
            # an open circle: what lies at its centre stays visible, for the user to judge its class
            points, name=self._layer_name("points"), symbol="disc", size=max(16.0, max(data.shape) / 40),
            face_color="transparent", border_color="yellow", border_width=0.12, border_width_is_relative=True,
            scale=image.scale, translate=image.translate,
            affine=image.affine.affine_matrix, metadata={META_KEY: {"role": _ROLE}}))
        state.guide_keys["points"] = layer_key(layer)
        if panel.strokes_layer is not None:  # the brush stays in hand
            panel.viewer.layers.selection.active = panel.strokes_layer
        panel._update_status(f"{len(points)} places to check, ringed in yellow where the result is least sure: "
                             "paint a short stroke of the right class on each, then Run CRF.")
        return len(points)

    def points_checked(self) -> None:
        """Keep the places to check of the last result, dimmed and renamed, to see what the new one made of them.

        Removed with the result they came from, trial 33 could not see
        whether the places it painted had come out right; the next *Mark
        places to check* replaces them.
        """
        state = self._panel.image_state()
        layer = None if state is None else find_layer(self._panel.viewer.layers, state.guide_keys.get("points"))
        if layer is not None and self._panel.image_layer is not None:
            layer.name = f"{self._panel.image_layer.name} places checked"
            layer.opacity = 0.5

    def stop(self) -> None:
        """Leave the guided pass: the strokes and the walk's position stay (a new start resumes there)."""
        self.active = False
        self.reviewing = False
        self.name_start()
        for button in (self.back_button, self.skip_button, self.next_button):
            button.enabled = False
        self.prompt.value = ""
        self._remove_layer("current")
        self.show_coverage()

    def image_changed(self) -> None:
        """Show the newly chosen image's pass: its start button's name and coverage, or none.

        Trial 35 opened a second image and read "Start guided annotation
        again" over the first image's table of four windows.
        """
        self.name_start()
        if self.walk is None:
            self.coverage.clear()
            self.coverage.visible = False
        else:
            self.show_coverage()

    def name_start(self) -> None:
        """Name the start button for the image's pass: none yet, stopped on its way, or walked to its end."""
        walk = self.walk
        self.start_button.text = ("Start guided annotation" if walk is None else
                                  "Start guided annotation again" if walk.finished else "Resume guided annotation")

    def step(self, direction: int) -> None:
        """Move to the next (1) or previous (-1) class or window."""
        walk = self.walk
        if not self.active or walk is None:
            return
        moved = walk.next() if direction > 0 else walk.previous()
        self.show()
        if not moved and direction > 0:
            self.prompt.value = "Every window has been visited: run the CRF, or go back to add strokes."

    def skip(self) -> None:
        """Mark the asked class absent from this window and move on."""
        walk = self.walk
        if self.active and walk is not None and walk.ask_classes:
            finished = not walk.skip()
            self.show()
            if finished:
                self.prompt.value = "Every window has been visited: run the CRF, or go back to add strokes."

    # ----------------------------------------------------------------- display
    def show(self) -> None:
        """Zoom to the current window, outline it, select the asked class, update prompt and coverage."""
        walk, panel = self.walk, self._panel
        if walk is None or not self.active:
            return
        win = walk.windows[walk.window]
        classes = classes_from_layer(panel.strokes_layer) if panel.strokes_layer is not None else None
        where = f"Window {walk.step + 1} of {len(walk.order)}"
        self.next_button.enabled = not walk.finished  # nothing after the last step (trial 36 found Next offered)
        self.back_button.enabled = walk.step > 0 or walk.class_index > 0
        if walk.ask_classes and classes is not None:
            panel.choose_class(walk.label)
            self.prompt.value = (f"{where}: paint a few examples of <b>{classes.names[walk.class_index]}</b> "
                                 f"(class {walk.label} of {walk.n_classes}), or mark it absent here."
                                 + (" The last step: then Run CRF." if walk.finished else ""))
        else:
            self.prompt.value = (f"Review {walk.step + 1} of {len(walk.order)}: window {walk.window + 1}, the least "
                                 "certain first. Add strokes where the result is wrong."
                                 + (" The last window: then Run CRF." if walk.finished else ""))
            if panel.strokes_layer is not None:
                panel.viewer.layers.selection.active = panel.strokes_layer
        self.show_coverage()
        current = self._outline("current", [win], ["#ffd700"], width=None)  # made last: drawn on top
        if current is not None:
            panel.viewer.fit_to_view(layers=[current], margin=0.05)
        self.coverage.native.selectColumn(walk.window)

    def show_coverage(self) -> None:
        """Fill the coverage table and colour the windows' outlines by state (done / started / empty).

        The classes marked absent and the time per window are the guided pass's, during a review too.
        """
        walk = self.walk
        if walk is None:
            return
        state = self._panel.image_state()
        guided = state.walk if state is not None and state.walk is not None and state.walk.windows == walk.windows \
            else walk
        coverage = self._coverage(walk)
        states = window_states(coverage, guided.skipped)
        classes = None if self._panel.strokes_layer is None else classes_from_layer(self._panel.strokes_layer)
        names = list(classes.names) if classes is not None else [str(k + 1) for k in range(walk.n_classes)]
        windows = range(len(states))
        rows = [[("absent" if (w, k) in guided.skipped and not coverage[w, k] else int(coverage[w, k]))
                 for w in windows] for k in range(walk.n_classes)]
        rows += [list(states), [round(guided.seconds[w]) for w in windows]]
        self.coverage.value = {"data": rows, "columns": [str(w + 1) for w in windows],
                               "index": [*names[:walk.n_classes], "state", "seconds"]}
        self.coverage.visible = True
        table = self.coverage.native
        for r in range(table.rowCount()):
            item = table.verticalHeaderItem(r)
            if item is not None:
                item.setToolTip(item.text())
        for c in range(table.columnCount()):
            item = table.horizontalHeaderItem(c)
            if item is not None:
                item.setToolTip(f"window {c + 1}")
        # every row in view (a scroll bar hid the last classes' rows)
        rows_height = sum(table.rowHeight(r) for r in range(table.rowCount()))
        bar = table.horizontalScrollBar().sizeHint().height() if table.horizontalScrollBar().isVisible() else 0
        table.setFixedHeight(min(COVERAGE_MAX_HEIGHT, table.horizontalHeader().height() + rows_height + bar
                                 + 2 * table.frameWidth()))
        self._outline("windows", walk.windows, [STATE_COLORS[s] for s in states], width=None)

    def highlight_empty(self) -> list[int]:
        """Outline the windows that have no strokes before a run; return their numbers (1-based).

        In a guided pass the pass's outlines show every window's state;
        otherwise only the empty windows are outlined, in red, in a layer
        named for them (trial 29 took the pass's orange and red outlines,
        unasked for, for one colour), removed once none is empty.
        """
        panel = self._panel
        if panel.image_layer is None or panel.strokes_layer is None:
            return []
        classes = classes_from_layer(panel.strokes_layer)
        walk = self.walk
        guided = walk is not None and walk.windows == self._windows()
        if not guided:
            n = len(classes) if classes is not None else int(np.asarray(panel.strokes_layer.data).max(initial=1))
            walk = GuidedWalk(self._windows(), max(n, 1))  # for the outlines only: not a guided pass
        if len(walk.windows) < 2:
            self._remove_layer("empty")
            return []
        coverage = self._coverage(walk)
        empty = [w + 1 for w in range(len(walk.windows)) if not coverage[w].any()]
        if not empty or len(empty) == len(walk.windows):  # no stroke at all: the run says so, no outline needed
            self._remove_layer("empty")
            return empty
        if guided:
            states = window_states(coverage, walk.skipped)
            self._outline("windows", walk.windows, [STATE_COLORS[s] for s in states], width=None)
        else:
            self._outline("empty", [walk.windows[w - 1] for w in empty], [STATE_COLORS["empty"]] * len(empty),
                          width=None)
        show_warning(f"{len(empty)} of {len(walk.windows)} windows have no strokes (outlined in red: "
                     f"{', '.join(map(str, empty))}); their labels come from strokes elsewhere.")
        return empty

    # ----------------------------------------------------------------- layers
    def _layer_name(self, kind: str) -> str:
        what = {"windows": "guide windows", "current": "current window", "empty": "windows without strokes",
                "points": "places to check"}[kind]
        return f"{self._panel.image_layer.name} {what}"

    def _outline(self, kind: str, windows: list, colors: list[str], width: float | None) -> Any:
        """Show ``windows`` as rectangle outlines in this kind's Shapes layer (made, or updated); return it."""
        panel = self._panel
        image = panel.image_layer
        if image is None:
            return None
        state = panel.image_state()
        key = state.guide_keys.get(kind)
        layer = find_layer(panel.viewer.layers, key)
        if layer is None and key is not None and not self.active:
            return None  # removed by the user after the pass: back with the next pass, not each run (trial 35)
        rects = [np.array([[w.y0 - 0.5, w.x0 - 0.5], [w.y1 - 0.5, w.x1 - 0.5]]) for w in windows]
        edge = 5.0 if kind == "current" else 2.0
        edge = edge * max(image_data_from_layer(image).shape) / 1000
        if layer is None:
            layer = unwrap(panel.viewer.add_shapes(rects, shape_type="rectangle", edge_color=colors,
                                                   face_color="transparent", edge_width=edge,
                                                   name=self._layer_name(kind), scale=image.scale,
                                                   translate=image.translate, affine=image.affine.affine_matrix,
                                                   metadata={META_KEY: {"role": _ROLE}}))
            layer.editable = False  # an outline to look at, not a shape to edit
            state.guide_keys[kind] = layer_key(layer)
        else:
            layer.data = rects
            layer.shape_type = ["rectangle"] * len(rects)
            layer.edge_color = colors
            layer.edge_width = [edge] * len(rects)
        if panel.strokes_layer is not None:
            panel.viewer.layers.selection.active = panel.strokes_layer
        return layer

    def _remove_layer(self, kind: str) -> None:
        state = self._panel.image_state()
        if state is None:
            return
        layer = find_layer(self._panel.viewer.layers, state.guide_keys.pop(kind, None))
        if layer is not None:
            self._panel.viewer.layers.remove(layer.name)
