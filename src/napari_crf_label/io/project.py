"""A labelling project: many images of one kind, the same classes, one output folder (no Qt).

The project file is JSON (``*.json``, safe to share: no pickles) holding
the classes, the run settings and per image its path (relative to the
project file), status, annotation time, stroke pixels and written outputs.
Beside it, in the output folder:

- ``sessions/<stem>_session.npz``: each image's strokes (the usual session);
- ``results/<stem>_result.npz``: the labels and class probabilities of the
  last run (what ``project export`` writes from; the probabilities in the
  ``.mat``'s steps of 1/4096, as uint16), with the digest of the strokes it
  was made from;
- ``drafts/<stem>_draft.png``: a draft labelling of an image without strokes;
- ``<project>_samples.npz``: the pixel classifier's training samples of
  every labelled image (features, classes, image index), capped and
  balanced per class and image, so any image starts from what the others
  taught; the classifier is retrained from them on load.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classes import ClassSet
from ..errors import InputError
from .atomic import atomic_path
from .export import from_steps, probability_steps

__all__ = ["Project", "ProjectError", "ImageEntry", "create_project", "load_project", "STATUSES",
           "PROJECT_FORMAT", "PROJECT_VERSION", "strokes_digest", "relative_path"]

PROJECT_FORMAT = "napari-crf-label project"
PROJECT_VERSION = 1
#: Image states, in the order work moves them.
STATUSES = ("not started", "painted", "labelled", "exported")
#: Statuses of an image without a current result: never run, or painted since its last run.
UNLABELLED = ("not started", "painted")
#: Training samples kept per class and image in the project (balanced, seeded draw).
SAMPLES_PER_CLASS = 2000
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


class ProjectError(InputError):
    """A project file is missing, corrupt, of another version, or asked to do what it cannot."""


def strokes_digest(strokes: np.ndarray) -> str:
    """Return a short digest of a stroke array (a result is current while its strokes' digest matches)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(str(strokes.shape).encode())
    h.update(np.ascontiguousarray(strokes.astype(np.uint16)).data)
    return h.hexdigest()


@dataclass
class ImageEntry:
    """One image of a project and where its work stands."""

    path: str  # as stored: relative to the project file's folder when it lies below it
    status: str = "not started"
    seconds: float = 0.0
    stroke_pixels: int = 0
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """The image's file stem (the base of its output names)."""
        return Path(self.path).stem


@dataclass
class Project:
    """A project file's content; see the module docstring for the files around it."""

    path: Path
    images: list[ImageEntry]
    classes: ClassSet
    output_folder: Path
    settings: dict = field(default_factory=dict)
    #: File name of the training samples in the output folder (kept in the project file, so a copy of
    #: the file under another name still finds them).
    samples_name: str = ""

    # ------------------------------------------------------------------ files
    @property
    def folder(self) -> Path:
        """The project file's folder (image paths are relative to it)."""
        return self.path.parent

    def image_path(self, i: int) -> Path:
        """Return the absolute path of image ``i``."""
        p = Path(self.images[i].path)
        return p if p.is_absolute() else self.folder / p

    def session_path(self, i: int) -> Path:
        """Return where image ``i``'s strokes are kept."""
        return self.output_folder / "sessions" / f"{self._unique_stem(i)}_session.npz"

    def result_path(self, i: int) -> Path:
        """Return where image ``i``'s last run is kept."""
        return self.output_folder / "results" / f"{self._unique_stem(i)}_result.npz"

    def draft_path(self, i: int) -> Path:
        """Return where image ``i``'s draft labels are written."""
        return self.output_folder / "drafts" / f"{self._unique_stem(i)}_draft.png"

    @property
    def samples_path(self) -> Path:
        """The training samples file."""
        return self.output_folder / (self.samples_name or f"{self.path.stem}_samples.npz")

    def _unique_stem(self, i: int) -> str:
        """Return image ``i``'s stem, made unique by its position when another image shares it."""
        stem = self.images[i].stem
        if sum(e.stem == stem for e in self.images) > 1:
            return f"{stem}-{i + 1}"
        return stem

    def output_stem(self, i: int) -> str:
        """Return the stem of image ``i``'s exported files."""
        return self._unique_stem(i)

    # ------------------------------------------------------------- the file
    def to_json(self) -> dict:
        """Return the project file's content."""
        return {"format": PROJECT_FORMAT, "version": PROJECT_VERSION,
                "classes": {"names": list(self.classes.names), "colors": list(self.classes.colors)},
                "output_folder": relative_path(self.output_folder, self.folder), "settings": self.settings,
                "samples": self.samples_path.name,
                "images": [{"path": e.path, "status": e.status, "seconds": round(e.seconds, 1),
                            "stroke_pixels": e.stroke_pixels, "outputs": e.outputs} for e in self.images]}

    def save(self) -> Path:
        """Write the project file (atomically: a crash leaves the previous version)."""
        self.output_folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        return self.path

    # ---------------------------------------------------------------- strokes
    def strokes(self, i: int) -> np.ndarray | None:
        """Return image ``i``'s saved strokes, or None when it has none yet."""
        from .session import load_session

        path = self.session_path(i)
        return load_session(path).strokes if path.is_file() else None

    def session_params(self, i: int) -> dict:
        """Return the parameters saved with image ``i``'s strokes (a guided pass, the time), or {}."""
        from .session import load_session

        path = self.session_path(i)
        return load_session(path).params if path.is_file() else {}

    def set_strokes(self, i: int, strokes: np.ndarray, seconds: float | None = None,
                    params: dict | None = None) -> bool | None:
        """Keep image ``i``'s strokes (annotation time, extra ``params``); its status follows (painted, or back).

        Return whether its kept result was made from these strokes (None when it has none).
        """
        from .session import Session, save_session

        strokes = np.asarray(strokes)
        entry = self.images[i]
        self.session_path(i).parent.mkdir(parents=True, exist_ok=True)
        if seconds is not None:
            entry.seconds = float(seconds)
        save_session(self.session_path(i), Session(strokes=strokes, classes=self.classes,
                                                   params={**self.settings, **(params or {}),
                                                           "annotation_seconds": entry.seconds},
                                                   image_path=str(self.image_path(i))))
        entry.stroke_pixels = int(np.count_nonzero(strokes))
        kept = self.result_digest(i)
        current = kept == strokes_digest(strokes)
        if not current:
            entry.status = "painted" if entry.stroke_pixels else "not started"
        if not entry.stroke_pixels:  # every stroke erased: the image teaches the others nothing (trial 37)
            self.drop_samples(i)
        self.save()
        return None if kept is None else current

    # ---------------------------------------------------------------- results
    def result_digest(self, i: int) -> str | None:
        """Return the strokes digest of image ``i``'s kept result, or None."""
        path = self.result_path(i)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            return str(z["strokes_digest"])

    def save_result(self, i: int, labels: np.ndarray, probabilities: np.ndarray, strokes: np.ndarray,
                    params: dict, seconds: float, given: np.ndarray | None = None) -> None:
        """Keep image ``i``'s labelling (for export), mark it labelled and remove its draft.

        ``given``: the strokes the run was given, when they differ from the
        result's ``strokes`` (a run drops those on no-data); their digest
        says whether the result is current for the strokes kept for the image.
        """
        path = self.result_path(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as fh:
            # not compressed: zlib took 7.2 s on a 4 MP image of 15 classes (napari froze after Run CRF; trial 27);
            # the probabilities in the .mat's steps as uint16: half of float32's 214 MB there, and the export
            # writes the same .mat as one made from the run itself
            np.savez(fh, labels=labels, probabilities=probability_steps(probabilities),
                     strokes=strokes.astype(np.uint16), params=np.array(json.dumps(params)),
                     seconds=np.array(seconds),
                     strokes_digest=np.array(strokes_digest(strokes if given is None else given)))
        # the image's draft (written by a run before it had strokes) would now contradict its labels (trial 30)
        self.draft_path(i).unlink(missing_ok=True)
        self.images[i].status = "labelled"
        self.save()

    def load_result(self, i: int) -> dict:
        """Return image ``i``'s kept labelling: labels, probabilities, strokes, params, seconds."""
        path = self.result_path(i)
        if not path.is_file():
            raise ProjectError(f"{self.images[i].path}: not labelled yet (run the project first)")
        with np.load(path, allow_pickle=False) as z:
            kept = z["probabilities"]  # float32 in results kept before stop 24
            probabilities = from_steps(kept) if kept.dtype == np.uint16 else kept
            return {"labels": z["labels"], "probabilities": probabilities, "strokes": z["strokes"],
                    "params": json.loads(str(z["params"])), "seconds": float(z["seconds"])}

    # ---------------------------------------------------------------- samples
    def samples(self, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the kept training samples (features, classes, image index), without image ``exclude``."""
        if not self.samples_path.is_file():
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int32)
        try:
            with np.load(self.samples_path, allow_pickle=False) as z:
                x, y, ids = z["features"], z["labels"].astype(np.int32), z["image"].astype(np.int32)
        except (OSError, KeyError, ValueError) as exc:
            raise ProjectError(f"{self.samples_path}: not a readable samples file ({exc})") from None
        keep = ids != exclude if exclude is not None else np.ones(len(ids), bool)
        return x[keep], y[keep], ids[keep]

    def drop_samples(self, i: int) -> None:
        """Remove image ``i``'s training samples (the samples file is rewritten only if it held some)."""
        x, y, ids = self.samples()
        if not (ids == i).any():
            return
        keep = ids != i
        with atomic_path(self.samples_path, overwrite=True) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, features=x[keep], labels=y[keep].astype(np.int16), image=ids[keep])

    def set_samples(self, i: int, features: np.ndarray, labels: np.ndarray) -> None:
        """Replace image ``i``'s training samples (capped and balanced per class)."""
        from ..features import cap_per_class

        x, y, ids = self.samples(exclude=i)
        keep = cap_per_class(np.asarray(labels), SAMPLES_PER_CLASS, seed=i)
        new_x, new_y = np.asarray(features, np.float32)[keep], np.asarray(labels, np.int32)[keep]
        if x.size and x.shape[1] != new_x.shape[1]:
            raise ProjectError(f"{self.images[i].path}: its features do not match the project's "
                               f"({new_x.shape[1]} against {x.shape[1]}): every image needs the same band count")
        x = new_x if not x.size else np.concatenate([x, new_x])
        y, ids = np.concatenate([y, new_y]), np.concatenate([ids, np.full(len(new_y), i, np.int32)])
        self.output_folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.samples_path, overwrite=True) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, features=x, labels=y.astype(np.int16), image=ids)

    # ---------------------------------------------------------------- summary
    def count(self, *statuses: str) -> int:
        """Return how many images are in any of ``statuses``."""
        return sum(e.status in statuses for e in self.images)

    def unlabelled(self) -> list[str]:
        """Return the listed paths of the images without a current result (not started, or painted since)."""
        return [e.path for e in self.images if e.status in UNLABELLED]

    def progress_text(self) -> str:
        """Return "12 of 40 labelled" (labelled or exported)."""
        return f"{self.count('labelled', 'exported')} of {len(self.images)} labelled"


def relative_path(path: Path, folder: Path) -> str:
    """Return ``path`` relative to ``folder`` when it lies below it, else absolute (as a string)."""
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(Path(os.path.abspath(folder))).as_posix() or "."
    except ValueError:
        return str(path)


def _image_files(items: Sequence[str | Path]) -> list[Path]:
    """Expand folders into their image files (sorted); keep files as given."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
                          and not f.name.startswith("."))
        elif p.is_file():
            out.append(p)
        else:
            raise ProjectError(f"{p}: no such image file or folder")
    if not out:
        raise ProjectError("no images found (jpg, png, tif) in " + ", ".join(map(str, items)))
    return out


def create_project(path: str | Path, images: Sequence[str | Path], classes: ClassSet,
                   output_folder: str | Path | None = None, settings: dict | None = None) -> Project:
    """Create a project file listing ``images`` (files or folders of them); refuse to replace one.

    Outputs go to ``output_folder`` (default: ``labels/`` beside the project
    file, as the panel's *Open folder as project* does: label PNGs written
    among the images would be listed as images by the next project made of
    that folder).
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        raise ProjectError(f"{path}: a project file ends in .json")
    if path.exists():
        raise ProjectError(f"{path}: exists already; open it instead (project status / run / export)")
    if not path.parent.is_dir():
        raise ProjectError(f"{path.parent}: no such folder for the project file")
    files = _image_files(images)
    folder = Path(os.path.abspath(path.parent))
    entries = [ImageEntry(relative_path(f, folder)) for f in files]
    out = Path(os.path.abspath(output_folder)) if output_folder is not None else folder / "labels"
    project = Project(Path(os.path.abspath(path)), entries, classes, out, dict(settings or {}),
                      f"{path.stem}_samples.npz")
    project.save()
    return project


def load_project(path: str | Path) -> Project:
    """Read a project file (ProjectError with a clear message when it is not a current one)."""
    path = Path(os.path.abspath(path))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such project file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectError(f"{path}: not a readable project file ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != PROJECT_FORMAT:
        raise ProjectError(f"{path}: not a napari-crf-label project file")
    version = raw.get("version")
    if version != PROJECT_VERSION:
        raise ProjectError(f"{path}: project file version {version!r}; this napari-crf-label reads version "
                           f"{PROJECT_VERSION} (create the project again, or use the version that made it)")
    try:
        classes = ClassSet.from_names(raw["classes"]["names"], raw["classes"]["colors"])
        out = Path(raw["output_folder"])
        out = out if out.is_absolute() else path.parent / out
        images = []
        for item in raw["images"]:
            entry = ImageEntry(str(item["path"]), str(item["status"]), float(item["seconds"]),
                               int(item["stroke_pixels"]), {str(k): str(v) for k, v in item["outputs"].items()})
            if entry.status not in STATUSES:
                raise ValueError(f"unknown status {entry.status!r}")
            images.append(entry)
        settings = dict(raw.get("settings") or {})
        samples = str(raw.get("samples") or "")
        if samples and (Path(samples).name != samples or not samples.endswith(".npz")):
            raise ValueError(f"samples must be a .npz file name in the output folder, got {samples!r}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProjectError(f"{path}: corrupt project file ({type(exc).__name__}: {exc})") from None
    if not images:
        raise ProjectError(f"{path}: the project lists no images")
    return Project(path, images, classes, Path(os.path.abspath(out)), settings, samples)
