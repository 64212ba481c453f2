"""Classifier training: model selection uses the same rule as the reported test accuracy."""

import keras
import numpy as np

from tfganaug.data.pipeline import one_hot
from tfganaug.training.classifier import fit_classifier, predict_classes


def test_all_in_one_validation_accuracy_leaves_the_synthetic_class_out_as_testing_does():
    # K = 3 real classes plus the all-in-one "synthetic" output, which a huge bias makes the
    # argmax of every row; a learning rate of ~0 keeps it there for the one epoch.
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (24, 4, 4, 1)).astype(np.uint8), np.arange(24) % 3
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel, np.array([0, 0, 0, 50.0], np.float32)])
    history = fit_classifier(model, images, one_hot(labels, 4), val=(images, labels), epochs=1, batch_size=8,
                             learning_rate=1e-9, seed=0, verbose=0, num_classes=3)
    tested = float(np.mean(predict_classes(model, images, 3) == labels))
    assert tested > 0  # over the 3 real classes the predictions are not all wrong
    assert history["val_accuracy"][0] == tested  # over 4 outputs it was 0
