"""The bootstrap statistics against hand computations: metrics from confusion matrices, the paired
two-level bootstrap (exact multinomial tail, seed-level resampling by counting), Holm's correction."""

import numpy as np
import pytest
from scipy import stats

from tfganaug.evaluation.metrics import classification_metrics
from tfganaug.evaluation.statistics import Bootstrap, holm, metric_from_confusion


def record(group, seed, labels, predictions, num_classes, per_image=True):
    """A run record as the runner writes it (per-image arrays optional, as in runs of older versions)."""
    metrics = classification_metrics(labels, predictions, [f"c{k}" for k in range(num_classes)])
    out = {"group": group, "seed": seed, "confusion_matrix": metrics["confusion_matrix"], **metrics}
    if per_image:
        out.update(test_labels=list(labels), test_predictions=list(predictions))
    return out


def test_metrics_from_a_confusion_matrix_equal_the_classification_metrics():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    labels[labels == 3] = 0  # class 3 has no test images: left out, as classification_metrics does
    predictions = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 4, 300))
    expected = classification_metrics(labels, predictions, ["a", "b", "c", "d"])
    confusion = expected["confusion_matrix"]
    for name in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert metric_from_confusion(confusion, name) == pytest.approx(expected[name], abs=1e-12)
    recalls = expected["per_class_accuracy"]
    assert metric_from_confusion(confusion, "rare_recall", rare=[1, 2]) == pytest.approx((recalls["b"] + recalls["c"]) / 2)


def test_the_p_value_of_a_paired_difference_matches_the_exact_multinomial_tail():
    # 100 test images: A right and B wrong on 12, B right and A wrong on 2, the same on 86.
    labels = np.zeros(100, int)
    a = np.zeros(100, int)
    b = np.zeros(100, int)
    b[:12], a[12:14] = 1, 1  # class 0 is right; 1 is wrong
    boot = Bootstrap([record("a", 0, labels, a, 2), record("b", 0, labels, b, 2)], 2, resamples=20000)
    test = boot.difference("a", "b")
    # Resampled difference = (X - Y) / 100 with (X, Y, rest) ~ Multinomial(100; 0.02, 0.12, 0.86) for
    # (A wrong & B right, A right & B wrong); P(diff <= 0) = P(Y <= X), summed exactly.
    x = np.arange(101)
    p_x = stats.binom.pmf(x, 100, 0.02)
    p_y_le_x = stats.binom.cdf(x, 100 - x, 0.12 / 0.98)
    exact = 2 * float((p_x * p_y_le_x).sum())
    assert test["diff"] == pytest.approx(0.10)
    assert test["p"] == pytest.approx(exact, abs=0.004) and test["p"] < 0.05
    # Normal approximation of the interval: 0.10 +- 1.96 * sqrt((0.14 - 0.01) / 100).
    assert (test["low"], test["high"]) == pytest.approx((0.10 - 0.0707, 0.10 + 0.0707), abs=0.015)
    assert test["levels"] == "test images"


def test_identical_predictions_differ_by_exactly_zero_only_when_paired():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 200)
    predictions = np.where(rng.random(200) < 0.7, labels, (labels + 1) % 3)
    paired = Bootstrap([record("a", 0, labels, predictions, 3), record("b", 0, labels, predictions, 3)], 3)
    assert paired.difference("a", "b") == pytest.approx({"diff": 0.0, "low": 0.0, "high": 0.0, "p": 1.0, "n": 1,
                                                          "levels": "test images"})
    # The same runs stored without per-image predictions are drawn independently: a wide interval.
    unpaired = Bootstrap([record("a", 0, labels, predictions, 3, per_image=False),
                          record("b", 0, labels, predictions, 3, per_image=False)], 3)
    test = unpaired.difference("a", "b")
    assert test["low"] < -0.04 and test["high"] > 0.04


def test_three_seeds_are_resampled_and_two_are_not():
    labels = np.zeros(50, int)
    right, wrong = np.zeros(50, int), np.ones(50, int)
    # Seeds 0 and 1: A = B; seed 2: A right on every image, B wrong on every image. No image-level noise,
    # so the resampled difference is the share of draws that picked seed 2: k/3 with k ~ Bin(3, 1/3).
    records = [record("a", s, labels, right, 2) for s in range(3)]
    records += [record("b", 0, labels, right, 2), record("b", 1, labels, right, 2), record("b", 2, labels, wrong, 2)]
    test = Bootstrap(records, 2, resamples=20000).difference("a", "b")
    assert test["diff"] == pytest.approx(1 / 3) and test["levels"] == "seeds and test images"
    # P(k = 0) = 8/27 and P(k = 3) = 1/27 > 2.5%: the interval is [0, 1]; p = 2 * P(k = 0) = 16/27.
    assert (test["low"], test["high"]) == (0.0, 1.0)
    assert test["p"] == pytest.approx(16 / 27, abs=0.02)
    two = Bootstrap([r for r in records if r["seed"] > 0], 2).difference("a", "b")
    assert (two["diff"], two["low"], two["high"], two["levels"]) == (0.5, 0.5, 0.5, "test images")


def test_intervals_never_leave_zero_to_one():
    # Accuracies 99%, 100%, 97% over three seeds: Student's t gives 95.2% to 101.5%.
    labels = np.zeros(100, int)
    records = []
    for seed, wrong in enumerate([1, 0, 3]):
        predictions = np.zeros(100, int)
        predictions[:wrong] = 1
        records.append(record("g", seed, labels, predictions, 2))
    t_high = 0.98667 + stats.t.ppf(0.975, 2) * np.std([0.99, 1.0, 0.97], ddof=1) / np.sqrt(3)
    assert t_high > 1
    low, high = Bootstrap(records, 2).interval("g")
    assert 0.9 < low < 0.98667 < high <= 1.0


def test_holm_adjusts_by_hand():
    # Sorted: 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> kept monotone: 0.06.
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []
