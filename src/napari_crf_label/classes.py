"""Class names and colours: the labels file and colors file of the original tool.

A labels file holds one class name a line; a colors file holds one colour a
line, as a matplotlib colour name (``r``, ``gray``, ``w``) or an html hex code
(``#556B2F``; six or eight hex digits without ``#`` are read as hex too).
Line *k* of both files describes class *k* (1-based): label
value 0 always means "not annotated" / "no data", never a class.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colors as mcolors

from .errors import InputError

__all__ = ["ClassFileError", "ClassSet", "read_class_files", "normalise_color", "default_colors", "MAX_CLASSES"]

#: Label images are written as uint8 with 0 reserved, so at most 255 classes.
MAX_CLASSES = 255


class ClassFileError(InputError):
    """A labels or colors file (or a class list given in code) is invalid."""


#: Colours that the usual class names of photos and remote sensing suggest (the original tool's colour files
#: use the same conventions: water blue, vegetation green, cloud and foam white, roads grey).
NAME_COLORS = {
    **dict.fromkeys(["water", "sea", "ocean", "lake", "river", "pond", "swash"], "#1f77b4"),
    **dict.fromkeys(["sand", "drysand", "wetsand", "beach", "dune", "sediment"], "#e9c46a"),
    **dict.fromkeys(["vegetation", "veg", "grass", "tree", "trees", "forest", "wood", "woods", "shrub",
                     "shrubland", "crop", "crops", "agricultural", "greenveg", "duneveg"], "#2ca02c"),
    **dict.fromkeys(["marsh", "wetland", "swamp"], "#9acd32"),
    **dict.fromkeys(["deepwater"], "#000080"),
    **dict.fromkeys(["shallowwater", "shallows"], "#17becf"),
    **dict.fromkeys(["cloud", "clouds", "snow", "ice", "foam", "whitewater"], "#ffffff"),
    **dict.fromkeys(["land", "soil", "terrain", "bare", "ground", "dirt", "mud"], "#a0522d"),
    **dict.fromkeys(["road", "roads", "pavement", "asphalt", "street"], "#808080"),
    **dict.fromkeys(["building", "buildings", "roof", "roofs", "urban", "anthro", "house"], "#d62728"),
    **dict.fromkeys(["sky"], "#87ceeb"),
    **dict.fromkeys(["shadow", "shade"], "#2f4f4f"),
    **dict.fromkeys(["rock", "rocks", "cliff", "gravel"], "#8c564b"),
}


def default_colors(names: tuple[str, ...] | list[str], avoid: tuple[str, ...] = ()) -> list[str]:
    """Return a distinct hex colour per class: from its name when it is a usual one, else a qualitative palette.

    A name is looked up whole and then by its last word (``shallow_water``
    is water); a colour already taken goes to the palette's next unused one,
    so the classes stay distinct. Colours in ``avoid`` (classes kept from
    before) are never given.
    """
    palette = [mcolors.to_hex(c) for c in mcolors.TABLEAU_COLORS.values()]
    palette += [mcolors.to_hex(c) for c in mcolors.XKCD_COLORS.values()]
    avoid = tuple(mcolors.to_hex(c) for c in avoid)
    chosen: list[str | None] = []
    for name in names:
        color = _usual_color(name)
        chosen.append(color if color not in chosen and color not in avoid else None)
    taken = set(chosen) | set(avoid)
    spare = iter(c for c in palette if c not in taken)
    return [c if c is not None else next(spare) for c in chosen]


def _usual_color(name: str) -> str | None:
    """Return the colour a usual class name suggests (``NAME_COLORS``, whole name, then last word), or None."""
    key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return NAME_COLORS.get(key.replace("_", "")) or NAME_COLORS.get(key.rsplit("_", 1)[-1])


def renamed_colors(old_names: tuple[str, ...] | list[str], old_colors: tuple[str, ...] | list[str],
                   names: tuple[str, ...] | list[str], painted: Collection[int] = ()) -> list[str]:
    """Return colours for classes ``names`` typed over classes ``old_names`` coloured ``old_colors``.

    A class keeps its colour where its name is kept (at its place or
    another), where it is painted (``painted``: 1-based classes with
    strokes; a rename keeps what is on screen), and where it is renamed to
    a name that suggests no colour (``veg1`` to ``zone A``). A new name
    that suggests one (``cloud``) takes it, rather than the colour of the
    class it replaces (trial 40: cloud came out in road's grey); the rest
    get :func:`default_colors`, distinct from the kept ones.
    """
    before = dict(zip(old_names, old_colors))
    chosen: list[str | None] = []
    for k, name in enumerate(names):
        color = before.get(name)
        if color is None and k < len(old_names) and (k + 1 in painted or _usual_color(name) is None):
            color = old_colors[k]
        chosen.append(color if color not in chosen else None)
    kept = tuple(c for c in chosen if c is not None)
    fresh = iter(default_colors([n for n, c in zip(names, chosen) if c is None], avoid=kept))
    return [c if c is not None else next(fresh) for c in chosen]


@dataclass(frozen=True)
class ClassSet:
    """An ordered set of classes: class ``k`` (1-based) is ``names[k - 1]``.

    Parameters
    ----------
    names : tuple of str
        Class names, unique and non-blank.
    colors : tuple of str
        One colour per class as given (matplotlib name or hex).

    """

    names: tuple[str, ...]
    colors: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "colors", tuple(normalise_color(c) for c in self.colors))
        _check_names(self.names, source="class names")
        if len(self.colors) != len(self.names):
            raise ClassFileError(
                f"{len(self.names)} class names but {len(self.colors)} colors; "
                "give one color per class"
            )
        for i, color in enumerate(self.colors):
            if not mcolors.is_color_like(color):
                raise ClassFileError(f"class {i + 1} ({self.names[i]!r}): unknown color {color!r}")

    @classmethod
    def from_names(cls, names: list[str] | tuple[str, ...] | str,
                   colors: list[str] | tuple[str, ...] | None = None) -> ClassSet:
        """Build a class set from names (a list, or one comma-separated string).

        Colours default to those the names suggest (water blue, vegetation green, cloud white, ...;
        :data:`NAME_COLORS`), else to matplotlib's Tableau palette.
        """
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        names = tuple(n.strip() for n in names)
        if colors is None:
            _check_names(names, source="class names")
            colors = default_colors(names)
        return cls(names, tuple(c.strip() for c in colors))

    def __len__(self) -> int:
        return len(self.names)

    def rgba(self) -> np.ndarray:
        """Return the class colours as an (N, 4) float array in 0..1."""
        return np.array([mcolors.to_rgba(c) for c in self.colors], dtype=float)

    def rgb_uint8(self) -> np.ndarray:
        """Return the class colours as an (N, 3) uint8 array."""
        return np.round(self.rgba()[:, :3] * 255).astype(np.uint8)


_BARE_HEX = re.compile(r"[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?")


def normalise_color(color: str) -> str:
    """Return a colour as matplotlib should read it: six or eight hex digits without ``#`` are hex.

    Matplotlib reads ``000001`` or ``1e0000`` as a grey level (a number);
    in a colors file they are html codes whose ``#`` was left out.
    """
    color = str(color).strip()
    return f"#{color}" if _BARE_HEX.fullmatch(color) else color


def _check_names(names: tuple[str, ...], source: str, lines: list[int] | None = None) -> None:
    """Raise ClassFileError for no names, blank or duplicate names, or too many."""
    where = (lambda i: f"{source}, line {lines[i]}") if lines else (lambda i: f"{source}, item {i + 1}")
    if not names:
        raise ClassFileError(f"{source}: no classes given")
    if len(names) > MAX_CLASSES:
        raise ClassFileError(f"{source}: {len(names)} classes, at most {MAX_CLASSES} are supported")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            raise ClassFileError(f"{where(i)}: blank class name")
        if name in seen:
            raise ClassFileError(f"{where(i)}: duplicate class name {name!r} (also at {where(seen[name])})")
        seen[name] = i


def _read_lines(path: Path) -> tuple[list[str], list[int]]:
    """Return the stripped non-empty lines of a text file and their 1-based line numbers.

    Trailing blank lines (and a missing final newline) are fine; a blank line
    between entries is an error because it would shift every later class.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ClassFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ClassFileError(f"{path}, line {line}: not valid UTF-8 text") from None
    except OSError as exc:
        raise ClassFileError(f"{path}: cannot read ({exc.strerror})") from None
    raw = text.splitlines()
    while raw and not raw[-1].strip():
        raw.pop()
    lines, numbers = [], []
    for i, line in enumerate(raw, start=1):
        if not line.strip():
            raise ClassFileError(f"{path}, line {i}: blank line between entries")
        lines.append(line.strip())
        numbers.append(i)
    return lines, numbers


def read_class_files(labels_path: str | Path, colors_path: str | Path | None = None) -> ClassSet:
    """Read a labels file and (optionally) a colors file of the original tool.

    Parameters
    ----------
    labels_path : path
        Text file, one class name a line.
    colors_path : path, optional
        Text file, one matplotlib colour name or hex code a line, as many
        lines as the labels file. Without it the default palette is used.

    Returns
    -------
    ClassSet

    Raises
    ------
    ClassFileError
        With the file and line at fault: missing file, non-UTF-8 bytes, blank
        or duplicate names, unknown colours, or files of different lengths.

    """
    labels_path = Path(labels_path)
    names, name_lines = _read_lines(labels_path)
    _check_names(tuple(names), source=str(labels_path), lines=name_lines)
    if colors_path is None:
        return ClassSet.from_names(names)
    colors_path = Path(colors_path)
    colors, color_lines = _read_lines(colors_path)
    colors = [normalise_color(c) for c in colors]
    for color, line in zip(colors, color_lines):
        if not mcolors.is_color_like(color):
            raise ClassFileError(
                f"{colors_path}, line {line}: unknown color {color!r} "
                "(use a matplotlib color name such as 'r' or 'gray', or hex such as '#556B2F')"
            )
    if len(colors) != len(names):
        raise ClassFileError(
            f"{labels_path} has {len(names)} classes but {colors_path} has {len(colors)} colors; "
            "the files must have one line per class each"
        )
    return ClassSet(tuple(names), tuple(colors))
