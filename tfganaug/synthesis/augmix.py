"""AugMix whose operations are drawn for every batch, also inside a tf.data pipeline."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfganaug")
class PerBatchAugMix(keras.layers.AugMix):
    """`keras.layers.AugMix` with each chain step's operation drawn in the graph, for every batch.

    Keras 3.15's AugMix picks a step's operation with Python's `random` while it makes the
    transformation; in a `tf.data` map, which is traced once, every batch of a run would then get the
    same operations (only their strengths drawn anew). Keras's RandAugment had the same fault
    (keras-team/keras#21169) and now draws its operations with the backend's `randint`, as this does.
    Each step draws one of the operations or none (the original's `[0, chain_depth]` operations per
    chain); as in Keras's layer, one draw serves the whole batch. Takes `keras.layers.AugMix`'s arguments.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        seed = seed or self._get_seed_generator(self.backend._backend)
        choices = len(self._augment_layers) + 1  # the last one: no operation at this step
        chains = [[{"choice": self.backend.random.randint((), 0, choices, seed=seed),
                    "transformations": [getattr(self, name).get_random_transformation(
                        data, seed=self._get_seed_generator(self.backend._backend)) for name in self._augment_layers]}
                   for _ in range(self.chain_depth)] for _ in range(self.num_chains)]
        return {"chain_mixing_weights": self._sample_from_dirichlet([self.num_chains], self.alpha, seed),
                "weight_sample": self.backend.random.beta(shape=(), alpha=self.alpha, beta=self.alpha, seed=seed),
                "chains": chains}

    def transform_images(self, images, transformation, training=True):
        images = tf.cast(images, self.compute_dtype)
        if not training:
            return images
        mixing = tf.cast(transformation["chain_mixing_weights"], self.compute_dtype)
        weight = tf.cast(transformation["weight_sample"], self.compute_dtype)
        mixed = tf.zeros_like(images)
        for i, chain in enumerate(transformation["chains"]):
            chained = images
            for step in chain:
                branches = [lambda name=name, t=t, x=chained: tf.cast(getattr(self, name).transform_images(x, t),
                                                                      self.compute_dtype)
                            for name, t in zip(self._augment_layers, step["transformations"])]
                chained = tf.switch_case(tf.cast(step["choice"], tf.int32), branches + [lambda x=chained: x])
            mixed += chained * mixing[i]
        return tf.clip_by_value(weight * images + (1 - weight) * mixed, *self.value_range)
