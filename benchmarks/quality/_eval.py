"""Where the quality scripts find the evaluation data: ``<shared>/data/eval`` (``NAPARI_CRF_LABEL_SHARED``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _shared import SHARED  # noqa: E402

#: The evaluation sets (CamVid, GrabCut, Dubai, Doodler's sessions).
EVAL = SHARED / "data" / "eval"
