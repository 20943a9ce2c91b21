"""Which bands to show as red, green and blue (no Qt).

A multi-band image is shown as an RGB composite; the CRF always uses all
bands. The composites offered come first from the file's own metadata
(colour interpretation, band descriptions), then from the band layouts of
common sensors for the image's band count, then the first three bands.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .image_io import ImageData

__all__ = ["Composite", "composites", "image_composites", "default_bands", "saved_bands", "band_label"]

#: (name, bands) with 0-based band indices: 1 band shows grey, 3 show red, green, blue.
Composite = tuple[str, tuple[int, ...]]

#: Common sensors' band orders by band count: (name, natural colour, colour infrared, shortwave infrared), 0-based.
#: Shortwave infrared (SWIR 1, NIR, red: Landsat 5-4-3 / 6-5-4) tells water, wet and dry sand and vegetation
#: apart, the usual view of a Landsat coast (trial 34 typed it into the R, G, B boxes).
_SENSORS: dict[int, list[tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...] | None]]] = {
    4: [("R, G, B, NIR (e.g. NAIP)", (0, 1, 2), (3, 0, 1), None),
        ("B, G, R, NIR (e.g. PlanetScope)", (2, 1, 0), (3, 2, 1), None)],
    6: [("Landsat 4-7 TM/ETM+ (bands 1-5, 7)", (2, 1, 0), (3, 2, 1), (4, 3, 2))],
    7: [("Landsat 8-9 OLI (bands 1-7)", (3, 2, 1), (4, 3, 2), (5, 4, 3))],
    8: [("Landsat 8-9 OLI (bands 1-8)", (3, 2, 1), (4, 3, 2), (5, 4, 3))],
    12: [("Sentinel-2 L2A (12 bands)", (3, 2, 1), (7, 3, 2), (10, 7, 3))],
    13: [("Sentinel-2 L1C (13 bands)", (3, 2, 1), (7, 3, 2), (11, 7, 3))],
}

_NAMED = {
    "red": re.compile(r"^(?!.*(edge|infra)).*\bred\b|^r$", re.I),  # not "red edge", not "infra red"
    "green": re.compile(r"\bgreen\b|^g$", re.I),
    "blue": re.compile(r"\bblue\b|^b$", re.I),
    "nir": re.compile(r"\bnir\b|near[ -_]?infra[ -_]?red|^nir\d*$", re.I),
}


def _find(names: Sequence[str], pattern: re.Pattern[str]) -> int | None:
    """Return the index of the single band whose name matches, else None."""
    hits = [i for i, name in enumerate(names) if name and pattern.search(name)]
    return hits[0] if len(hits) == 1 else None


def composites(n_bands: int, band_colors: Sequence[str] = (), band_names: Sequence[str] = ()) -> list[Composite]:
    """Return the composites to offer for an image, the best default first.

    Parameters
    ----------
    n_bands : int
        Number of bands of the image.
    band_colors : sequence of str
        The file's colour interpretation per band (rasterio's names:
        ``red``, ``green``, ``blue``, ``gray``, ``undefined``...).
    band_names : sequence of str
        The file's band descriptions (``"Red"``, ``"NIR"``, ``"B4 red"``...).

    Returns
    -------
    list of (name, bands)
        0-based band indices; one band for a single-band image.

    Examples
    --------
    >>> composites(6)[0]
    ('natural colour: Landsat 4-7 TM/ETM+ (bands 1-5, 7)', (2, 1, 0))
    >>> composites(3, ["blue", "green", "red"])[0]
    ("the file's colours", (2, 1, 0))
    """
    if n_bands < 1:
        raise ValueError(f"an image needs at least one band, got {n_bands}")
    if n_bands < 3:
        return [(f"band {b + 1} (grey)", (b,)) for b in range(n_bands)]
    out: list[Composite] = []
    colors = [c.lower() for c in band_colors] if len(band_colors) == n_bands else []
    if colors and all(c in colors for c in ("red", "green", "blue")):
        out.append(("the file's colours", (colors.index("red"), colors.index("green"), colors.index("blue"))))
    names = list(band_names) if len(band_names) == n_bands else []
    found = {key: _find(names, pattern) for key, pattern in _NAMED.items()} if names else {}
    if found and None not in (found["red"], found["green"], found["blue"]):
        out.append(("natural colour (band names)", (found["red"], found["green"], found["blue"])))
    if found and None not in (found["nir"], found["red"], found["green"]):
        out.append(("colour infrared (band names)", (found["nir"], found["red"], found["green"])))
    for sensor, natural, infrared, shortwave in _SENSORS.get(n_bands, []):
        out.append((f"natural colour: {sensor}", natural))
        out.append((f"colour infrared: {sensor}", infrared))
        if shortwave is not None:
            out.append((f"shortwave infrared: {sensor}", shortwave))
    first = ("bands 1, 2, 3", (0, 1, 2))
    if first[1] not in [bands for _, bands in out]:
        out.append(first)
    return out


def image_composites(data: ImageData) -> list[Composite]:
    """Return the composites offered for an image, its default first (from the file's metadata when it has any)."""
    return composites(data.array.shape[2], data.profile.get("band_colors", ()), data.profile.get("band_names", ()))


def default_bands(data: ImageData) -> tuple[int, ...]:
    """Return the bands an image is shown in by default: the first of :func:`image_composites`.

    The panel shows an image so at first; the exported figure of the
    command line and the API use the same, not the first three bands
    (trial 34: a Landsat scene's sea came out olive in the command line's ``mres``).
    """
    return image_composites(data)[0][1]


def saved_bands(bands: object, n_bands: int) -> tuple[int, ...] | None:
    """Return the bands a session saved as a composite of an image of ``n_bands`` bands, else None.

    One or three whole band numbers (0-based) below ``n_bands``; anything
    else (another image's bands, no list) is no composite of this image.
    """
    if not isinstance(bands, (list, tuple)) or len(bands) not in (1, 3):
        return None
    if not all(isinstance(b, numbers.Integral) and not isinstance(b, bool) and 0 <= b < n_bands for b in bands):
        return None
    return tuple(int(b) for b in bands)


def band_label(index: int, band_names: Sequence[str] = ()) -> str:
    """Return how a band is named to the user: ``B4`` or ``B4 (NIR)`` with its description."""
    name = band_names[index] if index < len(band_names) else ""
    return f"B{index + 1} ({name})" if name else f"B{index + 1}"
