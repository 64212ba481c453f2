"""`GANBase`: what every GAN here shares — two networks, two optimizers, one custom `train_step`."""

import keras
import numpy as np
import tensorflow as tf

from tfganaug.diffaugment import POLICIES, diff_augment
from tfganaug.losses import ADVERSARIAL_LOSSES, gradient_penalty


def sparse_ce(labels, logits):
    """Mean sparse categorical cross-entropy from logits."""
    return tf.reduce_mean(keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


class GANBase(keras.Model):
    """A GAN as a `keras.Model`: `fit` on (images in [-1, 1], int labels) batches.

    Each `train_step` makes one discriminator step and one generator step (the
    alternation of the Fashion-MNIST study). Subclasses define
    `discriminator_loss(real, fake, labels)` and `generator_loss(fake, labels)`.

    Args:
        generator: takes `noise` (and `label` when conditional), gives images in [-1, 1].
        discriminator: gives logits; its number of outputs depends on the subclass.
        latent_dim: noise size.
        num_classes: K, the number of real classes.
        loss: adversarial loss: "bce", "least_squares", "hinge" or "wgan_gp".
        gp_weight: weight of the WGAN-GP gradient penalty.
        diffaugment: transforms from ("color", "translation", "cutout") applied to
            real and fake images before the discriminator; empty for none.
        seed: seed of the noise and augmentation draws.
    """

    conditional = True  # the generator takes labels
    supported_losses = tuple(ADVERSARIAL_LOSSES)

    def __init__(self, generator, discriminator, latent_dim, num_classes, loss="bce", gp_weight=10.0,
                 diffaugment=(), seed=None, **kwargs):
        super().__init__(**kwargs)
        if loss not in self.supported_losses:
            raise ValueError(f"{type(self).__name__} supports loss {self.supported_losses}, got {loss!r}")
        unknown = [p for p in diffaugment if p not in POLICIES]
        if unknown:
            raise ValueError(f"unknown DiffAugment transforms {unknown}; choose from {POLICIES}")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.num_classes = int(latent_dim), int(num_classes)
        self.loss_name, self.gp_weight, self.diffaugment = loss, float(gp_weight), tuple(diffaugment)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.adv_g_loss, self.adv_d_loss = ADVERSARIAL_LOSSES[loss]
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.built = True  # both networks are functional models, built on construction

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """Set the generator's and the discriminator's optimizers."""
        # `optimizer` is the discriminator's, so that Keras callbacks which count steps through
        # `model.optimizer.iterations` (TensorBoard, BackupAndRestore) see the real ones.
        super().compile(optimizer=d_optimizer, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Built now, so that a checkpoint (G, D and both optimizers' slots) can be
        # restored before the first step: a rerun resumes instead of restarting.
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_loss_tracker]

    # ------------------------------------------------------------ pieces

    def generator_inputs(self, noise, labels):
        return [noise, labels] if self.conditional else [noise]

    def call(self, inputs, training=False):
        """The generator's forward pass (what is exported and served)."""
        return self.generator(inputs, training=training)

    def augment(self, images):
        return diff_augment(images, self.diffaugment, self.seed_generator) if self.diffaugment else images

    def penalty(self, critic, real, fake):
        """The WGAN-GP term when the loss is "wgan_gp", else 0."""
        if self.loss_name != "wgan_gp":
            return 0.0
        alpha = keras.random.uniform([tf.shape(real)[0]], seed=self.seed_generator)
        return self.gp_weight * gradient_penalty(critic, real, fake, alpha)

    # ------------------------------------------------------------ training

    def train_step(self, data):
        real, labels = data if isinstance(data, tuple) else (data, None)
        if labels is None:
            labels = tf.zeros([tf.shape(real)[0]], tf.int32)
        labels = tf.cast(labels, tf.int32)
        batch = tf.shape(real)[0]

        noise = keras.random.normal([batch, self.latent_dim], seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self.generator_inputs(noise, labels), training=True)
            d_loss = self.discriminator_loss(real, fake, labels)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        noise = keras.random.normal([batch, self.latent_dim], seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self.generator_inputs(noise, labels), training=True)
            g_loss = self.generator_loss(fake, labels)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    # ------------------------------------------------------------ sampling

    def generate(self, labels=None, n=None, seed=None, batch_size=256):
        """Generated images in [-1, 1] as a float32 numpy array [N, H, W, C].

        Args:
            labels: int classes to generate (conditional models); N = len(labels).
            n: how many (unconditional models).
            seed: seed of the noise; the same seed gives the same images.
            batch_size: images per generator call.
        """
        if self.conditional:
            if labels is None:
                raise ValueError(f"{type(self).__name__} is conditional: pass labels=")
            labels = np.asarray(labels, dtype=np.int32)
            n = len(labels)
        elif n is None:
            raise ValueError(f"{type(self).__name__} is unconditional: pass n=")
        noise = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        out = []
        for start in range(0, n, batch_size):
            chunk = slice(start, start + batch_size)
            inputs = [noise[chunk], labels[chunk]] if self.conditional else [noise[chunk]]
            out.append(np.asarray(self.generator(inputs, training=False)))
        return np.concatenate(out) if out else np.zeros((0,) + tuple(self.generator.output_shape[1:]), np.float32)

    # ------------------------------------------------------------ config

    def get_config(self):
        config = super().get_config()
        config.update({
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim, "num_classes": self.num_classes, "loss": self.loss_name,
            "gp_weight": self.gp_weight, "diffaugment": list(self.diffaugment), "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
