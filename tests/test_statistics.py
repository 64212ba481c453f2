"""Statistics across seeds against textbook values."""

import math

import pytest

from tfganaug.evaluation.statistics import mean_ci, paired_test

# Student's sleep data (Cushny and Peebles; R's `sleep`): extra hours of sleep with two drugs, 10 patients.
DRUG_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_paired_test_matches_the_textbook_sleep_example():
    # R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9, p-value = 0.002833
    result = paired_test(DRUG_1, DRUG_2)
    assert result["diff"] == pytest.approx(-1.58)
    assert result["p"] == pytest.approx(0.002833, abs=1e-6)
    assert result["significant"] and result["n"] == 10


def test_mean_ci_matches_the_textbook_interval():
    # R: the paired differences' 95% CI is -2.4598858 .. -0.7001142
    differences = [a - b for a, b in zip(DRUG_1, DRUG_2)]
    mean, std, low, high = mean_ci(differences)
    assert (mean, low, high) == pytest.approx((-1.58, -2.4598858, -0.7001142), abs=1e-6)
    assert std == pytest.approx(1.229995, abs=1e-6)


def test_small_or_flat_samples_are_never_called_significant():
    assert mean_ci([0.8])[:2] == (0.8, 0.0) and math.isnan(mean_ci([0.8])[2])
    one = paired_test([0.9], [0.8])
    assert one["diff"] == pytest.approx(0.1) and math.isnan(one["p"]) and not one["significant"]
    same_gain = paired_test([0.9, 0.8], [0.8, 0.7])  # every seed +0.1: no spread, t undefined
    assert math.isnan(same_gain["p"]) and not same_gain["significant"]
    noisy = paired_test([0.81, 0.79, 0.80], [0.80, 0.80, 0.80])
    assert noisy["p"] > 0.5 and not noisy["significant"]
    with pytest.raises(ValueError, match="same seeds"):
        paired_test([1, 2], [1])
