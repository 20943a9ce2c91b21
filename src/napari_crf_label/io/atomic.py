"""Atomic, all-or-nothing writes: every file this package writes goes through here.

A file is written to a short hidden temporary name beside its target and
only appears under its own name at :meth:`Staging.commit`, together with
the other files of the same staging:

- a target that must not be replaced is linked into place with
  ``os.link`` (or ``renameat2(RENAME_NOREPLACE)`` where hard links are not
  supported), which fails instead of replacing a file that appeared in the
  meantime (another export to the same folder);
- a target that may be replaced (``overwrite=True``) keeps a hidden second
  name (a hard link) while it is replaced atomically, and is put back if
  any later file of the commit fails, so a commit either places every file
  or leaves the folder as it was (and a target never vanishes meanwhile);
- commits into one folder are serialised by an advisory lock on the folder
  itself (``flock``), so two exports cannot interleave their renames;
- inputs of a run (``protect``) are never written over, with or without
  overwrite.

Temporaries are removed on any error, on Ctrl-C and, inside
:func:`terminate_as_interrupt`, on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError, OutputExistsError

__all__ = ["Staging", "atomic_path", "check_targets", "Terminated", "terminate_as_interrupt", "created_folder",
           "same_file"]

#: Characters of the target's name kept in a temporary name (the rest is random), so a
#: target whose own name just fits the file system's limit still gets a temporary.
TEMP_STEM_CHARS = 24


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; raised like Ctrl-C so every ``finally`` and staging abort runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` while the block runs (main thread only).

    A process killed by the default SIGTERM action runs no clean-up, so
    temporary files stay behind; raised as an exception, they are removed
    as on Ctrl-C.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Return True when two paths name the same file (hard links and symlinks included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _name_max(folder: Path) -> int:
    """Return the longest file name (bytes) the folder's file system allows."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def check_targets(targets: Iterable[str | Path], overwrite: bool = False,
                  protect: Iterable[str | Path] = ()) -> None:
    """Check, before any work, that every target can be written.

    Raises
    ------
    InputError
        A target is an input of the run, a folder, or has a name longer
        than its file system allows.
    OutputExistsError
        Targets exist and ``overwrite`` is off (all of them are named).

    """
    protect = [Path(p) for p in protect if p]
    existing = []
    for target in map(Path, targets):
        for source in protect:
            if same_file(target, source):
                raise InputError(f"{target} is an input of this run and is never written over; "
                                 "choose another output folder or rename the input")
        if target.is_dir():
            raise InputError(f"{target} is a folder; an output file cannot take its place")
        limit = _name_max(target.parent if target.parent.is_dir() else Path("."))
        if len(os.fsencode(target.name)) > limit:
            raise InputError(f"output name {target.name[:40]}... is {len(os.fsencode(target.name))} bytes, "
                             f"longer than the {limit} the folder allows; use a shorter image name or stem")
        if os.path.lexists(target):
            existing.append(str(target))
    if existing and not overwrite:
        raise OutputExistsError(f"output file(s) exist: {', '.join(existing)}; pass overwrite=True to replace them",
                                tuple(existing))


def _read_umask() -> int:
    """Return the process umask (read once at import: setting it is not thread-safe)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _temp_file(target: Path, tag: str = "part") -> Path:
    """Create an empty hidden temporary file beside ``target`` with a short name ending in its suffix."""
    stem = target.stem[:TEMP_STEM_CHARS]
    suffix = target.suffix if len(target.suffix) <= 16 else ""
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".{tag}{suffix}", dir=target.parent)
    os.close(fd)
    return Path(tmp)


_RENAME_NOREPLACE = 1


def _renameat2_noreplace(src: Path, dst: Path) -> None:
    """Rename without replacing, via Linux's renameat2 (raises OSError where unsupported)."""
    try:
        fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except (OSError, TypeError):  # no C library to look in (Windows)
        fn = None
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 not available")
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), _RENAME_NOREPLACE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(dst))


def _place_no_replace(tmp: Path, target: Path) -> None:
    """Make ``tmp`` appear as ``target``; FileExistsError if ``target`` exists (never replaced)."""
    try:
        os.link(tmp, target)
        os.unlink(tmp)
        return
    except FileExistsError:
        raise
    except OSError as exc:  # no hard links here (FAT, some network shares): try renameat2
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
    try:
        _renameat2_noreplace(tmp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # last resort: the folder lock held by the commit keeps our own processes apart
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
        os.rename(tmp, target)


def _keep_aside(target: Path, tmp: Path) -> Path:
    """Return a hidden second name of ``target`` (a hard link; a rename where links are not supported)."""
    backup = Path(f"{tmp}.old")  # tmp is unique in the folder, so this name is too
    try:
        os.link(target, backup)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        os.replace(target, backup)
    return backup


@contextlib.contextmanager
def _folder_locks(folders: Iterable[Path]) -> Iterator[None]:
    """Hold an exclusive advisory lock on each folder (sorted, so two commits cannot deadlock)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the no-replace placing still holds
        yield
        return
    fds = []
    try:
        for folder in sorted({str(f) for f in folders}):
            fd = os.open(folder, os.O_RDONLY)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing releases the lock


class Staging:
    """Temporary files beside their targets, placed together or not at all.

    Used as a context manager: on success every temporary file is placed
    onto its target (see the module notes); on any error (or interrupt)
    all of them are removed and no target is touched.

    Parameters
    ----------
    overwrite : bool
        Allow replacing existing targets.
    protect : paths
        Input files of the run: never written over.
    """

    def __init__(self, overwrite: bool = False, protect: Iterable[str | Path] = ()) -> None:
        self.overwrite = overwrite
        self.protect = [Path(p) for p in protect if p]
        self._pending: list[tuple[Path, Path]] = []

    def path(self, target: str | Path) -> Path:
        """Return a new temporary path for ``target`` (refused as :func:`check_targets` says)."""
        target = Path(target)
        check_targets([target], self.overwrite, self.protect)
        tmp = _temp_file(target)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get normal permissions
        self._pending.append((tmp, target))
        return tmp

    def commit(self) -> None:
        """Place every temporary file onto its target, all or none."""
        pending, self._pending = self._pending, []
        placed: list[tuple[Path, Path | None]] = []  # (target, what it replaced, moved aside)
        try:
            with _folder_locks(t.parent for _, t in pending):
                for tmp, target in pending:
                    check_targets([target], self.overwrite, self.protect)
                    if not os.path.lexists(target):
                        _place_no_replace(tmp, target)
                        placed.append((target, None))
                        continue
                    # overwrite is on (check_targets passed): keep the old file under a hidden
                    # name for a roll-back, then replace atomically, so the target never vanishes
                    # (a session autosaved while the process is killed stays readable)
                    backup = _keep_aside(target, tmp)
                    try:
                        os.replace(tmp, target)
                    except BaseException:
                        os.replace(backup, target)
                        raise
                    placed.append((target, backup))
        except BaseException as exc:
            for target, backup in reversed(placed):
                with contextlib.suppress(OSError):
                    if backup is None:
                        os.unlink(target)
                    else:
                        os.replace(backup, target)
            for tmp, _ in pending:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if isinstance(exc, FileExistsError) and not isinstance(exc, OutputExistsError):
                raise OutputExistsError(f"{exc.filename} appeared while writing (another export to the same "
                                        "folder?); nothing was written") from None
            raise
        for _, backup in placed:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)

    def abort(self) -> None:
        """Remove every temporary file."""
        for tmp, _ in self._pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._pending = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = False, staging: Staging | None = None,
                protect: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that becomes ``path`` on success.

    With ``staging`` the placing is left to the staging's commit (so several
    files appear together); otherwise it happens when the block ends
    without error. On error the temporary file is removed and ``path`` is
    untouched.
    """
    if staging is not None:
        yield staging.path(path)
        return
    with Staging(overwrite, protect) as own:
        yield own.path(path)


@contextlib.contextmanager
def created_folder(folder: str | Path) -> Iterator[Path]:
    """Create ``folder`` (and missing parents) for the block; remove those it created if the block fails.

    Only folders this call created, and only while still empty, are removed.
    """
    folder = Path(folder)
    made = []
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            made.append(parent)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()  # fails (kept) when something else put a file there
        raise
