"""The residual GAN pair of SNGAN (Miyato et al. 2018) for small images: a generator with
class-conditional batch norm and a spectrally normalized discriminator, conditioned by projection.

Generator: noise -> linear -> s x s x `base_filters` -> one up-sampling residual block per
doubling (28: 7 -> 14 -> 28; 32: 4 -> 8 -> 16 -> 32; 64: four) -> BN, ReLU, 3x3 conv, tanh.
Each block: BN(y), ReLU, up x2, 3x3 conv, BN(y), ReLU, 3x3 conv, plus up x2 -> 1x1 conv;
BN(y) is `ConditionalBatchNorm` for a conditional generator, plain batch norm otherwise.

Discriminator: `image` -> an optimized first block to width f1 (conv, ReLU, conv, avg-pool,
plus avg-pool -> 1x1 conv) -> down-sampling blocks of width f2 while the side stays >= 7 ->
one block without down-sampling -> ReLU -> global sum pooling = phi(x) -> logits psi(phi).
With a `label` input (conditional, model `cgan`) the logit adds the projection
<embed(y), phi(x)> (Miyato & Koyama 2018). Every weight is spectrally normalized.
"""

import keras

from tfganaug.networks.gan_networks import upsampling_steps
from tfganaug.networks.layers import OUTPUT_DTYPE, ConditionalBatchNorm, GlobalSumPooling2D, batch_norm
from tfganaug.networks.spectral_norm import SNConv2D, SNDense, SNEmbedding


def _norm(x, label, num_classes):
    return ConditionalBatchNorm(num_classes)([x, label]) if num_classes else batch_norm()(x)


def _generator_block(x, label, num_classes, filters):
    h = keras.layers.ReLU()(_norm(x, label, num_classes))
    h = keras.layers.UpSampling2D()(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
    h = keras.layers.ReLU()(_norm(h, label, num_classes))
    h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
    shortcut = keras.layers.Conv2D(filters, 1, use_bias=False)(keras.layers.UpSampling2D()(x))
    return keras.layers.Add()([h, shortcut])


def build_residual_generator(latent_dim, image_shape, num_classes=0, *, base_filters=128, name="generator"):
    """The SNGAN residual generator (see the module docstring); conditional when `num_classes` > 0."""
    height, width, channels = image_shape
    steps = upsampling_steps(height)
    s_h, s_w = height // 2 ** steps, width // 2 ** steps
    noise = keras.Input((latent_dim,), name="noise")
    inputs, label = [noise], None
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
    # Every layer before a batch norm goes without a bias: the norm removes it, and its gradient would
    # be round-off noise that Adam scales up to full steps.
    x = keras.layers.Dense(s_h * s_w * base_filters, use_bias=False)(noise)
    x = keras.layers.Reshape((s_h, s_w, base_filters))(x)
    for _ in range(steps):
        x = _generator_block(x, label, num_classes, base_filters)
    x = keras.layers.ReLU()(batch_norm()(x))
    x = keras.layers.Conv2D(channels, 3, padding="same")(x)
    return keras.Model(inputs, keras.layers.Activation("tanh", name="image", dtype=OUTPUT_DTYPE)(x), name=name)


def _discriminator_block(x, filters, down, first=False):
    h = x if first else keras.layers.ReLU()(x)
    h = SNConv2D(filters, 3, padding="same")(h)
    h = SNConv2D(filters, 3, padding="same")(keras.layers.ReLU()(h))
    if down:
        h = keras.layers.AveragePooling2D(2)(h)
    shortcut = x
    if first:  # the optimized block pools before its 1x1 conv
        shortcut = SNConv2D(filters, 1)(keras.layers.AveragePooling2D(2)(x))
    elif down or x.shape[-1] != filters:
        shortcut = SNConv2D(filters, 1)(x)
        shortcut = keras.layers.AveragePooling2D(2)(shortcut) if down else shortcut
    return keras.layers.Add()([h, shortcut])


def discriminator_sides(height):
    """The feature-map side after each down-sampling block (the first one included)."""
    sides = [height // 2]
    while sides[-1] % 2 == 0 and sides[-1] // 2 >= 7:
        sides.append(sides[-1] // 2)
    return sides


def build_residual_discriminator(image_shape, num_outputs=1, num_classes=0, *, filters=(64, 128),
                                 name="discriminator"):
    """The SNGAN residual discriminator (see the module docstring): `num_outputs` logits; with
    `num_classes` > 0 it takes a `label` and adds the projection term to every logit."""
    f1, f2 = filters
    image = keras.Input(tuple(image_shape), name="image")
    inputs = [image]
    x = _discriminator_block(image, f1, down=True, first=True)
    for _ in discriminator_sides(image_shape[0])[1:]:
        x = _discriminator_block(x, f2, down=True)
    x = _discriminator_block(x, f2, down=False)
    phi = GlobalSumPooling2D(name="sum_pool")(keras.layers.ReLU()(x))
    logits = SNDense(num_outputs, name="psi", dtype=OUTPUT_DTYPE)(phi)
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        embedded = SNEmbedding(num_classes, f2, name="class_embedding")(label)
        projection = keras.layers.Dot(axes=1, name="projection", dtype=OUTPUT_DTYPE)([embedded, phi])
        logits = keras.layers.Add(name="logits", dtype=OUTPUT_DTYPE)([logits, projection])
    return keras.Model(inputs, logits, name=name)
