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


def test_region_share_skips_instances_but_keeps_each_class_largest_region():
    truth = np.full((200, 300), 2, np.int32)
    squares = [(10, 10), (10, 110), (10, 210), (110, 10), (110, 110), (110, 210)]
    for i, (y, x) in enumerate(squares):
        truth[y:y + 60 + i, x:x + 60 + i] = 1  # six instances of class 1, the last the largest
    def visited(s):
        return [bool(s[y:y + 60, x:x + 60].any()) for y, x in squares]
    every = simulate_strokes(truth, 0.03, seed=1)
    assert all(visited(every))
    half = simulate_strokes(truth, 0.03, seed=1, region_share=0.5)
    assert visited(half)[-1] and not all(visited(half))  # the largest always, some others skipped
    assert set(np.unique(half[half > 0])) == {1, 2}
    assert np.array_equal(half, simulate_strokes(truth, 0.03, seed=1, region_share=0.5))
