"""Synthetic images from an exported generator, mixed into a user's own `tf.data` pipeline.

`GeneratorAugmentation` loads a version folder written by `tfganaug export` (it
needs only TensorFlow at run time) and is called on batches:

    augment = GeneratorAugmentation("exported_models/quickstart-acgan/1", ratio=0.5)
    train = train.batch(128).map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
"""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfganaug.errors import UserError
from tfganaug.export import INFO_FILE
from tfganaug.labeling import LABELINGS


def fill_distribution(counts):
    """Class probabilities that fill rare classes toward the largest: proportional to max(counts) - counts.

    A balanced set (nothing to fill) gets the uniform distribution.
    """
    counts = np.asarray(counts, dtype=np.float64)
    missing = counts.max() - counts
    return (missing / missing.sum() if missing.sum() else np.full(len(counts), 1 / len(counts))).tolist()


class GeneratorAugmentation:
    """Adds round(ratio x batch) generated images to each `(images, labels)` batch.

    Args:
        path: an exported conditional generator (`exported_models/<name>/<version>`).
        ratio: synthetic images per real image in a batch (0.5: a batch of 128 becomes 192).
        class_distribution: None for uniform over the classes, or K probabilities
            (`fill_distribution(train_counts)` fills rare classes toward balance).
        labeling: "pseudo_label" keeps the labels' form (int [B] or one-hot [B, K]) so the
            element spec is unchanged; "all_in_one" gives one-hot rows [B, K + 1] with the
            synthetic class K; "lsro" gives soft rows [B, K], uniform 1/K for synthetic images.
        seed: op seed of the class and noise draws (with parallel `map`, the order of
            batches, and so which batch gets which draw, is not deterministic).

    Images keep their dtype (uint8, or float in 0-255 as Keras image pipelines use);
    generated images are added after the real ones in each batch.
    """

    def __init__(self, path, ratio=0.5, class_distribution=None, labeling="pseudo_label", seed=0):
        path = Path(path)
        if not (path / INFO_FILE).exists():
            raise UserError(f"{path} is not an exported generator (no {INFO_FILE}); export one with `tfganaug export`")
        info = json.loads((path / INFO_FILE).read_text())
        if not info["conditional"]:
            raise UserError(f"{path} holds an unconditional generator: its images have no class to label")
        if labeling not in LABELINGS:
            raise ValueError(f"labeling must be one of {LABELINGS}, got {labeling!r}")
        if ratio <= 0:
            raise ValueError(f"ratio must be > 0, got {ratio}")
        self.num_classes = len(info["class_names"])
        probabilities = np.full(self.num_classes, 1 / self.num_classes) if class_distribution is None \
            else np.asarray(class_distribution, np.float64)
        if probabilities.shape != (self.num_classes,) or probabilities.min() < 0 or not probabilities.sum() > 0:
            raise ValueError(f"class_distribution needs {self.num_classes} non-negative probabilities, got {class_distribution}")
        self.latent_dim = int(info["latent_dim"])
        self.logits = tf.constant(np.log(np.maximum(probabilities / probabilities.sum(), 1e-30))[None], tf.float32)
        self.ratio, self.labeling, self.seed = float(ratio), labeling, seed
        # Keep the loaded object: a signature alone does not keep the variables it reads alive.
        self.saved_model = tf.saved_model.load(str(path))
        # generate_from_noise with one batched normal draw: serving_default's per-image seeds
        # (one small random op per image) would cost more than the generator itself.
        self.generate = self.saved_model.signatures["generate_from_noise"]

    def _targets(self, labels, classes):
        k = self.num_classes
        if self.labeling == "pseudo_label":
            if labels.shape.rank == 1:
                return tf.concat([labels, tf.cast(classes, labels.dtype)], axis=0)
            return tf.concat([labels, tf.one_hot(classes, k, dtype=labels.dtype)], axis=0)
        width = k + 1 if self.labeling == "all_in_one" else k
        real = tf.one_hot(tf.cast(labels, tf.int32), width) if labels.shape.rank == 1 else \
            tf.pad(tf.cast(labels, tf.float32), [[0, 0], [0, width - labels.shape[-1]]])
        m = tf.shape(classes)[0]
        fake = tf.one_hot(tf.fill([m], k), width) if self.labeling == "all_in_one" else tf.fill([m, width], 1.0 / k)
        return tf.concat([real, fake], axis=0)

    def __call__(self, images, labels):
        """One batch in, the same batch plus its synthetic images out (use it with `dataset.map`)."""
        m = tf.cast(tf.round(self.ratio * tf.cast(tf.shape(images)[0], tf.float32)), tf.int32)
        classes = tf.random.categorical(self.logits, m, dtype=tf.int32, seed=self.seed)[0]
        noise = tf.random.normal([m, self.latent_dim], seed=self.seed)
        fake = self.generate(noise=noise, label=classes)["image"]
        return tf.concat([images, tf.cast(fake, images.dtype)], axis=0), self._targets(labels, classes)
