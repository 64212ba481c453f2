"""CycleGAN (Zhu et al. 2017): unpaired translation between two domains (here: two sets of classes)."""

import keras
import numpy as np
import tensorflow as tf

from tfganaug.distribute import call_in_batches, scale_for_replicas, skip_symbolic_build, step_logs, with_loss_scaling
from tfganaug.gans.losses import cycle_consistency_loss, identity_loss, least_squares_discriminator_loss


@keras.saving.register_keras_serializable(package="tfganaug")
class ImagePool(keras.layers.Layer):
    """A history of generated images shown to a discriminator (Shrivastava et al. 2017).

    Until `size` images are stored, each new image is stored and passed through.
    Then each new image, with probability 1/2, is passed through; otherwise a
    random stored image is returned in its place and the new one takes its slot.
    The pool is layer state, so checkpoints keep it. `size` 0 passes everything through.
    Under a strategy with several replicas, each replica keeps its own pool of its
    own fakes (the variable is not aggregated), as each GPU would in the paper's code.
    """

    def __init__(self, size, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed = int(size), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.images = self.add_weight(shape=(max(self.size, 1),) + tuple(input_shape[1:]), initializer="zeros",
                                      trainable=False, name="images")
        self.count = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False, name="count")

    def call(self, fakes):
        if self.size == 0:
            return fakes
        n = tf.shape(fakes)[0]
        stored_before = tf.identity(self.count.value)  # swaps only read images stored before this batch
        slot = stored_before + tf.range(n)
        filling = slot < self.size
        coin = keras.random.uniform([n], seed=self.seed_generator) < 0.5
        swap = ~filling & coin & (stored_before > 0)
        drawn = keras.random.randint([n], 0, tf.maximum(stored_before, 1), seed=self.seed_generator)
        index = tf.where(filling, slot, drawn)
        stored = tf.gather(self.images, tf.minimum(index, self.size - 1))
        out = tf.where(tf.reshape(swap, [-1] + [1] * (len(fakes.shape) - 1)), stored, fakes)
        write = filling | swap
        self.images.assign(tf.tensor_scatter_nd_update(
            self.images, tf.boolean_mask(index, write)[:, None], tf.boolean_mask(fakes, write)))
        self.count.assign(tf.minimum(self.count + n, self.size))
        return out

    def get_config(self):
        return {**super().get_config(), "size": self.size, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfganaug")
class HoldThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """CycleGAN's schedule: `learning_rate` for `hold_steps`, then linear decay to 0 over `decay_steps`."""

    def __init__(self, learning_rate, hold_steps, decay_steps):
        self.learning_rate, self.hold_steps, self.decay_steps = float(learning_rate), int(hold_steps), int(decay_steps)

    def __call__(self, step):
        done = tf.cast(step, tf.float32) - self.hold_steps
        return self.learning_rate * tf.clip_by_value(1.0 - done / max(self.decay_steps, 1), 0.0, 1.0)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "hold_steps": self.hold_steps, "decay_steps": self.decay_steps}


@keras.saving.register_keras_serializable(package="tfganaug")
class CycleGAN(keras.Model):
    """Two generators (A->B, B->A) and two PatchGAN discriminators, trained with least-squares
    adversarial losses, the cycle loss and the identity loss.

    `fit` on batches of (images of domain A, images of domain B), both in [-1, 1].
    One step: both generators on
        adv = mean (D_B(G(a)) - 1)^2 + mean (D_A(F(b)) - 1)^2
        + cycle_weight * (|a - F(G(a))| + |b - G(F(b))|)
        + identity_weight * cycle_weight * (|b - G(b)| + |a - F(a)|)
    then both discriminators on 0.5 [(D(x) - 1)^2 + D(pooled fake)^2].

    Args:
        generator_ab, generator_ba: image -> image models (G: A->B, F: B->A).
        discriminator_a, discriminator_b: image -> patch logits.
        cycle_weight: lambda of the cycle loss (10 in the paper).
        identity_weight: the identity loss weight as a fraction of cycle_weight (0.5).
        pool_size: images in each discriminator's history of fakes (50; 0 for none).
        seed: seed of the pools' draws.
    """

    def __init__(self, generator_ab, generator_ba, discriminator_a, discriminator_b, cycle_weight=10.0,
                 identity_weight=0.5, pool_size=50, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator_ab, self.generator_ba = generator_ab, generator_ba
        self.discriminator_a, self.discriminator_b = discriminator_a, discriminator_b
        self.cycle_weight, self.identity_weight = float(cycle_weight), float(identity_weight)
        self.pool_size, self.seed = int(pool_size), seed
        shape = (None,) + tuple(generator_ab.input_shape[1:])
        self.pool_a = ImagePool(pool_size, seed=seed, name="pool_a")
        self.pool_b = ImagePool(pool_size, seed=None if seed is None else seed + 1, name="pool_b")
        self.pool_a.build(shape)
        self.pool_b.build(shape)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("g_loss", "d_loss", "cycle_loss", "identity_loss")}
        self.built = True

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """One optimizer for both generators, one for both discriminators (as the paper's code);
        see `GANBase.compile`."""
        g_optimizer, d_optimizer = with_loss_scaling(g_optimizer), with_loss_scaling(d_optimizer)
        super().compile(optimizer=d_optimizer, auto_scale_loss=False, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        g_optimizer.build(self._generator_variables())
        d_optimizer.build(self._discriminator_variables())

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        skip_symbolic_build()

    def _generator_variables(self):
        return self.generator_ab.trainable_variables + self.generator_ba.trainable_variables

    def _discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    def call(self, images, training=False):
        """A -> B translation (what is exported as the forward direction)."""
        return self.generator_ab(images, training=training)

    def identity_term(self, real_a, real_b):
        """|b - G(b)| + |a - F(a)|: each generator fed an image of its own target domain should return it."""
        return (identity_loss(real_b, self.generator_ab(real_b, training=True))
                + identity_loss(real_a, self.generator_ba(real_a, training=True)))

    def train_step(self, data):
        real_a, real_b = data
        with tf.GradientTape() as tape:
            fake_b = self.generator_ab(real_a, training=True)
            fake_a = self.generator_ba(real_b, training=True)
            cycle = (cycle_consistency_loss(real_a, self.generator_ba(fake_b, training=True))
                     + cycle_consistency_loss(real_b, self.generator_ab(fake_a, training=True)))
            identity = self.identity_term(real_a, real_b)
            adversarial = (tf.reduce_mean(tf.square(self.discriminator_b(fake_b, training=True) - 1.0))
                           + tf.reduce_mean(tf.square(self.discriminator_a(fake_a, training=True) - 1.0)))
            g_loss = adversarial + self.cycle_weight * cycle + self.identity_weight * self.cycle_weight * identity
            scaled = self.g_optimizer.scale_loss(scale_for_replicas(g_loss))  # see GANBase._scaled
        variables = self._generator_variables()
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

        pooled_a, pooled_b = self.pool_a(fake_a), self.pool_b(fake_b)
        with tf.GradientTape() as tape:
            d_loss = (least_squares_discriminator_loss(self.discriminator_a(real_a, training=True),
                                                       self.discriminator_a(pooled_a, training=True))
                      + least_squares_discriminator_loss(self.discriminator_b(real_b, training=True),
                                                         self.discriminator_b(pooled_b, training=True)))
            scaled = self.d_optimizer.scale_loss(scale_for_replicas(d_loss))
        variables = self._discriminator_variables()
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))

        for name, value in (("g_loss", g_loss), ("d_loss", d_loss), ("cycle_loss", cycle), ("identity_loss", identity)):
            self.trackers[name].update_state(value)
        return step_logs({name: tracker.result() for name, tracker in self.trackers.items()})

    def translate(self, images, direction="a_to_b", batch_size=64):
        """Translated images in [-1, 1] (numpy) of images in [-1, 1]; direction "a_to_b" or "b_to_a"."""
        if direction not in ("a_to_b", "b_to_a"):
            raise ValueError(f"direction must be 'a_to_b' or 'b_to_a', got {direction!r}")
        generator = self.generator_ab if direction == "a_to_b" else self.generator_ba
        return call_in_batches(generator, np.asarray(images, np.float32), batch_size)

    def get_config(self):
        config = super().get_config()
        for key in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"):
            config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        config.update(cycle_weight=self.cycle_weight, identity_weight=self.identity_weight,
                      pool_size=self.pool_size, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
