"""Generator and discriminator builders. Every size is an argument or derived from the image shape.

Generators take `noise` [N, latent_dim] (and `label` int [N] when conditional)
and return images in [-1, 1]. Discriminators take `image` (and `label` when
conditional) and return `num_outputs` logits.
"""

import math

import keras

from tfganaug.networks.layers import OUTPUT_DTYPE, batch_norm


def _inputs(latent_dim, num_classes):
    noise = keras.Input((latent_dim,), name="noise")
    if not num_classes:
        return [noise], None
    label = keras.Input((), dtype="int32", name="label")
    return [noise, label], keras.layers.CategoryEncoding(num_classes, output_mode="one_hot", name="label_one_hot")(label)


def _label_maps(one_hot, height, width, name):
    """One-hot labels tiled to [N, height, width, K] to concatenate with feature maps."""
    x = keras.layers.Reshape((1, 1, one_hot.shape[-1]))(one_hot)
    return keras.layers.UpSampling2D((height, width), name=name)(x)


def build_mlp_generator(latent_dim, image_shape, num_classes=0, *, hidden_units=(512, 1024, 2048), name="generator"):
    """The Fashion-MNIST study's generator: Dense -> BN -> ReLU per hidden layer, tanh output.

    Conditional when `num_classes` > 0: the one-hot label is concatenated to the noise.
    """
    inputs, one_hot = _inputs(latent_dim, num_classes)
    x = inputs[0] if one_hot is None else keras.layers.Concatenate()([inputs[0], one_hot])
    for units in hidden_units:
        x = keras.layers.Dense(units, use_bias=False)(x)
        x = batch_norm()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.Dense(math.prod(image_shape), activation="tanh", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, keras.layers.Reshape(tuple(image_shape), name="image", dtype=OUTPUT_DTYPE)(x), name=name)


def build_mlp_discriminator(image_shape, num_outputs=1, num_classes=0, *, hidden_units=(2048, 1024, 512),
                            name="discriminator"):
    """MLP discriminator (leaky ReLU; no batch norm, which would mix real and fake statistics).

    Conditional when `num_classes` > 0: the one-hot label is concatenated to the flattened image.
    """
    image = keras.Input(tuple(image_shape), name="image")
    inputs = [image]
    x = keras.layers.Flatten()(image)
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        x = keras.layers.Concatenate()([x, keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(label)])
    for units in hidden_units:
        x = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(units)(x))
    return keras.Model(inputs, keras.layers.Dense(num_outputs, name="logits", dtype=OUTPUT_DTYPE)(x), name=name)


def upsampling_steps(height):
    """How many stride-2 transposed convs take a small square (4-7 px) up to `height`."""
    steps = 0
    while height % (2 ** (steps + 1)) == 0 and height // (2 ** (steps + 1)) >= 4:
        steps += 1
    if steps == 0:
        raise ValueError(f"image height {height} is not a small square times a power of two (e.g. 28, 32, 64)")
    return steps


def build_dcgan_generator(latent_dim, image_shape, num_classes=0, *, base_filters=512, name="generator"):
    """The DAGAN study's conditional DCGAN generator.

    Linear -> reshape to s x s x base_filters -> [concat label maps -> 5x5
    transposed conv stride 2 (filters halving; BN + ReLU)] per step -> tanh with
    the image's channels. The number of steps comes from the image size
    (28: 7 -> 14 -> 28; 32: 4 -> 8 -> 16 -> 32; 64: four steps).
    """
    height, width, channels = image_shape
    steps = upsampling_steps(height)
    s_h, s_w = height // 2 ** steps, width // 2 ** steps
    inputs, one_hot = _inputs(latent_dim, num_classes)
    x = inputs[0] if one_hot is None else keras.layers.Concatenate()([inputs[0], one_hot])
    x = keras.layers.Dense(s_h * s_w * base_filters, use_bias=False)(x)
    x = keras.layers.ReLU()(batch_norm()(x))
    x = keras.layers.Reshape((s_h, s_w, base_filters))(x)
    for step in range(steps):
        if one_hot is not None:
            x = keras.layers.Concatenate()([x, _label_maps(one_hot, x.shape[1], x.shape[2], f"label_maps_{step}")])
        last = step == steps - 1
        filters = channels if last else max(1, base_filters // 2 ** (step + 1))
        x = keras.layers.Conv2DTranspose(filters, 5, strides=2, padding="same", use_bias=last)(x)
        if not last:
            x = keras.layers.ReLU()(batch_norm()(x))
    return keras.Model(inputs, keras.layers.Activation("tanh", name="image", dtype=OUTPUT_DTYPE)(x), name=name)


def build_dcgan_discriminator(image_shape, num_outputs=1, num_classes=0, *, filters=(96, 192), name="discriminator"):
    """The DAGAN study's discriminator (its input Gaussian noise is the GAN's `instance_noise`,
    drawn by the training step so that it is the same on any number of replicas).

    3x3 conv f1, f1, stride-2 f1 -> 3x3 conv f2, f2, stride-2 f2
    -> 3x3 conv f2 -> two 1x1 (network-in-network) convs f2 -> global average pool
    -> linear `num_outputs`; leaky ReLU throughout. Conditional when `num_classes`
    > 0: label maps are concatenated to the image channels.
    """
    f1, f2 = filters
    image = keras.Input(tuple(image_shape), name="image")
    inputs, x = [image], image
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        one_hot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(label)
        x = keras.layers.Concatenate()([x, _label_maps(one_hot, image_shape[0], image_shape[1], "label_maps")])
    plan = [(f1, 3, 1), (f1, 3, 1), (f1, 3, 2), (f2, 3, 1), (f2, 3, 1), (f2, 3, 2), (f2, 3, 1), (f2, 1, 1), (f2, 1, 1)]
    for f, k, s in plan:
        x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(f, k, strides=s, padding="same")(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_outputs, name="logits", dtype=OUTPUT_DTYPE)(x), name=name)
