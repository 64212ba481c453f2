"""GAN metrics against hand-computed and closed-form values."""

import numpy as np
import pytest
from scipy import linalg

from tfganaug.evaluation.gan_metrics import (frechet_distance, frechet_distance_from_activations, frechet_distance_from_moments,
                                  gan_quality, kernel_distance_from_activations, mmd2_unbiased,
                                  precision_recall_from_activations)


def test_fid_of_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(50, 4))
    assert frechet_distance_from_activations(x, x) == pytest.approx(0, abs=1e-9)


def test_fid_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + np.eye(5), b @ b.T + 0.5 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance_from_moments(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-9)
    # diagonal covariances: sum (mu1 - mu2)^2 + sum (sd1 - sd2)^2
    sd1, sd2 = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    assert frechet_distance_from_moments([0, 0], np.diag(sd1 ** 2), [1, 2], np.diag(sd2 ** 2)) == pytest.approx(
        5 + (1 - 3) ** 2 + (2 - 0.5) ** 2)
    # samples: close to the closed form of their generating Gaussians
    real = rng.normal([0, 0], sd1, size=(20000, 2))
    fake = rng.normal([1, 2], sd2, size=(20000, 2))
    assert frechet_distance_from_activations(real, fake) == pytest.approx(11.25, rel=0.03)


def test_frechet_distance_applies_the_feature_function():
    images = np.arange(24, dtype=np.float32).reshape(6, 2, 2, 1)
    fid = frechet_distance(images, images + 1, lambda x: x.reshape(len(x), -1)[:, :2], batch_size=4)
    assert fid == pytest.approx(2.0)  # mean shift of 1 in two dimensions, same covariance


def test_mmd2_unbiased_matches_a_hand_computation():
    real, fake = np.array([[1.0], [2.0]]), np.array([[0.0], [3.0]])
    k = lambda a, b: (a * b + 1) ** 3  # noqa: E731  (D = 1)
    expected = (2 * k(1, 2)) / 2 + (2 * k(0, 3)) / 2 - 2 * (k(1, 0) + k(1, 3) + k(2, 0) + k(2, 3)) / 4
    assert mmd2_unbiased(real, fake) == pytest.approx(expected)


def test_kid_is_unbiased_for_one_distribution():
    rng = np.random.default_rng(2)
    values = [mmd2_unbiased(rng.normal(size=(20, 3)), rng.normal(size=(20, 3))) for _ in range(400)]
    assert min(values) < 0  # a biased (V-statistic) estimate could never be negative
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    mean, std = kernel_distance_from_activations(rng.normal(size=(100, 3)), rng.normal(1, 1, size=(100, 3)),
                                                 num_subsets=20, subset_size=50)
    assert mean > 0 and std > 0


def test_precision_and_recall_on_constructed_points():
    real = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], float)  # k=1 radius of each: 1
    fake = np.array([[0.5, 0.5], [0.2, 0.1], [10, 10], [11, 10]], float)  # two inside, two far away
    precision, recall = precision_recall_from_activations(real, fake, k=1)
    assert precision == 0.5
    # fake radii (k=1): 0.5 (to 0.2,0.1), 0.5, 1, 1 -> only (0, 0) lies within 0.5 of (0.2, 0.1) (0.22)
    assert recall == 0.25


def test_gan_quality_reports_overall_and_per_class_with_sample_counts():
    """Class 'b' generated 5 units off its real images in every dimension, class 'a' where its real images
    are: the per-class entries are the metrics of each class's own rows, and tell the two apart."""
    from tfganaug.evaluation.gan_metrics import frechet_distance_from_activations

    rng = np.random.default_rng(3)
    real_labels, fake_labels = np.arange(40) % 2, np.arange(30) % 2
    real = rng.normal(size=(40, 3)) + 10.0 * real_labels[:, None]  # classes 10 apart
    fake = rng.normal(size=(30, 3)) + 10.0 * fake_labels[:, None] + 5.0 * fake_labels[:, None]
    result = gan_quality(real, fake, real_labels=real_labels, fake_labels=fake_labels,
                         class_names=["a", "b"], kid_subsets=5, kid_subset_size=10)
    assert result["overall"]["n_real"] == 40 and result["overall"]["n_fake"] == 30
    assert set(result["per_class"]) == {"a", "b"} and result["per_class"]["a"]["n_fake"] == 15
    a, b = result["per_class"]["a"], result["per_class"]["b"]
    for name, entry in (("a", a), ("b", b)):
        c = ["a", "b"].index(name)
        assert entry["n_real"] == 20 and entry["fid"] == pytest.approx(
            frechet_distance_from_activations(real[real_labels == c], fake[fake_labels == c]))
    assert a["fid"] < 1.5 and 70 < b["fid"] < 85  # 3 x 5^2 = 75 from the means alone
    assert b["precision"] == 0 and b["recall"] == 0 and a["precision"] > 0.5 and a["recall"] > 0.5
    assert b["kid"] > 10 * max(a["kid"], 0.01)
    assert result["overall"]["fid"] == pytest.approx(frechet_distance_from_activations(real, fake))
