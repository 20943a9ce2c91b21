"""Label quality on real images with human ground truth (real human strokes, and simulated ones)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "quality"))
from simulate import simulate_strokes  # noqa: E402

from grabcut_quality import evaluate  # noqa: E402

# the harness is a script named run.py: load it under a name of its own
_spec = importlib.util.spec_from_file_location("quality_run", BENCH / "quality" / "run.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


def test_grabcut_human_strokes_crf_alone_mean_iou_at_least_88(shared_data):
    scores = evaluate(shared_data / "eval" / "grabcut", "strokes_sparse", method="crf")
    assert len(scores) == 13
    mean = float(np.mean(list(scores.values())))
    print(f"GrabCut, human sparse strokes, CRF alone: mean IoU {mean:.2f}")
    assert mean >= 88.0


def test_grabcut_human_strokes_default_method_mean_iou_at_least_88(shared_data):
    scores = evaluate(shared_data / "eval" / "grabcut", "strokes_sparse")
    mean = float(np.mean(list(scores.values())))
    print(f"GrabCut, human sparse strokes, default method: mean IoU {mean:.2f}")
    assert mean >= 88.0


def test_camvid_one_percent_default_far_above_original_and_crf_alone(shared_data):
    """Four held-out CamVid frames, 1 % simulated strokes: the default method against the original tool."""
    items = list(harness.load_set("camvid", shared_data / "eval"))[1::2][:4]
    got: dict[str, list[float]] = {}
    for i, (_name, image, truth, ignore, _) in enumerate(items):
        strokes = simulate_strokes(np.where(ignore, 0, truth), 0.01, seed=i)
        for method, (labels, _) in harness.method_results(image, strokes, 11, only=["a", "b", "c"]).items():
            got.setdefault(method[0], []).append(harness.score(labels, truth, ignore, strokes, 11)[1])
    mean = {k: float(np.mean(v)) for k, v in got.items()}
    print("CamVid 1 %, mean IoU:", {k: round(v, 1) for k, v in mean.items()})
    assert mean["c"] >= mean["a"] + 12 and mean["c"] >= mean["b"] + 12
