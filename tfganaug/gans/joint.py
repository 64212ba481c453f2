"""One discriminator call on the real and the fake images of a discriminator step, where that computes
what two calls would: half the calls, matmuls twice as tall, each weight cast (under a mixed policy) and
its gradient summed once instead of twice."""

import keras
import tensorflow as tf

# Layers whose training output for an image depends on that image alone: no batch statistics (batch
# norm), no state moved per call (spectral norm's power iteration), no random draws (dropout).
PER_IMAGE_LAYERS = (
    keras.layers.InputLayer, keras.layers.Dense, keras.layers.Flatten, keras.layers.Concatenate,
    keras.layers.CategoryEncoding, keras.layers.LeakyReLU, keras.layers.ReLU, keras.layers.Reshape,
    keras.layers.Activation,
)


def per_image(model):
    """Whether every layer of `model` (nested models' layers included) is one of `PER_IMAGE_LAYERS`."""
    return all(per_image(layer) if isinstance(layer, keras.Model) else isinstance(layer, PER_IMAGE_LAYERS)
               for layer in model.layers)


def real_and_fake_outputs(discriminator, real, fake, labels=None):
    """The discriminator's training outputs on `real` and on `fake` (images already augmented; `labels`
    given to it beside each when it sees the label): one call on both batches stacked when
    `per_image(discriminator)`, else one call each, real first. Both give the same outputs."""
    def call(images, labels):
        return discriminator(images if labels is None else [images, labels], training=True)

    if not per_image(discriminator):
        return call(real, labels), call(fake, labels)
    both = call(tf.concat([real, fake], 0), None if labels is None else tf.concat([labels, labels], 0))
    rows = tf.shape(real)[0]
    return both[:rows], both[rows:]
