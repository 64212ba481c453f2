"""Feature extractors for the GAN metrics."""

import keras
import numpy as np
import pytest

from tfganaug.errors import UserError
from tfganaug.evaluation.features import classifier_features, inception_features
from tfganaug.networks.classifiers import build_small_cnn


def test_classifier_features_are_the_penultimate_activations():
    model = build_small_cnn((8, 8, 1), 3, filters=(4,), dense_units=6)
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1)).astype(np.uint8)
    features = classifier_features(model)(images)
    assert features.shape == (5, 6)
    head = model.layers[-1]  # the softmax layer applied to those features gives the model's output
    np.testing.assert_allclose(np.asarray(head(features)), np.asarray(model(images.astype(np.float32))), atol=1e-5)


def test_inception_features_from_a_local_weights_file(tmp_path):
    path = tmp_path / "inception_notop.weights.h5"
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg", input_shape=(75, 75, 3)).save_weights(path)
    features = inception_features(path, input_size=75)(np.zeros((2, 8, 8, 1), np.uint8))
    assert features.shape == (2, 2048) and np.all(np.isfinite(features))
    with pytest.raises(UserError, match="never downloaded"):
        inception_features(tmp_path / "missing.h5")
