"""What the panel keeps per image between runs (no Qt): the held-out check's choice and when it is made again."""

from __future__ import annotations

import numpy as np

from napari_crf_label._panel_state import RECHECK_FACTOR, ProximityCheck
from napari_crf_label.classes import ClassSet
from napari_crf_label.pipeline import LabelResult


def _result(params: dict) -> LabelResult:
    labels = np.ones((40, 40), np.uint8)
    return LabelResult(labels, np.zeros((2, 1, 1), np.float32), ClassSet.from_names("a, b"),
                       np.zeros((40, 40), np.uint8), params=params)


def test_a_checked_choice_holds_until_the_strokes_or_settings_change_much():
    strokes = np.zeros((40, 40), np.uint8)
    strokes[5, :20], strokes[30, :20] = 1, 2  # 40 stroke pixels
    params = {"method": "features+crf", "reach": 100.0}
    checked = _result({"proximity": "faded", "holdout_scores": {"with_proximity": 0.5, "classifier_alone": 0.8}})
    check = ProximityCheck.of(checked, strokes, params)
    assert check.choice == "faded" and check.holds_for(strokes, params)
    more = strokes.copy()
    more[10, :19] = 1  # 40 -> 59 pixels: within the factor
    assert 59 < 40 * RECHECK_FACTOR and check.holds_for(more, params)
    more[12, :2] = 1  # 61 pixels: checked again
    assert not check.holds_for(more, params)
    assert not check.holds_for(np.where(strokes == 2, 0, strokes), params)  # a class gone (and half the strokes)
    third = strokes.copy()
    third[20, :3] = 3
    assert not check.holds_for(third, params)  # another class painted
    assert not check.holds_for(strokes, {**params, "reach": 50.0})
    assert not check.holds_for(strokes, {**params, "method": "crf"})
    moved = np.zeros_like(strokes)
    moved[15, :20], moved[35, :20] = 1, 2  # as many pixels of the same classes, all elsewhere (another session)
    assert not check.holds_for(moved, params)
    swapped = np.where(strokes == 1, 2, np.where(strokes == 2, 1, 0)).astype(np.uint8)  # the same pixels relabelled
    assert not check.holds_for(swapped, params)
    part = strokes.copy()
    part[5, :8] = 2  # 8 of 40 pixels repainted as the other class: most are still as checked
    assert check.holds_for(part, params)


def test_runs_without_a_scored_check_leave_nothing_to_keep():
    strokes = np.zeros((40, 40), np.uint8)
    strokes[5, :20] = 1
    params = {"method": "features+crf", "reach": 100.0}
    assert ProximityCheck.of(_result({"proximity": "kept"}), strokes, params) is None  # chosen by the caller
    unscored = {"proximity": "kept", "holdout_scores": {"with_proximity": None, "classifier_alone": None}}
    assert ProximityCheck.of(_result(unscored), strokes, params) is None  # too few pieces to score
