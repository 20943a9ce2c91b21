"""Labelling a dataset: every image of a project, each starting from what the others taught (no Qt).

The pixel classifier of each image is trained on its own strokes plus the
stroke samples of every other labelled image of the project (with their
own image's features), so an image without strokes gets a draft, and one
with a few correction strokes gets the CRF's refinement of what all the
images taught. See :mod:`napari_crf_label.io.project` for the files.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, OutputExistsError
from .image_io import ImageData, read_image
from .io.export import check_export, export_all
from .io.project import Project, ProjectError, relative_path, strokes_digest
from .io.session import session_facts
from .pipeline import LabelResult, label_image, stroke_training_samples

__all__ = ["PROJECT_REACH", "run_project", "iter_run_project", "export_project", "draft_labels",
           "label_in_project", "kept_result", "RunReport", "ExportReport"]

#: The geodesic proximity's reach in a project (CRF pixels): with samples carried from the other images the
#: classifier is trusted further from this image's strokes (measured, benchmarks/quality/RESULTS.md).
PROJECT_REACH = 1000.0
#: Settings of a project run that the labelling takes (the rest of a project's settings are ignored).
RUN_KEYS = ("scale", "window", "overlap", "method", "reach", "gt_prob", "sxy_gaussian", "compat_gaussian",
            "sxy_bilateral", "schan", "compat_bilateral", "iterations")


@dataclass
class RunReport:
    """What a project run did: images labelled, drafted, skipped as current, and failures with their message."""

    labelled: list[str]
    drafted: list[str]
    skipped: list[str]
    failed: list[tuple[str, str]]


@dataclass
class ExportReport:
    """What a project export did: images written, skipped as exported and unchanged, and skipped as stale.

    ``kept``: images run again since an export whose outputs are still there; they were left as they are
    (``overwrite`` replaces them).
    """

    exported: list[str]
    unchanged: list[str]
    kept: list[str] = field(default_factory=list)


def _settings(project: Project, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the labelling keywords of a project (its saved settings, then ``extra``)."""
    kw = {"reach": PROJECT_REACH, **{k: v for k, v in project.settings.items() if k in RUN_KEYS}}
    kw.update({k: v for k, v in (extra or {}).items() if k in RUN_KEYS and v is not None})
    return kw


def _carried(project: Project, i: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the training samples of every other image of the project (None when there are none)."""
    x, y, _ = project.samples(exclude=i)
    return (x, y) if len(y) else None


def update_samples(project: Project, i: int, data: ImageData, strokes: np.ndarray, **settings: Any) -> int:
    """Compute image ``i``'s training samples from its strokes and keep them in the project; return their count."""
    x, y = stroke_training_samples(data, strokes, classes=project.classes, **settings)
    project.set_samples(i, x, y)
    return len(y)


def label_in_project(project: Project, i: int, data: ImageData, strokes: np.ndarray,
                     progress: Callable[[int, int], None] | None = None, **settings: Any) -> LabelResult:
    """Label image ``i`` of a project: its strokes plus every other image's samples; keep the result."""
    kw = {**_settings(project), **settings}
    update_samples(project, i, data, strokes, **kw)
    result = label_image(data, strokes, classes=project.classes, samples=_carried(project, i), progress=progress,
                         **kw)
    project.save_result(i, result.labels, result.probabilities, result.strokes, result.params, result.seconds,
                        given=strokes)
    return result


def draft_labels(project: Project, i: int, data: ImageData, **settings: Any) -> LabelResult | None:
    """Label image ``i`` without strokes from the other images' samples (None when no image has any)."""
    carried = _carried(project, i)
    if carried is None:
        return None
    kw = {**_settings(project), **settings}
    if kw.get("method") == "crf":
        kw["method"] = "features+crf"  # a draft needs the classifier
    return label_image(data, np.zeros(data.shape, np.uint8), classes=project.classes, samples=carried, **kw)


def _write_draft(project: Project, i: int, labels: np.ndarray) -> Path:
    """Write a draft as a greyscale label PNG (class index, 0 = no data) in the project's drafts folder."""
    from PIL import Image

    from .io.atomic import atomic_path

    path = project.draft_path(i)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        Image.fromarray(labels.astype(np.uint8)).save(tmp, format="PNG")
    return path


def iter_run_project(project: Project, *, workers: int = 1, client: Any = None, **settings: Any
                     ) -> Generator[tuple[int, int, str], None, RunReport]:
    """Label every image that has strokes and draft the others; yield ``(done, total, image)`` per image.

    Resumable: an image whose kept result was made from its current strokes
    is skipped, and each image's result is saved as soon as it is done, so
    an interrupted run picks up where it stopped. The samples of every
    painted image are gathered first, so each image starts from all the
    others. A failing image is reported and the run goes on.
    """
    kw = {**_settings(project, settings), "workers": workers, "client": client}
    report = RunReport([], [], [], [])
    total = len(project.images)
    todo: list[int] = []  # indices only: images are read again below, so memory holds one image at a time
    for i, entry in enumerate(project.images):
        try:
            strokes = project.strokes(i)
            painted = strokes is not None and bool(strokes.any())
            if painted and project.result_digest(i) == strokes_digest(strokes):
                report.skipped.append(entry.path)
                continue
            if painted:
                update_samples(project, i, read_image(project.image_path(i)), strokes, **_settings(project, settings))
            todo.append(i)
        except InputError as exc:
            report.failed.append((entry.path, str(exc)))
    done = len(report.skipped)
    yield done, total, ""
    for i in todo:
        entry = project.images[i]
        try:
            data, strokes = read_image(project.image_path(i)), project.strokes(i)
            if strokes is not None and strokes.any():
                result = label_image(data, strokes, classes=project.classes, samples=_carried(project, i), **kw)
                # the digest of the strokes kept for the image, not of the result's (those on no-data
                # dropped): else every run labelled the image again and a plain export refused (trial 30)
                project.save_result(i, result.labels, result.probabilities, result.strokes, result.params,
                                    result.seconds, given=strokes)
                report.labelled.append(entry.path)
            else:
                draft = draft_labels(project, i, data, **kw)
                if draft is not None:
                    _write_draft(project, i, draft.labels)
                    report.drafted.append(entry.path)
                else:
                    report.failed.append((entry.path, "no strokes, and no other image has any to draft from"))
        except InputError as exc:
            report.failed.append((entry.path, str(exc)))
        done += 1
        yield done, total, entry.path
    return report


def run_project(project: Project, *, progress: Callable[[int, int, str], None] | None = None, **kwargs: Any
                ) -> RunReport:
    """Do what :func:`iter_run_project` does, calling ``progress(done, total, image)`` per image."""
    gen = iter_run_project(project, **kwargs)
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(*step)


def export_project(project: Project, *, overwrite: bool = False,
                   progress: Callable[[int, int, str], None] | None = None,
                   outdir: str | Path | None = None) -> ExportReport:
    """Write every labelled image's outputs into the project's output folder (or ``outdir``).

    An image exported since its last run, whose outputs are all still
    there, is skipped (a second export after labelling more images writes
    only those), unless ``overwrite``. An image run again since its export
    keeps its old outputs unless ``overwrite``, and is listed in the
    report's ``kept``; the others are written all the same (trial 30: one
    such image stopped the export of every other). Into another
    ``outdir`` (a copy to hand on; trial 37 looked for one) every labelled
    image is written and nothing is recorded in the project; images whose
    files exist there are the report's ``kept`` unless ``overwrite``.
    """
    labelled = [i for i, e in enumerate(project.images) if e.status in ("labelled", "exported")]
    if not labelled:
        raise ProjectError("no image is labelled yet: paint strokes (project add-strokes or the panel) and run")
    record = outdir is None or Path(outdir).resolve() == project.output_folder.resolve()
    folder = project.output_folder if record else Path(outdir)
    unchanged = [] if overwrite or not record else [i for i in labelled if _exported_as_is(project, i)]
    folder.mkdir(parents=True, exist_ok=True)
    ready, stale = [], []
    for i in labelled:  # every target checked before any is written (images are read again below, so memory
        # holds one image at a time)
        if i in unchanged:
            continue
        try:
            check_export(folder, project.output_stem(i), read_image(project.image_path(i)).is_georeferenced,
                         overwrite, protect=[project.image_path(i)])
            ready.append(i)
        except OutputExistsError:
            stale.append(i)
    report = ExportReport([], [project.images[i].path for i in unchanged], [project.images[i].path for i in stale])
    if progress is not None and ready:
        progress(0, len(ready), "")  # how many, before the first is written
    for n, i in enumerate(ready, start=1):
        entry = project.images[i]
        data = read_image(project.image_path(i))
        # the guided pass saved with the image's strokes, for its session and report (trial 39 found it dropped)
        facts = {**session_facts(project.session_params(i), data.array.shape[2]),
                 "annotation_seconds": entry.seconds or None}
        paths = export_all(kept_result(project, i), data, folder, project.output_stem(i), overwrite=overwrite,
                           protect=[project.image_path(i)], **facts)
        if record:
            entry.outputs = {k: relative_path(p, project.folder) for k, p in paths.items()}  # shareable
            entry.status = "exported"
            project.save()
        report.exported.append(entry.path)
        if progress is not None:
            progress(n, len(ready), entry.path)
    return report


def kept_result(project: Project, i: int) -> LabelResult:
    """Return image ``i``'s labelling as the project kept it, as a run returns it (for an export or the panel)."""
    kept = project.load_result(i)
    return LabelResult(labels=kept["labels"], probabilities=kept["probabilities"], classes=project.classes,
                       strokes=kept["strokes"].astype(np.int32), params=kept["params"], seconds=kept["seconds"])


def _exported_as_is(project: Project, i: int) -> bool:
    """Return True when image ``i`` was exported after its last run and every output it wrote is still there."""
    entry = project.images[i]
    # a run sets the status back to labelled, so "exported" means these outputs show the kept result
    return (entry.status == "exported" and bool(entry.outputs)
            and all((project.folder / p).is_file() for p in entry.outputs.values()))
