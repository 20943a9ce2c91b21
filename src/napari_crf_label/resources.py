"""Memory estimates and the guard that refuses a run the machine cannot hold.

pydensecrf allocates in C++: running out of memory there kills the whole
process (and napari with it), so a run is refused up front when its
estimated peak exceeds the memory available.
"""

from __future__ import annotations

import os

from .errors import InputError

__all__ = ["MemoryLimitError", "available_memory", "crf_bytes", "estimate_run_bytes", "check_memory"]

#: Measured pydensecrf footprint: about 0.22 GB/MP with 3 classes and
#: 0.34 GB/MP with 8, i.e. a base plus a per-class part (bytes per pixel).
CRF_BYTES_PER_PIXEL = 150
CRF_BYTES_PER_PIXEL_PER_CLASS = 25


class MemoryLimitError(InputError):
    """A run would need more memory than the machine has available."""


def available_memory() -> int | None:
    """Return the bytes of memory available to new allocations, or None if unknown.

    Reads ``MemAvailable`` from /proc/meminfo (Linux), else free pages.
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def crf_bytes(pixels: int, n_classes: int) -> int:
    """Return the estimated bytes of one built CRF over ``pixels`` pixels."""
    return pixels * (CRF_BYTES_PER_PIXEL + CRF_BYTES_PER_PIXEL_PER_CLASS * n_classes)


def estimate_run_bytes(shape: tuple[int, int], crf_shape: tuple[int, int], tile_pixels: int, n_classes: int,
                       bands: int, kept_crfs_pixels: int = 0) -> int:
    """Return the estimated peak bytes of one labelling run beyond the input image.

    Counts the stroke and label arrays at full resolution, the normalised
    and resized bands, the blended probabilities at CRF resolution, the
    largest single CRF and any CRFs kept in a cache.
    """
    full = shape[0] * shape[1]
    crf = crf_shape[0] * crf_shape[1]
    arrays = full * (4 * 3 + 1 + bands) + crf * (bands + 4 * (2 * n_classes + 1) + 4)
    return arrays + crf_bytes(tile_pixels, n_classes) + crf_bytes(kept_crfs_pixels, n_classes)


def check_memory(needed: int, what: str = "this run") -> None:
    """Raise MemoryLimitError if ``needed`` bytes exceed the available memory."""
    available = available_memory()
    if available is not None and needed > available:
        raise MemoryLimitError(
            f"{what} needs about {needed / 1e9:.1f} GB but only {available / 1e9:.1f} GB of memory is "
            "available; use a smaller scale (-s) or window (-w), or close other programs"
        )
