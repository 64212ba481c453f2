"""The statistics against hand computations: metrics from confusion matrices, the t interval of a
paired difference over seeds with the test images' bootstrap variance, Holm's correction."""

import numpy as np
import pytest
from scipy import stats

from tfganaug.evaluation.metrics import classification_metrics
from tfganaug.evaluation.statistics import Bootstrap, holm, metric_from_confusion, paired_interval, seeds_needed


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


def test_one_seed_gets_the_normal_interval_of_its_paired_test_images():
    # 100 test images: A right and B wrong on 12, B right and A wrong on 2, the same on 86.
    labels = np.zeros(100, int)
    a = np.zeros(100, int)
    b = np.zeros(100, int)
    b[:12], a[12:14] = 1, 1  # class 0 is right; 1 is wrong
    boot = Bootstrap([record("a", 0, labels, a, 2), record("b", 0, labels, b, 2)], 2, resamples=20000)
    test = boot.difference("a", "b")
    # The per-image difference is +1 on 12, -1 on 2, 0 on 86: its mean's bootstrap variance is
    # (0.14 - 0.10^2) / 100; the interval 0.10 +- 1.96 * sqrt(0.0013), p = 2 * Phi(-0.10 / sqrt(0.0013)).
    se = np.sqrt((0.14 - 0.01) / 100)
    assert test["diff"] == pytest.approx(0.10)
    assert (test["low"], test["high"]) == pytest.approx((0.10 - 1.96 * se, 0.10 + 1.96 * se), abs=0.002)
    assert test["p"] == pytest.approx(2 * stats.norm.sf(0.10 / se), rel=0.1) and test["p"] < 0.05
    assert test["levels"] == "test images"


def test_identical_predictions_differ_by_exactly_zero_only_when_paired():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 200)
    predictions = np.where(rng.random(200) < 0.7, labels, (labels + 1) % 3)
    paired = Bootstrap([record("a", 0, labels, predictions, 3), record("b", 0, labels, predictions, 3)], 3)
    assert paired.difference("a", "b") == pytest.approx({"diff": 0.0, "low": 0.0, "high": 0.0, "p": 1.0, "n": 1,
                                                          "levels": "test images", "half": 0.0, "spread": None,
                                                          "image_half": 0.0})
    # The same runs stored without per-image predictions are drawn independently: a wide interval.
    unpaired = Bootstrap([record("a", 0, labels, predictions, 3, per_image=False),
                          record("b", 0, labels, predictions, 3, per_image=False)], 3)
    test = unpaired.difference("a", "b")
    assert test["low"] < -0.04 and test["high"] > 0.04


def whole_classes_wrong(wrong, classes=10, per_class=10):
    """Labels and predictions with the classes `range(wrong)` all wrong: resampling the images of each
    class changes nothing, so the test images add no variance."""
    labels = np.repeat(np.arange(classes), per_class)
    return labels, np.where(labels < wrong, (labels + 1) % classes, labels)


def test_three_seeds_get_a_students_t_interval_over_their_paired_differences():
    # A is right on every image; B has 1, 2 and 3 of 10 classes wrong: differences 0.1, 0.2, 0.3.
    labels, right = whole_classes_wrong(0)
    records = [record("a", s, labels, right, 10) for s in range(3)]
    records += [record("b", s, *whole_classes_wrong(s + 1), 10) for s in range(3)]
    test = Bootstrap(records, 10, resamples=500).difference("a", "b")
    # By hand: mean 0.2, std 0.1, SE 0.1 / sqrt(3) = 0.05774, t(0.975, 2 df) = 4.3027: 0.2 +- 0.2484;
    # p = 2 * P(T_2 > 0.2 / 0.05774 = 3.464) = 0.0742.
    assert test["diff"] == pytest.approx(0.2) and test["levels"] == "seeds and test images"
    assert (test["low"], test["high"]) == pytest.approx((0.2 - 0.24841, 0.2 + 0.24841), abs=1e-4)
    assert test["p"] == pytest.approx(0.0742, abs=1e-4)
    # Two seeds: the test images only, which vary nothing here: the interval is the point 0.25.
    two = Bootstrap([r for r in records if r["seed"] > 0], 10).difference("a", "b")
    assert (two["diff"], two["low"], two["high"], two["levels"]) == pytest.approx((0.25, 0.25, 0.25, "test images"))


def test_a_constant_shift_across_seeds_and_images_is_the_interval():
    # B has class 0 wrong in every seed, A none: every seed and every resample differ by exactly 0.1.
    labels, right = whole_classes_wrong(0)
    records = [record("a", s, labels, right, 10) for s in range(3)]
    records += [record("b", s, *whole_classes_wrong(1), 10) for s in range(3)]
    test = Bootstrap(records, 10).difference("a", "b")
    assert (test["diff"], test["low"], test["high"], test["p"]) == pytest.approx((0.1, 0.1, 0.1, 0.0))


def test_identical_groups_over_three_seeds_differ_by_zero_and_not_significantly():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 200)
    records = []
    for seed in range(3):
        predictions = np.where(rng.random(200) < 0.7, labels, (labels + 1) % 3)
        records += [record("a", seed, labels, predictions, 3), record("b", seed, labels, predictions, 3)]
    assert Bootstrap(records, 3).difference("a", "b") == pytest.approx(
        {"diff": 0.0, "low": 0.0, "high": 0.0, "p": 1.0, "n": 3, "levels": "seeds and test images", "half": 0.0,
         "spread": 0.0, "image_half": 0.0})


def noisy_pair(rng, labels):
    """Predictions of two groups, each right on a random 70% of the images."""
    return [np.where(rng.random(len(labels)) < 0.7, labels, 1 - labels) for _ in range(2)]


def test_seeds_on_the_same_test_images_share_every_image_resample():
    # Three copies of one seed: no spread between seeds, so the interval is the one seed's (test images
    # only), not 1/sqrt(3) as wide as if three seeds had each been tested on other images.
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    a, b = noisy_pair(rng, labels)
    copies = [record(g, s, labels, p, 2) for s in range(3) for g, p in (("a", a), ("b", b))]
    three = Bootstrap(copies, 2).difference("a", "b")
    one = Bootstrap([r for r in copies if r["seed"] == 0], 2).difference("a", "b")
    width = one["high"] - one["low"]
    assert width > 0.05 and three["high"] - three["low"] == pytest.approx(width, rel=1e-9)


def test_each_seeds_own_test_image_noise_is_counted_once():
    # Seeds 0.1, 0.2, 0.3; two image resamples that move seeds 0 and 1 by +-0.03, seed 2 not at all.
    observed = np.array([0.1, 0.2, 0.3])
    shift = np.array([0.03, 0.03, 0.0])
    draws = np.stack([observed + shift, observed - shift])
    # By hand: seeds 0.01 / 3; images (the variance of the row means, +-0.02) 0.0008; each seed's own
    # variance (2 * 0.03)^2 / 2 = 0.0018, 0.0018, 0: mean 0.0012, of which twice = (0.0012 - 0.0008) /
    # (3 - 1) = 0.0002 is already in the seeds' spread, leaves 0.0006. Margins: t(0.975, 2 df) = 4.30265
    # on the seeds' SE, 1.95996 on the images': sqrt((4.30265 * 0.057735)^2 + (1.95996 * 0.024495)^2).
    half = np.hypot(4.30265 * np.sqrt(0.01 / 3), 1.95996 * np.sqrt(0.0006))
    estimate, low, high, p = paired_interval(observed, draws, (-1, 1))
    assert (estimate, low, high) == pytest.approx((0.2, 0.2 - half, 0.2 + half), abs=1e-5)
    # p: the level whose interval just reaches 0.
    assert np.hypot(stats.t.ppf(1 - p / 2, 2) * np.sqrt(0.01 / 3), stats.norm.ppf(1 - p / 2) * np.sqrt(0.0006)) \
        == pytest.approx(0.2)


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


def test_seeds_needed_by_hand():
    """n: the smallest with t(n - 1) * s / sqrt(n) <= sqrt(margin^2 - image^2) (s = 1 point here).
    No image term: n = 6 gives 2.571 / 2.449 = 1.050 > 1, n = 7 gives 2.447 / 2.646 = 0.925: 7.
    Image term 0.6: room 0.8; n = 8 gives 2.365 / 2.828 = 0.836 > 0.8, n = 9 gives 2.306 / 3 = 0.769: 9.
    Image term at the margin: no seed count narrows it."""
    assert seeds_needed(0.01, 0.0, 0.01) == 7
    assert seeds_needed(0.01, 0.006, 0.01) == 9
    assert seeds_needed(0.01, 0.01, 0.01) is None and seeds_needed(0.01, 0.02, 0.01) is None
    assert seeds_needed(0.0, 0.0, 0.01) == 3  # no spread at all: the fewest seeds that test anything
