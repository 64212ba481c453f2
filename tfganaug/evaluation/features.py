"""Feature extractors for the GAN metrics: `images (uint8 or float 0-255) -> activations [N, D]`.

The default is a classifier trained on the real training data (works offline,
on any data set); InceptionV3 features need a local weights file and are
never downloaded.
"""

from pathlib import Path

import keras
import numpy as np

from tfganaug.errors import UserError


def classifier_features(classifier):
    """The classifier's penultimate activations (the input of its output layer) as a feature function."""
    extractor = keras.Model(classifier.input, classifier.layers[-1].input, name="features")
    return lambda images: np.asarray(extractor(np.asarray(images, np.float32), training=False))


def inception_features(weights_path, input_size=299):
    """InceptionV3 pool features (2048-d) from a local no-top weights file, as in FID.

    Grey images are tiled to RGB and every image is resized to `input_size`.

    Args:
        weights_path: a Keras InceptionV3 `include_top=False` weights file
            (e.g. inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5).
        input_size: the network's input side (299 as published; >= 75).
    """
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise UserError(f"InceptionV3 weights file {weights_path} not found; give a local no-top weights file "
                        f"(features are never downloaded) or use the default classifier features")
    network = keras.applications.InceptionV3(include_top=False, weights=str(weights_path), pooling="avg",
                                             input_shape=(input_size, input_size, 3))

    def features(images):
        x = keras.ops.convert_to_tensor(np.asarray(images, np.float32))
        if x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        x = keras.ops.image.resize(x, (input_size, input_size))
        return np.asarray(network(keras.applications.inception_v3.preprocess_input(x), training=False))
    return features
