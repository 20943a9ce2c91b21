"""The stroke simulator of the quality harness (benchmarks/quality/simulate.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "quality"))
from simulate import simulate_strokes  # noqa: E402


def regions():
    truth = np.ones((120, 160), np.int32)
    truth[:, 80:] = 2
    truth[30:90, 100:140] = 3
    truth[5:9, 5:9] = 3  # a region too small to paint
    truth[100:, :40] = 4  # ignored class
    return truth


@pytest.mark.parametrize("budget", [0.0025, 0.01, 0.03])
def test_strokes_inside_eroded_regions_and_budget(budget):
    truth = regions()
    s = simulate_strokes(truth, budget, seed=3, ignore=(4,), margin=4)
    painted = s > 0
    assert painted.any()
    assert np.all(s[painted] == truth[painted])  # every stroke pixel has its true class
    # at least `margin` pixels from any other class: the 4-px erosion of each class contains every stroke
    from scipy import ndimage

    for k in (1, 2, 3):
        inner = ndimage.binary_erosion(truth == k, iterations=4)
        assert np.all(inner[s == k])
    assert not (s == 4).any() and not s[5:9, 5:9].any()
    labelled = (truth != 4).sum()
    assert budget * labelled <= painted.sum() <= budget * labelled + 3 * 80 + 9  # stops right after the budget
    if budget >= 0.01:
        assert set(np.unique(s[painted])) == {1, 2, 3}  # every paintable region got a stroke
    else:  # a tiny budget runs out after the largest regions' first strokes
        assert {1, 2} <= set(np.unique(s[painted]))


def test_seeded_determinism():
    truth = regions()
    a = simulate_strokes(truth, 0.01, seed=7)
    assert np.array_equal(a, simulate_strokes(truth, 0.01, seed=7))
    assert not np.array_equal(a, simulate_strokes(truth, 0.01, seed=8))
