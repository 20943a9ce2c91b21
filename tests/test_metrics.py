import numpy as np
import pytest

from napari_crf_label.metrics import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy


def test_hand_checked_case():
    truth = np.array([[1, 1, 2, 2]])
    pred = np.array([[1, 2, 2, 2]])
    # class 1: tp 1, union 2 -> 0.5 ; class 2: tp 2, union 3 -> 2/3
    assert np.allclose(iou_per_class(pred, truth, [1, 2]), [0.5, 2 / 3])
    assert mean_iou(pred, truth, [1, 2]) == pytest.approx((0.5 + 2 / 3) / 2)
    assert pixel_accuracy(pred, truth) == 0.75


def test_ignore_and_other_predictions():
    truth = np.array([[1, 1, 2, 9]])  # 9 is not a listed class: skipped
    pred = np.array([[0, 1, 2, 1]])  # 0 is "no class": counts against class 1
    ignore = np.array([[False, False, True, False]])
    cm = confusion_matrix(pred, truth, [1, 2], ignore)
    assert cm.tolist() == [[1, 0, 1], [0, 0, 0]]
    iou = iou_per_class(pred, truth, [1, 2], ignore)
    assert iou[0] == 0.5 and np.isnan(iou[1])


def test_boundary_f_score_hand_checked():
    from napari_crf_label.metrics import boundary_f_score

    truth = np.zeros((10, 10), int)
    truth[:, 5:] = 1  # boundary at column 4 (left of the change)
    assert boundary_f_score(truth, truth) == 1.0
    shifted = np.zeros((10, 10), int)
    shifted[:, 7:] = 1  # boundary 2 pixels away
    assert boundary_f_score(shifted, truth, tolerance=2) == 1.0
    assert boundary_f_score(shifted, truth, tolerance=1) == 0.0
    half = truth.copy()
    half[:5, :] = 0  # vertical edge only in rows 5-9 (recall 5/10) plus a false horizontal edge (precision 5/10)
    assert boundary_f_score(half, truth, tolerance=0) == pytest.approx(0.5)
