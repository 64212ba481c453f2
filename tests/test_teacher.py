"""Teacher labels (`labeling: teacher`, distillation): generated images labelled by the real-trained
feature classifier's softened probabilities softmax(logits / T), real images keeping their own."""

import keras
import numpy as np
import pytest

from tests.conftest import tiny_config
from tests.test_groups import TINY_GAN
from tfganaug.synthesis.labeling import teacher_targets


def teacher_logits(teacher, images):
    """The teacher's logits, computed apart from its softmax: its last layer's input times that
    Dense layer's kernel plus bias."""
    head = teacher.layers[-1]
    trunk = keras.Model(teacher.input, head.input)
    kernel, bias = (np.asarray(w, np.float64) for w in head.get_weights())
    return np.asarray(trunk(images, training=False), np.float64) @ kernel + bias


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def test_teacher_targets_are_the_softmax_of_the_logits_over_the_temperature():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    for temperature in (1.0, 2.0, 0.5):
        np.testing.assert_allclose(teacher_targets(softmax(logits), temperature), softmax(logits / temperature),
                                   atol=1e-7)
    # T = 2 by hand for the first row: exp([1, 0, -0.5]) / their sum.
    np.testing.assert_allclose(teacher_targets(softmax(logits), 2.0)[0],
                               np.exp([1, 0, -0.5]) / np.exp([1, 0, -0.5]).sum(), atol=1e-7)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_the_teacher_labelled_groups_labels_are_the_teachers_probabilities(npz_file, tmp_path, temperature):
    from tfganaug.config import validate
    from tfganaug.evaluation.gan_evaluation import real_classifier
    from tfganaug.experiment import RunData, plan_group
    from tfganaug.experiment.models import RunModels
    from tfganaug.layout import FEATURES_DIR

    group = {"type": "gan", "gan": TINY_GAN, "labeling": "teacher", "temperature": temperature,
             "synthetic_weight": 0.5, "synthesize": {"ratio": 1.0}}
    config = validate(tiny_config(npz_file, groups=[group]))
    data = RunData(config)
    models = RunModels(config, tmp_path, data, log=lambda *_: None, verbose=0)
    plan = plan_group(config.groups[0], data.splits(), 0, models)
    splits, recipe = data.for_seed(0)
    real, n = len(splits.train), len(plan.images) - len(splits.train)
    assert n == real == 18
    # Real images keep their one-hot labels; the synthetic weights still apply.
    np.testing.assert_array_equal(plan.targets[:real], np.eye(3)[splits.train.labels])
    assert plan.sample_weight.tolist() == [1.0] * real + [0.5] * n
    # The teacher is the run's feature classifier, loaded from its cache: no second one is trained.
    teacher = real_classifier(recipe, splits, tmp_path / FEATURES_DIR, log=pytest.fail)
    synthetic = plan.images[real:]
    expected = softmax(teacher_logits(teacher, synthetic) / temperature)
    np.testing.assert_allclose(plan.targets[real:], expected, atol=1e-6)
    assert not np.allclose(expected, np.eye(3)[expected.argmax(1)], atol=1e-3)  # soft rows, not one-hot


def test_fresh_sets_are_labelled_by_the_teacher_every_epoch(npz_file, tmp_path):
    from tfganaug.config import validate
    from tfganaug.evaluation.gan_evaluation import real_classifier
    from tfganaug.experiment import RunData, plan_group
    from tfganaug.experiment.models import RunModels
    from tfganaug.layout import FEATURES_DIR

    group = {"type": "gan", "gan": TINY_GAN, "labeling": "teacher", "synthesize": {"ratio": 0.5, "fresh": True}}
    config = validate(tiny_config(npz_file, groups=[group]))
    data = RunData(config)
    plan = plan_group(config.groups[0], data.splits(), 0, RunModels(config, tmp_path, data, lambda *_: None, 0))
    splits, recipe = data.for_seed(0)
    teacher = real_classifier(recipe, splits, tmp_path / FEATURES_DIR, log=pytest.fail)
    images, rows, weights = plan.fresh(2)
    assert len(images) == plan.fresh_count == 9 and weights is None
    np.testing.assert_allclose(rows, softmax(teacher_logits(teacher, images)), atol=1e-6)


def test_temperature_without_teacher_labels_is_refused_by_name(npz_file):
    from tfganaug.config import validate
    from tfganaug.errors import ConfigError

    with pytest.raises(ConfigError, match="temperature .* applies to labeling teacher, not 'pseudo_label'"):
        validate(tiny_config(npz_file, groups=[{"type": "gan", "gan": TINY_GAN, "temperature": 2.0}]))
