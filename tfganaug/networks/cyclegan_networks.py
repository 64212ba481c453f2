"""CycleGAN networks (Zhu et al. 2017): ResNet and U-Net generators, PatchGAN discriminator.

Every convolution is followed by instance normalization (`GroupNormalization`
with one group per channel: statistics per image and channel, as CycleGAN
uses; batch statistics would mix the two domains' images). Images are in [-1, 1].
"""

import keras

from tfganaug.networks.layers import OUTPUT_DTYPE


def _instance_norm():
    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)


def _conv_block(x, filters, kernel, strides=1, transpose=False, activation="relu"):
    conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    x = conv(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = _instance_norm()(x)
    return keras.layers.LeakyReLU(0.2)(x) if activation == "leaky_relu" else keras.layers.ReLU()(x)


def build_resnet_generator(image_shape, *, filters=64, downsamplings=2, residual_blocks=9, name="generator"):
    """The CycleGAN ResNet generator: 7x7 conv, `downsamplings` stride-2 convs, residual blocks,
    as many stride-2 transposed convs back up, 7x7 conv to the image's channels, tanh.

    The image side must be divisible by 2 ** downsamplings.
    """
    height, width, channels = image_shape
    if height % 2 ** downsamplings or width % 2 ** downsamplings:
        raise ValueError(f"image side {height}x{width} must be divisible by 2**downsamplings = {2 ** downsamplings}")
    inputs = keras.Input(tuple(image_shape), name="image")
    x = _conv_block(inputs, filters, 7)
    for i in range(downsamplings):
        x = _conv_block(x, filters * 2 ** (i + 1), 3, strides=2)
    width_here = filters * 2 ** downsamplings
    for _ in range(residual_blocks):
        y = _conv_block(x, width_here, 3)
        y = _instance_norm()(keras.layers.Conv2D(width_here, 3, padding="same", use_bias=False)(y))
        x = keras.layers.Add()([x, y])
    for i in reversed(range(downsamplings)):
        x = _conv_block(x, filters * 2 ** i, 3, strides=2, transpose=True)
    outputs = keras.layers.Conv2D(channels, 7, padding="same", activation="tanh", name="image_out",
                                  dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)


def build_unet_generator(image_shape, *, filters=64, depth=4, name="generator"):
    """A small U-Net generator: `depth` stride-2 conv steps down, transposed convs up with skip
    connections, tanh output. The image side must be divisible by 2 ** depth."""
    height, width, channels = image_shape
    if height % 2 ** depth or width % 2 ** depth:
        raise ValueError(f"image side {height}x{width} must be divisible by 2**depth = {2 ** depth}")
    inputs = keras.Input(tuple(image_shape), name="image")
    skips, x = [], inputs
    for i in range(depth):
        x = _conv_block(x, filters * 2 ** min(i, 3), 4, strides=2, activation="leaky_relu")
        skips.append(x)
    for i in reversed(range(depth - 1)):
        x = _conv_block(x, filters * 2 ** min(i, 3), 4, strides=2, transpose=True)
        x = keras.layers.Concatenate()([x, skips[i]])
    outputs = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                           name="image_out", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)


def build_patchgan_discriminator(image_shape, *, filters=64, layers=3, name="discriminator"):
    """The 70x70 PatchGAN (for layers=3 at 256 px): 4x4 stride-2 convs doubling the filters
    (no normalization on the first), a stride-1 conv, then a 1-channel map of real/fake logits,
    one per patch."""
    inputs = keras.Input(tuple(image_shape), name="image")
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(filters, 4, strides=2, padding="same")(inputs))
    for i in range(1, layers):
        x = _conv_block(x, filters * 2 ** min(i, 3), 4, strides=2, activation="leaky_relu")
    x = _conv_block(x, filters * 2 ** min(layers, 3), 4, activation="leaky_relu")
    outputs = keras.layers.Conv2D(1, 4, padding="same", name="patch_logits", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name)
