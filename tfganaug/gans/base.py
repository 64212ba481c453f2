"""`GANBase`: what every GAN here shares — two networks, two optimizers, one custom `train_step`."""

import threading

import keras
import numpy as np
import tensorflow as tf

from tfganaug.diffaugment import POLICIES, diff_augment
from tfganaug.distribute import (StepRandom, call_in_batches, scale_for_replicas, skip_symbolic_build, step_logs,
                                 with_loss_scaling)
from tfganaug.losses import ADVERSARIAL_LOSSES, gradient_penalty


# The current step's `StepRandom`, read by `augment` and `penalty` inside the subclasses' losses.
# Thread-local: MirroredStrategy traces each replica's step in its own thread, and each
# replica needs its own (it keeps that replica's rows of every draw).
_step = threading.local()


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
        instance_noise: standard deviation of Gaussian noise added to every image the
            discriminator sees in training (0: none).
        seed: seed of the noise and augmentation draws (None: a random one). The draws
            of a step depend only on (seed, step), see `tfganaug.distribute.StepRandom`.

    Under a `tf.distribute` strategy, build and compile the model in its scope;
    the losses are then per-replica shares of the global batch's mean (gradients
    are summed over replicas) and the logged losses are global means.
    """

    conditional = True  # the generator takes labels
    supported_losses = tuple(ADVERSARIAL_LOSSES)

    def __init__(self, generator, discriminator, latent_dim, num_classes, loss="bce", gp_weight=10.0,
                 diffaugment=(), instance_noise=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if loss not in self.supported_losses:
            raise ValueError(f"{type(self).__name__} supports loss {self.supported_losses}, got {loss!r}")
        unknown = [p for p in diffaugment if p not in POLICIES]
        if unknown:
            raise ValueError(f"unknown DiffAugment transforms {unknown}; choose from {POLICIES}")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.num_classes = int(latent_dim), int(num_classes)
        self.loss_name, self.gp_weight, self.diffaugment = loss, float(gp_weight), tuple(diffaugment)
        self.instance_noise = float(instance_noise)
        self.seed = seed
        self.draw_seed = int(seed) if seed is not None else int(np.random.randint(2**31 - 1))
        self.adv_g_loss, self.adv_d_loss = ADVERSARIAL_LOSSES[loss]
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.built = True  # both networks are functional models, built on construction

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """Set the generator's and the discriminator's optimizers (wrapped for loss scaling
        under the mixed_float16 policy); other arguments (`jit_compile`, ...) go to Keras."""
        g_optimizer, d_optimizer = with_loss_scaling(g_optimizer), with_loss_scaling(d_optimizer)
        # `optimizer` is the discriminator's, so that Keras callbacks which count steps through
        # `model.optimizer.iterations` (TensorBoard, BackupAndRestore) see the real ones.
        super().compile(optimizer=d_optimizer, auto_scale_loss=False, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Built now, so that a checkpoint (G, D and both optimizers' slots) can be
        # restored before the first step: a rerun resumes instead of restarting.
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_loss_tracker]

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        skip_symbolic_build()

    # ------------------------------------------------------------ pieces

    def generator_inputs(self, noise, labels):
        return [noise, labels] if self.conditional else [noise]

    def call(self, inputs, training=False):
        """The generator's forward pass (what is exported and served)."""
        return self.generator(inputs, training=training)

    def augment(self, images):
        """What the discriminator sees in training: DiffAugment, then instance noise."""
        if self.diffaugment:
            images = diff_augment(images, self.diffaugment, _step.random)
        if self.instance_noise:
            images = images + self.instance_noise * _step.random.normal([tf.shape(images)[0], *images.shape[1:]])
        return images

    def penalty(self, critic, real, fake):
        """The WGAN-GP term when the loss is "wgan_gp", else 0."""
        if self.loss_name != "wgan_gp":
            return 0.0
        alpha = _step.random.uniform([tf.shape(real)[0]])
        return self.gp_weight * gradient_penalty(critic, real, fake, alpha)

    # ------------------------------------------------------------ training

    def train_step(self, data):
        real, labels = data if isinstance(data, tuple) else (data, None)
        if labels is None:
            labels = tf.zeros([tf.shape(real)[0]], tf.int32)
        labels = tf.cast(labels, tf.int32)
        batch = tf.shape(real)[0]
        _step.random = random = StepRandom(self.draw_seed, self.d_optimizer.iterations)

        noise = random.normal([batch, self.latent_dim])
        d_loss = self._update(self.discriminator, self.d_optimizer,
                              lambda fake: self.discriminator_loss(real, fake, labels), noise, labels)
        noise = random.normal([batch, self.latent_dim])
        g_loss = self._update(self.generator, self.g_optimizer, lambda fake: self.generator_loss(fake, labels),
                              noise, labels)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return step_logs({m.name: m.result() for m in self.metrics})

    def _update(self, network, optimizer, loss_of_fakes, noise, labels):
        """One optimizer step of `network` on `loss_of_fakes(generated images)`; returns the loss."""
        with tf.GradientTape() as tape:
            fake = self.generator(self.generator_inputs(noise, labels), training=True)
            loss = loss_of_fakes(fake) + sum(network.losses)  # + weight regularizers, if a network has any
            # The replica's share of the global mean; `scale_loss` is the identity unless the
            # optimizer is a LossScaleOptimizer (mixed_float16).
            scaled = optimizer.scale_loss(scale_for_replicas(loss))
        grads = tape.gradient(scaled, network.trainable_weights)
        optimizer.apply_gradients(zip(grads, network.trainable_weights))
        return loss

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
        return call_in_batches(self.generator, self.generator_inputs(noise, labels), batch_size)

    # ------------------------------------------------------------ config

    def get_config(self):
        config = super().get_config()
        config.update({
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim, "num_classes": self.num_classes, "loss": self.loss_name,
            "gp_weight": self.gp_weight, "diffaugment": list(self.diffaugment), "instance_noise": self.instance_noise,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
