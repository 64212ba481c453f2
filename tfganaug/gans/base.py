"""`GANBase`: what every GAN here shares — two networks, two optimizers, one custom `train_step`."""

import keras
import numpy as np
import tensorflow as tf

from tfganaug.distribute import (
    StepRandom,
    call_in_batches,
    global_mean,
    num_replicas,
    scale_for_replicas,
    skip_symbolic_build,
    step_logs,
    with_loss_scaling,
)
from tfganaug.gans.diffaugment import POLICIES, diff_augment
from tfganaug.gans.feature_branch import feature_discriminator_loss, feature_generator_loss, weighted_feature_loss
from tfganaug.gans.losses import ADVERSARIAL_LOSSES, gradient_penalty, lecam_regularizer
from tfganaug.gans.moving_average import MovingAverageGenerator
from tfganaug.gans.noise import draw_noise


def sparse_ce(labels, logits):
    """Mean sparse categorical cross-entropy from logits."""
    return tf.reduce_mean(keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


class GANBase(MovingAverageGenerator, keras.Model):
    """A GAN as a `keras.Model`: `fit` on (images in [-1, 1], int labels) batches.

    Each `train_step` makes `d_steps` discriminator steps and one generator step (one
    and one: the alternation of the Fashion-MNIST study). Subclasses define
    `discriminator_loss(real, fake, labels, random)` -> (loss, real logits, fake logits;
    the real/fake logits, or None where the model has none) and `generator_loss(fake, labels, random)`,
    where `random` is the step's `StepRandom` (the draws of augmentation and penalties), and
    say how their discriminator is built (`discriminator_outputs`, `discriminator_sees_label`).

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
        d_steps: discriminator steps per generator step. Each takes its own share of the
            batch: feed batches of `d_steps` x the batch size of one discriminator step.
        lecam: weight of the LeCam regularizer on the real/fake logits (0: none); models
            without such a logit (SGAN, DAGAN) refuse it.
        ema_decay: when set, `ema_generator` keeps an exponential moving average of the
            generator's weights (its batch-norm statistics copied), and it makes every
            generated image (`generate`, `call`, exports).
        ema_start: generator steps before the average starts (a plain copy until then).
        ada_target: when set, adaptive augmentation (Karras et al. 2020): each DiffAugment
            transform is applied to an image with probability `ada_p`, which rises while the
            discriminator's sign on real images, E[sign(D(x))], is above this target (it is
            overfitting) and falls while below; it moves by at most 1 per `ADA_KIMG` thousand
            real images, once every `ADA_INTERVAL` discriminator steps from the signs of all their
            real images (as StyleGAN2-ADA). Needs `diffaugment` transforms and a real/fake logit.
        feature_discriminator: when set, a second discriminator on frozen pretrained features
            (`tfganaug.networks.projected`), trained with the first by `d_optimizer`; its losses
            (`tfganaug.gans.feature_branch`) join both networks' losses. Needs a real/fake logit
            and a loss other than "wgan_gp" (its gradient penalty covers the first one only).
        feature_weight: the weight of the feature branch's losses.
        feature_start_kimg: thousands of real images shown before the feature branch joins (warm-up).

    Under a `tf.distribute` strategy, build and compile the model in its scope;
    the losses are then per-replica shares of the global batch's mean (gradients
    are summed over replicas) and the logged losses are global means.
    """

    conditional = True  # the generator takes labels
    discriminator_sees_label = False  # the discriminator takes (image, label), not the image alone
    supported_losses = tuple(ADVERSARIAL_LOSSES)

    @classmethod
    def discriminator_outputs(cls, num_classes):
        """How many logits this model's discriminator gives for K = `num_classes` (one real/fake logit here)."""
        return 1

    has_real_fake_logit = True  # what LeCam and ADA read; SGAN and DAGAN have class logits only
    ADA_KIMG = 100  # real images (thousands) for ada_p to go from 0 to 1 (StyleGAN2-ADA: 500, for longer runs)
    # Discriminator steps whose real-image signs are pooled before ada_p moves (StyleGAN2-ADA's ada_interval):
    # one batch's sign is noisy, and moving on every batch made p jitter at the batch size's scale.
    ADA_INTERVAL = 4
    LECAM_DECAY = 0.99  # of the moving averages LeCam anchors to (google/lecam-gan)

    def __init__(self, generator, discriminator, latent_dim, num_classes, loss="bce", gp_weight=10.0,
                 diffaugment=(), instance_noise=0.0, seed=None, d_steps=1, lecam=0.0, ema_decay=None, ema_start=0,
                 ada_target=None, feature_discriminator=None, feature_weight=1.0, feature_start_kimg=0.0, **kwargs):
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
        if (lecam or ada_target is not None) and not self.has_real_fake_logit:
            raise ValueError(f"{type(self).__name__} has no real/fake logit for LeCam or adaptive augmentation")
        if ada_target is not None and not diffaugment:
            raise ValueError("adaptive augmentation (ada_target) needs diffaugment transforms to apply")
        if feature_discriminator is not None and (loss == "wgan_gp" or not self.has_real_fake_logit):
            raise ValueError(f"{type(self).__name__} with loss {loss!r} cannot take a feature discriminator")
        self.feature_discriminator = feature_discriminator
        self.feature_weight, self.feature_start_kimg = float(feature_weight), float(feature_start_kimg)
        # State variables exist only when their option is on: a GAN without them has exactly the
        # weights of one saved before these options existed, so its folder still loads.
        self.ada_target = None if ada_target is None else float(ada_target)
        self.ada_p = None if ada_target is None else keras.Variable(0.0, trainable=False, name="ada_p")
        self.d_steps, self.lecam = int(d_steps), float(lecam)
        # The moving averages of D's mean real and fake logits that LeCam anchors to, stored biased
        # toward their start at 0 and read zero-debiased (`lecam_term`).
        self.lecam_real = keras.Variable(0.0, trainable=False, name="lecam_real") if lecam else None
        self.lecam_fake = keras.Variable(0.0, trainable=False, name="lecam_fake") if lecam else None
        # ADA's pooled statistics since ada_p last moved: [sum of sign(D(real)), real images].
        self.ada_stats = None if ada_target is None else keras.Variable(
            [0.0, 0.0], trainable=False, name="ada_stats")
        self.ema_decay, self.ema_start = (None if ema_decay is None else float(ema_decay)), int(ema_start)
        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
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
        d_optimizer.build(self.discriminator_weights)

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_loss_tracker]

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        skip_symbolic_build()

    # ------------------------------------------------------------ pieces

    @property
    def discriminator_weights(self):
        """What the discriminator optimizer trains: the discriminator's weights and the feature branch's heads."""
        branch = [] if self.feature_discriminator is None else self.feature_discriminator.trainable_weights
        return self.discriminator.trainable_weights + branch

    def feature_loss(self, real, fake, labels, random):
        """The feature branch's weighted loss for the discriminator (`real` given) or the generator
        (`real` None); 0 without a branch (see `tfganaug.gans.feature_branch`)."""
        if self.feature_discriminator is None:
            return 0.0
        if real is None:
            return weighted_feature_loss(self, lambda: feature_generator_loss(self, fake, labels, random),
                                         tf.shape(fake)[0])
        return weighted_feature_loss(self, lambda: feature_discriminator_loss(self, real, fake, labels, random),
                                     tf.shape(real)[0])

    def generator_inputs(self, noise, labels):
        return [noise, labels] if self.conditional else [noise]

    @property
    def sampling_generator(self):
        """The network that makes the images: the moving average of the generator when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, inputs, training=False):
        """The sampling generator's forward pass (what is exported and served)."""
        return self.sampling_generator(inputs, training=training)

    def augment(self, images, random):
        """What the discriminator sees in training: DiffAugment, then instance noise (draws from `random`)."""
        if self.diffaugment:
            images = diff_augment(images, self.diffaugment, random,
                                  probability=None if self.ada_target is None else self.ada_p)
        if self.instance_noise:
            images = images + self.instance_noise * random.normal([tf.shape(images)[0], *images.shape[1:]])
        return images

    def penalty(self, critic, real, fake, random):
        """The WGAN-GP term when the loss is "wgan_gp", else 0.

        Its inner gradient is taken of the critic's scores times the discriminator optimizer's
        loss scale (1 unless mixed_float16), so float16 gradients inside the critic do not underflow.
        """
        if self.loss_name != "wgan_gp":
            return 0.0
        alpha = random.uniform([tf.shape(real)[0]])
        scale = self.d_optimizer.scale_loss(tf.constant(1.0))
        return self.gp_weight * gradient_penalty(critic, real, fake, alpha, loss_scale=scale)

    # ------------------------------------------------------------ training

    def train_step(self, data):
        real, labels = data if isinstance(data, tuple) else (data, None)
        if labels is None:
            labels = tf.zeros([tf.shape(real)[0]], tf.int32)
        labels = tf.cast(labels, tf.int32)
        reals, label_parts = (tf.split(real, self.d_steps), tf.split(labels, self.d_steps)) if self.d_steps > 1 \
            else ([real], [labels])
        d_losses = []
        for part, part_labels in zip(reals, label_parts):
            # The draws of this step: the same on any number of replicas, and after a resume.
            random = StepRandom(self.draw_seed, self.d_optimizer.iterations)
            d_losses.append(self.discriminator_step(part, part_labels, random))
        g_loss = self.generator_step(label_parts[-1], random)
        if self.ema_generator is not None:
            self.update_ema()
        self.d_loss_tracker.update_state(tf.add_n(d_losses) / len(d_losses))
        self.g_loss_tracker.update_state(g_loss)
        logs = {m.name: m.result() for m in self.metrics}
        if self.ada_target is not None:
            logs["ada_p"] = tf.identity(self.ada_p)  # per epoch in losses.csv and TensorBoard
        return step_logs(logs)

    def discriminator_step(self, real, labels, random):
        """One optimizer step of the discriminator against freshly generated images; returns its loss.

        The generator runs outside the gradient tape: nothing of it is differentiated here.
        """
        noise = random.normal([tf.shape(real)[0], self.latent_dim])
        fake = self.generator(self.generator_inputs(noise, labels), training=True)
        with tf.GradientTape() as tape:
            loss, real_logits, fake_logits = self.discriminator_loss(real, fake, labels, random)
            if self.lecam:
                loss += self.lecam * self.lecam_term(real_logits, fake_logits)
            loss += self.feature_loss(real, fake, labels, random)
            loss += sum(self.discriminator.losses)  # weight regularizers, if the network has any
            scaled = self._scaled(self.d_optimizer, loss)
        weights = self.discriminator_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        if self.ada_target is not None:
            self.adapt_augmentation(real_logits, tf.shape(real)[0])
        return loss

    def lecam_term(self, real_logits, fake_logits):
        """LeCam's regularizer anchored to the moving averages of D's mean real and fake logits, this
        batch's included and zero-debiased (divided by 1 - decay^n after n updates), as google/lecam-gan's
        `assign_moving_average(..., zero_debias=True)`: the first anchors are the first batch's means,
        where biased averages starting at 0 pulled every early real logit toward 0. Updates the averages."""
        updates = tf.cast(self.d_optimizer.iterations + 1, tf.float32)  # this step is the n-th update
        debias = 1.0 - tf.pow(self.LECAM_DECAY, updates)
        real_logits, fake_logits = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
        anchors = []
        for average, logits in ((self.lecam_real, real_logits), (self.lecam_fake, fake_logits)):
            mean = global_mean(tf.reduce_mean(tf.stop_gradient(logits)))
            updated = self.LECAM_DECAY * average + (1.0 - self.LECAM_DECAY) * mean
            average.assign(updated)
            anchors.append(updated / debias)
        return lecam_regularizer(real_logits, fake_logits, *anchors)

    def adapt_augmentation(self, real_logits, batch):
        """Pools E[sign(D(real))] over the global batch into `ada_stats`; every `ADA_INTERVAL` discriminator
        steps moves `ada_p` up while the pooled mean is above `ada_target`, down while below, by the pooled
        real images / (ADA_KIMG x 1000) (the paper's speed per image), clipped to [0, 1], and empties the pool."""
        images = tf.cast(batch * num_replicas(), tf.float32)
        overfit = global_mean(tf.reduce_mean(tf.sign(tf.cast(real_logits, tf.float32))))
        stats = self.ada_stats + tf.stack([overfit * images, images])
        moved = self.ada_p + tf.sign(stats[0] / stats[1] - self.ada_target) * stats[1] / (self.ADA_KIMG * 1000.0)
        due = self.d_optimizer.iterations % self.ADA_INTERVAL == 0  # counts this step: it has been applied
        self.ada_p.assign(tf.where(due, tf.clip_by_value(moved, 0.0, 1.0), self.ada_p))
        self.ada_stats.assign(tf.where(due, tf.zeros_like(stats), stats))

    def generator_step(self, labels, random):
        """One optimizer step of the generator for a batch of `labels`; returns its loss."""
        noise = random.normal([tf.shape(labels)[0], self.latent_dim])
        with tf.GradientTape() as tape:
            fake = self.generator(self.generator_inputs(noise, labels), training=True)
            loss = self.generator_loss(fake, labels, random) + self.feature_loss(None, fake, labels, random)
            loss += sum(self.generator.losses)
            scaled = self._scaled(self.g_optimizer, loss)
        self._apply(self.g_optimizer, self.generator, tape.gradient(scaled, self.generator.trainable_weights))
        return loss

    @staticmethod
    def _scaled(optimizer, loss):
        # The replica's share of the global mean; `scale_loss` is the identity unless the
        # optimizer is a LossScaleOptimizer (mixed_float16).
        return optimizer.scale_loss(scale_for_replicas(loss))

    @staticmethod
    def _apply(optimizer, network, grads):
        optimizer.apply_gradients(zip(grads, network.trainable_weights))

    # ------------------------------------------------------------ sampling

    def generate(self, labels=None, n=None, seed=None, batch_size=256, truncation=None):
        """Generated images in [-1, 1] as a float32 numpy array [N, H, W, C], made by `sampling_generator`.

        Args:
            labels: int classes to generate (conditional models); N = len(labels).
            n: how many (unconditional models).
            seed: seed of the noise; the same seed gives the same images.
            batch_size: images per generator call.
            truncation: draw the noise from a normal truncated at this many standard deviations.
        """
        if self.conditional:
            if labels is None:
                raise ValueError(f"{type(self).__name__} is conditional: pass labels=")
            labels = np.asarray(labels, dtype=np.int32)
            n = len(labels)
        elif n is None:
            raise ValueError(f"{type(self).__name__} is unconditional: pass n=")
        noise = draw_noise(n, self.latent_dim, seed, truncation)
        return call_in_batches(self.sampling_generator, self.generator_inputs(noise, labels), batch_size)

    # ------------------------------------------------------------ config

    def get_config(self):
        config = super().get_config()
        config.update({
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim, "num_classes": self.num_classes, "loss": self.loss_name,
            "gp_weight": self.gp_weight, "diffaugment": list(self.diffaugment), "instance_noise": self.instance_noise,
            "seed": self.seed, "d_steps": self.d_steps, "lecam": self.lecam, "ema_decay": self.ema_decay,
            "ema_start": self.ema_start, "ada_target": self.ada_target,
        })
        if self.feature_discriminator is not None:
            config.update({"feature_discriminator": keras.saving.serialize_keras_object(self.feature_discriminator),
                           "feature_weight": self.feature_weight, "feature_start_kimg": self.feature_start_kimg})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator", "feature_discriminator"):
            if key in config:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
