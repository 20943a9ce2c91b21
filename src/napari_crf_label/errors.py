"""Exception types: every bad-input error derives from :class:`InputError`."""

from __future__ import annotations

__all__ = ["InputError", "OutputExistsError", "MissingClassesWarning"]


class InputError(ValueError):
    """Bad input (image, classes, strokes, parameters); the message says what to fix."""


class OutputExistsError(FileExistsError):
    """An output file exists and overwriting was not asked for.

    ``paths``: the existing files, when the error is about them (each front
    end says how to replace them: ``overwrite=True``, ``--overwrite``).
    """

    def __init__(self, message: str, paths: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.paths = tuple(paths)


class MissingClassesWarning(UserWarning):
    """Classes without strokes, absent from the result (a front end may leave out those the user marked absent)."""

    @classmethod
    def about(cls, names: list[str] | tuple[str, ...]) -> MissingClassesWarning:
        """Return the warning naming the classes ``names``."""
        return cls(f"no strokes for class(es) {', '.join(names)}: they are absent from the result")
