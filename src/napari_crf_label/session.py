"""A saved labelling session: strokes, classes and parameters in one ``.npz``.

The file holds plain arrays only (no pickle), so loading one from elsewhere
is safe: ``strokes`` (uint8/uint16 H x W), ``class_names`` and
``class_colors`` (unicode arrays), ``params`` (a JSON string),
``image_path`` and ``format_version``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classes import ClassSet
from .errors import InputError

__all__ = ["Session", "SessionError", "save_session", "load_session", "SESSION_SUFFIX"]

SESSION_SUFFIX = "_session.npz"
FORMAT_VERSION = 1


class SessionError(InputError):
    """A session file is missing, corrupt or of an unknown version."""


@dataclass
class Session:
    """Everything needed to resume labelling one image."""

    strokes: np.ndarray
    classes: ClassSet
    params: dict = field(default_factory=dict)
    image_path: str = ""


def save_session(path: str | Path, session: Session) -> Path:
    """Write ``session`` to ``path`` atomically (temporary file, then rename)."""
    from .export import atomic_path

    path = Path(path)
    dtype = np.uint8 if len(session.classes) < 256 else np.uint16
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                strokes=session.strokes.astype(dtype),
                class_names=np.array(session.classes.names, dtype=str),
                class_colors=np.array(session.classes.colors, dtype=str),
                params=np.array(json.dumps(session.params)),
                image_path=np.array(str(session.image_path)),
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
            return Session(strokes=np.array(z["strokes"]), classes=classes,
                           params=json.loads(str(z["params"])), image_path=str(z["image_path"]))
    except SessionError:
        raise
    except FileNotFoundError:
        raise SessionError(f"{path}: session file not found") from None
    except Exception as exc:  # zip, key, JSON and value errors all mean "corrupt"
        raise SessionError(f"{path}: not a readable session file ({type(exc).__name__}: {exc})") from None
