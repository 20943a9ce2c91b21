"""Old import path of :mod:`napari_crf_label.io.session` (sessions now live under ``io/``)."""

from .io.session import (
    FORMAT_VERSION,
    PAUSE_SECONDS,
    SESSION_SUFFIX,
    AnnotationClock,
    Session,
    SessionError,
    autosave_dir,
    autosave_path,
    load_session,
    save_session,
)

__all__ = ["FORMAT_VERSION", "PAUSE_SECONDS", "SESSION_SUFFIX", "AnnotationClock", "Session", "SessionError",
           "autosave_dir", "autosave_path", "load_session", "save_session"]
