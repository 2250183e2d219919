"""Change-class scores against hand-computed confusion matrices."""

from __future__ import annotations

import numpy as np
import pytest

from tiandi.errors import InputError
from tiandi.models.metrics import ConfusionMatrix, confusion_matrix, sum_confusion


def test_confusion_matrix_matches_hand_count_and_ignores_255() -> None:
    pred = np.array([[1, 0, 1], [0, 1, 255]], dtype=np.uint8)
    truth = np.array([[1, 1, 0], [0, 1, 0]], dtype=np.uint8)
    # (0,0) tp, (0,1) fn, (0,2) fp, (1,0) tn, (1,1) tp, (1,2) not scored
    cm = confusion_matrix(pred, truth)
    assert cm == ConfusionMatrix(tn=1, fp=1, fn=1, tp=2)
    assert cm.total == 5
    assert cm.precision == pytest.approx(2 / 3)
    assert cm.recall == pytest.approx(2 / 3)
    assert cm.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert cm.overall_accuracy == pytest.approx(3 / 5)


def test_overall_scores_come_from_the_summed_matrix_not_the_mean_of_cities() -> None:
    a = ConfusionMatrix(tn=90, fp=0, fn=0, tp=10)  # F1 1.0
    b = ConfusionMatrix(tn=800, fp=60, fn=100, tp=40)  # F1 80/240 = 1/3
    total = sum_confusion([a, b])
    assert total == ConfusionMatrix(tn=890, fp=60, fn=100, tp=50)
    assert total.f1 == pytest.approx(100 / 260)
    assert total.precision == pytest.approx(50 / 110)
    assert total.recall == pytest.approx(50 / 150)
    assert total.overall_accuracy == pytest.approx(940 / 1100)
    assert total.f1 != pytest.approx((a.f1 + b.f1) / 2)


def test_scores_are_zero_when_nothing_is_predicted_or_true() -> None:
    cm = confusion_matrix(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    assert (cm.precision, cm.recall, cm.f1, cm.overall_accuracy) == (0.0, 0.0, 0.0, 1.0)
    assert cm.as_dict()["tn"] == 4


def test_mismatched_shapes_and_unknown_values_raise_input_error() -> None:
    with pytest.raises(InputError, match=r"city x.*\(2, 2\).*\(2, 3\)"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), name="city x")
    with pytest.raises(InputError, match=r"truth holds values \[2\]"):
        confusion_matrix(np.zeros((2, 2)), np.full((2, 2), 2))
