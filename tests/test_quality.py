"""Label quality on real images with human ground truth and real human strokes."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from grabcut_quality import evaluate  # noqa: E402


def test_grabcut_human_strokes_mean_iou_at_least_86(shared_data):
    scores = evaluate(shared_data / "eval" / "grabcut", "strokes_sparse")
    assert len(scores) == 13
    mean = float(np.mean(list(scores.values())))
    print(f"GrabCut, human sparse strokes, default settings: mean IoU {mean:.2f}")
    assert mean >= 86.0
