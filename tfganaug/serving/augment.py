"""Exported generators and translators in a user's own `tf.data` pipeline, as batch transforms.

Both load a version folder written by `tfganaug export` (they need only
TensorFlow at run time) and are called on batches inside `dataset.map`:

    augment = GeneratorAugmentation("exported_models/quickstart-acgan/1", ratio=0.5)
    train = train.batch(128).map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

`GeneratorAugmentation` adds generated images to each batch;
`TranslationAugmentation` turns a fraction of one class's images into another
class with a CycleGAN, keeping the batch size and the element spec.
"""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfganaug.errors import UserError
from tfganaug.serving.export import INFO_FILE
from tfganaug.synthesis.labeling import LABELINGS


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
        seed: seed of the class and noise draws (two distinct op seeds are derived from it; with
            parallel `map`, the order of batches, and so which batch gets which draw, is not deterministic).

    Images keep their dtype (uint8, or float in 0-255 as Keras image pipelines use);
    generated images are added after the real ones in each batch.
    """

    def __init__(self, path, ratio=0.5, class_distribution=None, labeling="pseudo_label", seed=0):
        info = _load_info(path, translator=False)
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

    def draw(self, m):
        """The classes [m] and the noise [m, latent_dim] of `m` generated images.

        Two op seeds: two random ops with one seed read the same random stream, which made
        an image's class depend on the size of its noise vector.
        """
        classes = tf.random.categorical(self.logits, m, dtype=tf.int32, seed=2 * self.seed)[0]
        return classes, tf.random.normal([m, self.latent_dim], seed=2 * self.seed + 1)

    def __call__(self, images, labels):
        """One batch in, the same batch plus its synthetic images out (use it with `dataset.map`)."""
        m = tf.cast(tf.round(self.ratio * tf.cast(tf.shape(images)[0], tf.float32)), tf.int32)
        classes, noise = self.draw(m)
        fake = self.generate(noise=noise, label=classes)["image"]
        return tf.concat([images, tf.cast(fake, images.dtype)], axis=0), self._targets(labels, classes)


def _load_info(path, translator):
    path = Path(path)
    if not (path / INFO_FILE).exists():
        raise UserError(f"{path} is not an exported model (no {INFO_FILE}); export one with `tfganaug export`")
    info = json.loads((path / INFO_FILE).read_text())
    if bool(info.get("translator")) != translator:
        raise UserError(f"{path} holds a {'generator' if translator else 'CycleGAN translator'}; "
                        f"use {'GeneratorAugmentation' if translator else 'TranslationAugmentation'}")
    return info


class TranslationAugmentation:
    """Translates a fraction of the images of class `source` into class `target` with an exported CycleGAN.

    Each image of class `source` in a batch is, with probability `fraction`, replaced
    by its translation and relabelled `target`; everything else passes unchanged, so
    the batch size, dtypes and label form (int or one-hot) stay as they were.

    Args:
        path: an exported CycleGAN (`exported_models/<name>/<version>`).
        source, target: classes by name or index; they must lie in opposite domains.
        fraction: probability that an image of `source` is translated.
        seed: op seed of the draws.
    """

    def __init__(self, path, source, target, fraction=0.5, seed=0):
        info = _load_info(path, translator=True)
        names = info["class_names"]
        index = lambda c: names.index(c) if isinstance(c, str) else int(c)  # noqa: E731
        if not all(isinstance(c, int) or c in names for c in (source, target)):
            raise ValueError(f"source and target must be classes of {names} (or their indices)")
        self.source, self.target = index(source), index(target)
        a, b = info["domain_a"], info["domain_b"]
        if names[self.source] in a and names[self.target] in b:
            signature = "translate_a_to_b"
        elif names[self.source] in b and names[self.target] in a:
            signature = "translate_b_to_a"
        else:
            raise ValueError(f"{names[self.source]} -> {names[self.target]}: the classes must lie in opposite "
                             f"domains of this CycleGAN (A: {a}, B: {b})")
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        self.fraction, self.seed = float(fraction), seed
        self.saved_model = tf.saved_model.load(str(path))  # kept: its signatures read its variables
        self.translate = self.saved_model.signatures[signature]

    def __call__(self, images, labels):
        """One batch in, the same batch with some `source` images translated and relabelled out."""
        classes = tf.cast(labels, tf.int32) if labels.shape.rank == 1 else tf.argmax(labels, axis=-1, output_type=tf.int32)
        chosen = (classes == self.source) & (tf.random.uniform(tf.shape(classes), seed=self.seed) < self.fraction)
        where = tf.where(chosen)
        picked = tf.cast(tf.gather_nd(images, where), tf.uint8) if images.dtype != tf.uint8 else tf.gather_nd(images, where)
        # Skipped when nothing is chosen: instance normalization reshapes with -1, which an empty
        # batch leaves ambiguous (the translator then returns a wrong channel count).
        translated = tf.cond(tf.shape(where)[0] > 0, lambda: self.translate(image=picked)["image"], lambda: picked)
        translated = tf.cast(translated, images.dtype)
        images = tf.tensor_scatter_nd_update(images, where, translated)
        if labels.shape.rank == 1:
            labels = tf.where(chosen, tf.cast(self.target, labels.dtype), labels)
        else:
            labels = tf.where(chosen[:, None], tf.one_hot(self.target, labels.shape[-1], dtype=labels.dtype), labels)
        return images, labels
