import numpy as np
import pytest

from tfganaug.evaluation.metrics import classification_metrics, confusion_matrix


def test_confusion_matrix_counts_rows_as_truth():
    m = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_metrics_match_hand_computed_values():
    # true:  0 0 1 2 2 2 ; pred: 0 1 1 2 2 0
    out = classification_metrics([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], ("a", "b", "c"))
    assert out["accuracy"] == pytest.approx(4 / 6)
    # recalls: a 1/2, b 1/1, c 2/3
    assert out["per_class_accuracy"] == pytest.approx({"a": 0.5, "b": 1.0, "c": 2 / 3})
    assert out["balanced_accuracy"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    # precisions: a 1/2, b 1/2, c 2/2 -> F1 a 0.5, b 2/3, c 0.8
    assert out["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)


def test_class_without_test_images_is_left_out_of_balanced_accuracy():
    out = classification_metrics([0, 0, 1], [0, 0, 0], ("a", "b", "c"))
    assert np.isnan(out["per_class_accuracy"]["c"])
    assert out["balanced_accuracy"] == pytest.approx(0.5)
