"""``napari-crf-label project ...``: create, fill, run and export a labelling project from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .classes import ClassSet, read_class_files
from .dataset import export_project, run_project
from .errors import InputError
from .image_io import read_image
from .io.project import ProjectError, create_project, load_project
from .strokes import read_strokes

__all__ = ["add_project_parser", "project_command"]


def add_project_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``project`` and its sub-commands to the main parser."""
    project = sub.add_parser("project", help="label a dataset: many images, the same classes, one output folder")
    cmds = project.add_subparsers(dest="project_command", required=True)
    create = cmds.add_parser("create", help="make a project file listing images (files or folders of them)")
    create.add_argument("project", type=Path, help="the project file to create (*.json)")
    create.add_argument("images", type=Path, nargs="+", help="image files, or folders of jpg/png/tif images")
    classes = create.add_mutually_exclusive_group(required=True)
    classes.add_argument("--classes", help="comma-separated class names, e.g. water,sand,veg")
    classes.add_argument("--labels", type=Path, help="labels file: one class name a line")
    create.add_argument("--colors", type=Path, help="colors file: one color a line (with --labels)")
    create.add_argument("-o", "--outdir", type=Path, help="output folder (default: labels/ beside the project file)")
    create.add_argument("-s", "--scale", type=float, help="downscale factor for the CRF, 0 < s <= 1 (default 1)")
    create.add_argument("-w", "--window", type=int, help="largest tile in pixels (default: 1024 at CRF resolution)")
    status = cmds.add_parser("status", help="one line per image: name, status, stroke pixels")
    status.add_argument("project", type=Path)
    add = cmds.add_parser("add-strokes", help="give an image of the project its strokes (a label image or session)")
    add.add_argument("project", type=Path)
    add.add_argument("image", help="the image, as listed by 'project status' (or its file name)")
    add.add_argument("strokes", type=Path, help="label image (PNG/TIFF, 0 = none, k = class k) or *_session.npz")
    run = cmds.add_parser("run", help="label every image with strokes, draft the others (resumable)")
    run.add_argument("project", type=Path)
    run.add_argument("--workers", type=int, default=1, help="worker processes for the tiles (default 1)")
    run.add_argument("--scheduler", metavar="ADDRESS", help="run the tiles on an existing dask cluster")
    export = cmds.add_parser("export", help="write every labelled image's outputs into the output folder")
    export.add_argument("project", type=Path)
    export.add_argument("--overwrite", action="store_true", help="replace existing output files")
    export.add_argument("-o", "--outdir", type=Path,
                        help="write into this folder instead (a copy: the project records its own folder's outputs)")


def _bar(done: int, total: int, name: str) -> None:
    """Print one progress line per image (a log as much as a bar: scripts read it too)."""
    print(f"[{done}/{total}] {name}" if name else f"[{done}/{total}] starting", file=sys.stderr, flush=True)


def _find(project, name: str) -> int:
    """Return the index of the image listed as ``name`` (its listed path or its file name)."""
    for i, entry in enumerate(project.images):
        if name in (entry.path, Path(entry.path).name) or Path(name).resolve() == project.image_path(i).resolve():
            return i
    raise ProjectError(f"{name}: not an image of this project (see 'project status')")


def project_command(args: argparse.Namespace) -> int:
    """Run a ``project`` sub-command."""
    cmd = args.project_command
    if cmd == "create":
        if args.colors and not args.labels:
            raise InputError("--colors needs --labels")
        classes = read_class_files(args.labels, args.colors) if args.labels else ClassSet.from_names(args.classes)
        settings = {k: v for k, v in (("scale", args.scale), ("window", args.window)) if v is not None}
        project = create_project(args.project, args.images, classes, args.outdir, settings)
        print(f"created {project.path}: {len(project.images)} image(s), {len(classes)} classes, "
              f"outputs in {project.output_folder}")
        return 0
    project = load_project(args.project)
    if cmd == "status":
        width = max(len(e.path) for e in project.images)
        for e in project.images:
            print(f"{e.path:<{width}}  {e.status:<11}  {e.stroke_pixels} stroke pixels")
        print(project.progress_text())
        return 0
    if cmd == "add-strokes":
        i = _find(project, args.image)
        data = read_image(project.image_path(i))
        strokes = read_strokes(args.strokes, like=data)
        if int(strokes.max(initial=0)) > len(project.classes):
            raise InputError(f"{args.strokes}: class {int(strokes.max())} but the project has "
                             f"{len(project.classes)} classes")
        project.set_strokes(i, strokes)
        print(f"{project.images[i].path}: {project.images[i].stroke_pixels} stroke pixels")
        return 0
    if cmd == "run":
        report = run_project(project, progress=_bar, workers=args.workers, client=args.scheduler)
        print(f"labelled {len(report.labelled)}, drafted {len(report.drafted)}, already current "
              f"{len(report.skipped)}; {project.progress_text()}")
        for path, why in report.failed:
            print(f"napari-crf-label: {path}: {why}", file=sys.stderr)
        return 2 if report.failed else 0
    report = export_project(project, overwrite=args.overwrite, progress=_bar, outdir=args.outdir)
    unchanged = (f"; {len(report.unchanged)} already exported and unchanged (--overwrite writes them again)"
                 if report.unchanged else "")
    folder = args.outdir or project.output_folder
    print(f"exported {len(report.exported)} image(s) to {folder}{unchanged}")
    unlabelled = project.unlabelled()
    if unlabelled:  # trial 39: named nowhere
        print(f"not exported, not labelled or painted since their last run: {', '.join(unlabelled)}")
    if report.kept:  # the others were written all the same
        why = ("run again since exported; their earlier outputs were kept" if args.outdir is None else
               f"their files exist in {folder}; kept")
        print(f"napari-crf-label: {', '.join(report.kept)}: {why}: add --overwrite to replace them", file=sys.stderr)
        return 2
    return 0
