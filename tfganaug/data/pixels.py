"""The two pixel scales: images are stored as uint8 in 0-255; generators and discriminators work in [-1, 1].

One pair of conversions for numpy arrays and one for tensors (inside exported SavedModels and tf.data).
"""

import numpy as np
import tensorflow as tf


def to_uint8(images):
    """Images in [-1, 1] (numpy) -> uint8 in 0-255, rounded and clipped."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_signed(images):
    """uint8 (or float 0-255) images (numpy) -> float32 in [-1, 1]."""
    return np.asarray(images).astype(np.float32) / 127.5 - 1.0


def tensor_to_uint8(images):
    """`to_uint8` for tensors."""
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def tensor_to_signed(images):
    """`to_signed` for tensors."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_unit(images):
    """Images in [-1, 1] -> [0, 1] (what image plots and TensorBoard show)."""
    return (images + 1.0) / 2.0
