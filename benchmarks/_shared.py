"""Where the benchmarks find ``../shared`` (``NAPARI_CRF_LABEL_SHARED``, as the tests read it)."""

from __future__ import annotations

import os
from pathlib import Path

#: The shared folder: ``$NAPARI_CRF_LABEL_SHARED``, else ``shared`` beside the repository.
SHARED = Path(os.environ.get("NAPARI_CRF_LABEL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
