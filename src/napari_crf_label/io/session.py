"""A saved labelling session: strokes, classes and parameters in one ``.npz``.

The file holds plain arrays only (no pickle), so loading one from elsewhere
is safe: ``strokes`` (uint8/uint16 H x W), ``class_names`` and
``class_colors`` (unicode arrays), ``params`` (a JSON string),
``image_path`` and ``format_version``.

Since format 2 the image path is stored relative to the session file's
folder (absolute only when no relative path exists, e.g. another drive),
and a relative path is always resolved against that folder, never against
the current working folder: a session moved together with its image, or
opened from elsewhere, finds its own image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classes import ClassSet
from ..errors import InputError
from ..strokes import StrokesError, stroke_classes
from .atomic import atomic_path

__all__ = ["Session", "SessionError", "save_session", "load_session", "session_facts", "SESSION_SUFFIX",
           "AnnotationClock", "keep_earlier_autosave", "autosave_dir", "autosave_path"]

SESSION_SUFFIX = "_session.npz"
FORMAT_VERSION = 2


class SessionError(InputError):
    """A session file is missing, corrupt or of an unknown version."""


@dataclass
class Session:
    """Everything needed to resume labelling one image."""

    strokes: np.ndarray
    classes: ClassSet
    params: dict = field(default_factory=dict)
    image_path: str = ""


def save_session(path: str | Path, session: Session, staging=None) -> Path:
    """Write ``session`` to ``path`` atomically (temporary file, then rename).

    An existing file is replaced (sessions are saved over and over); pass an
    export ``Staging`` to make the rename part of a larger commit.
    """
    path = Path(path)
    dtype = np.uint8 if len(session.classes) < 256 else np.uint16
    image_path = _relative_image_path(session.image_path, path)
    with atomic_path(path, overwrite=True, staging=staging) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                strokes=session.strokes.astype(dtype),
                class_names=np.array(session.classes.names, dtype=str),
                class_colors=np.array(session.classes.colors, dtype=str),
                params=np.array(json.dumps(session.params)),
                image_path=np.array(image_path),
                format_version=np.array(FORMAT_VERSION),
            )
    return path


def load_session(path: str | Path) -> Session:
    """Read a session written by :func:`save_session`.

    Raises
    ------
    SessionError
        If the file is missing, not a session, or corrupt. The file is left
        untouched.

    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            if version > FORMAT_VERSION:
                raise SessionError(f"{path}: session format {version} is newer than this version understands")
            classes = ClassSet(tuple(str(n) for n in z["class_names"]), tuple(str(c) for c in z["class_colors"]))
            strokes = np.array(z["strokes"])
            if strokes.ndim != 2:
                raise SessionError(f"{path}: strokes must be 2-D, got shape {strokes.shape}")
            stroke_classes(strokes, f"{path}: strokes")  # the same check as every stroke source
            return Session(strokes=strokes, classes=classes,
                           params=json.loads(str(z["params"])),
                           image_path=_resolve_image_path(str(z["image_path"]), path))
    except (SessionError, StrokesError):
        raise
    except FileNotFoundError:
        raise SessionError(f"{path}: session file not found") from None
    except Exception as exc:  # zip, key, JSON and value errors all mean "corrupt"
        raise SessionError(f"{path}: not a readable session file ({type(exc).__name__}: {exc})") from None


def _relative_image_path(image_path: str | Path, session_path: Path) -> str:
    """Return the image path to store: relative to the session's folder when possible."""
    if not str(image_path):
        return ""
    image = os.path.abspath(image_path)
    try:
        return os.path.relpath(image, os.path.abspath(session_path.parent))
    except ValueError:  # another drive (Windows): no relative path exists
        return image


def _resolve_image_path(stored: str, session_path: Path) -> str:
    """Return the absolute image path of a stored one (relative ones against the session's folder)."""
    if not stored:
        return ""
    return os.path.normpath(os.path.join(os.path.abspath(session_path.parent), stored))


#: Gaps between edits longer than this count as a pause, not annotation time.
PAUSE_SECONDS = 60.0


class AnnotationClock:
    """Measures time spent annotating from stroke events, leaving out pauses.

    Each event adds the time since the previous one, capped at
    :data:`PAUSE_SECONDS` (a longer gap is a break, counted as that cap).
    """

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = float(seconds)
        self._last: float | None = None

    def tick(self, now: float | None = None) -> None:
        """Record an edit at ``now`` (default: the monotonic clock)."""
        import time

        now = time.monotonic() if now is None else now
        if self._last is not None:
            self.seconds += min(max(now - self._last, 0.0), PAUSE_SECONDS)
        self._last = now

    @property
    def started(self) -> bool:
        """True once any edit was recorded."""
        return self._last is not None or self.seconds > 0


def autosave_dir() -> Path:
    """Return the folder for autosaved sessions.

    ``$NAPARI_CRF_LABEL_AUTOSAVE_DIR`` if set, else
    ``$XDG_CACHE_HOME/napari-crf-label/autosave`` (``~/.cache/...``).
    """
    if os.environ.get("NAPARI_CRF_LABEL_AUTOSAVE_DIR"):
        return Path(os.environ["NAPARI_CRF_LABEL_AUTOSAVE_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "napari-crf-label" / "autosave"


def keep_earlier_autosave(path: Path) -> Path:
    """Move an autosave aside under a name of its own (its time, never an existing name); return that name.

    For an autosave of an earlier session that this one was offered but did
    not restore: this session's autosave takes ``path``, the earlier strokes
    stay in a session file of their own (``File > Open`` reads it).
    """
    import time

    base = path.name.removesuffix(SESSION_SUFFIX)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
    target, k = path.with_name(f"{base}-{stamp}{SESSION_SUFFIX}"), 1
    while target.exists():
        k += 1
        target = path.with_name(f"{base}-{stamp}-{k}{SESSION_SUFFIX}")
    path.rename(target)
    return target


def autosave_path(image_key: str, stem: str) -> Path:
    """Return the autosave file of an image, from a key that identifies it (its path or layer name)."""
    import hashlib

    digest = hashlib.sha1(image_key.encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60]
    return autosave_dir() / f"{safe}-{digest}{SESSION_SUFFIX}"


def session_facts(params: dict, n_bands: int) -> dict:
    """Return what a saved session's ``params`` add to the outputs (none without a session: strokes as a raster).

    Its annotation time and guided pass for the report (trial 34 read
    "annotation time: not recorded" for a session that held it), and the
    bands the panel showed the image in, for the figure (those of an image
    of ``n_bands`` bands only).
    """
    if not params:
        return {}
    from ..bands import saved_bands
    from ..guided import GuidedWalk

    facts: dict = {"annotation_seconds": params.get("annotation_seconds")}
    try:
        facts["guided"] = GuidedWalk.from_dict(params["guided"]) if "guided" in params else None
    except ValueError:  # a pass saved for other windows or classes: the report goes without it
        facts["guided"] = None
    bands = saved_bands(params.get("bands"), n_bands)
    if bands is not None:
        facts["bands"] = bands
    return facts
