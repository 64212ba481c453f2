"""The discriminator's feature branch (Projected GAN, Sauer et al. 2021): a frozen pretrained trunk,
fixed random projections of its features, and one small trained head per depth.

    image -> trunk (frozen, `tfganaug.networks.feature_trunks`) -> maps at depths 0..D-1
          -> cross-channel mixing: per depth a fixed random 1x1 conv to `channels` x 2^depth channels
          -> cross-scale mixing: from the deepest up, each depth adds the deeper mix (resized to its
             side, bilinear) and goes through another fixed random 1x1 conv (to the next shallower
             depth's width, so that the sum is defined; depth 0 keeps its own)
          -> per depth a head: spectrally normalized 4x4 stride-2 convs (leaky ReLU 0.2) down to a side
             of at most 4, a 3x3 conv, global average pooling = phi -> `num_outputs` logits psi(phi),
             plus the projection <embed(y), phi> when the head sees the label (Miyato & Koyama 2018).
             The convs have no bias (the reference's are followed by batch norm, which removes it): the
             hinge loss's gradient of such a bias is a near-cancelling sum over real and generated
             images, which Adam would scale up to full steps of round-off noise.
    -> logits [N, D, num_outputs]

The projections are drawn once from `seed` (PyTorch's default conv initialization, as in the
reference), never trained, and saved with the model like every weight: they spread the pretrained
features over all channels and scales, so no head can lean on a few strong features and the
discriminator does not overpower the generator (the paper's ablation). The trunk runs in inference
mode (its batch norms use their ImageNet statistics). No layer mixes the examples of a batch, so real
and generated images may go through in one call.
"""

import math

import keras

from tfganaug.networks.layers import OUTPUT_DTYPE
from tfganaug.networks.spectral_norm import SNConv2D, SNDense, SNEmbedding

HEAD_SIDE = 4  # the heads stride down to a side of at most this


def _fixed_conv(filters, fan_in, seed, name):
    """A frozen 1x1 conv with PyTorch's default initialization (uniform, bound 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.layers.Conv2D(filters, 1, trainable=False, name=name,
                               kernel_initializer=keras.initializers.RandomUniform(-bound, bound, seed=seed),
                               bias_initializer=keras.initializers.RandomUniform(-bound, bound, seed=seed + 1))


def _head(x, depth, num_outputs, label, num_classes, filters):
    h = x
    while h.shape[1] > HEAD_SIDE:
        h = SNConv2D(filters, 4, strides=2, padding="same", use_bias=False, name=f"head{depth}_down{h.shape[1]}")(h)
        h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.LeakyReLU(0.2)(SNConv2D(filters, 3, padding="same", use_bias=False, name=f"head{depth}_conv")(h))
    phi = keras.layers.GlobalAveragePooling2D(name=f"phi{depth}")(h)
    logits = SNDense(num_outputs, name=f"psi{depth}", dtype=OUTPUT_DTYPE)(phi)
    if num_classes:
        embedded = SNEmbedding(num_classes, filters, name=f"class_embedding{depth}")(label)
        projection = keras.layers.Dot(axes=1, name=f"projection{depth}", dtype=OUTPUT_DTYPE)([embedded, phi])
        logits = keras.layers.Add(name=f"logits{depth}", dtype=OUTPUT_DTYPE)([logits, projection])
    return keras.layers.Reshape((1, num_outputs), dtype=OUTPUT_DTYPE)(logits)


def build_feature_discriminator(trunk, num_outputs=1, num_classes=0, *, channels=32, head_filters=64, seed=0,
                                name="feature_discriminator"):
    """The feature branch of the module docstring around `trunk`.

    Args:
        trunk: a frozen Keras model, images -> a list of feature maps, shallowest first
            (`tfganaug.networks.feature_trunks.build_trunk`).
        num_outputs: logits per depth (1, or 1 + K for ACGAN's class logits).
        num_classes: K when the heads see the label (projection, CGAN); 0 otherwise.
        channels: width of the cross-channel mixing at depth 0 (doubled per depth).
        head_filters: width of each head's convolutions.
        seed: seed of the fixed projections.

    Returns:
        A model `image` (and `label`) -> logits [N, depths, num_outputs].
    """
    trunk.trainable = False  # frozen, however the caller built it
    image = keras.Input(trunk.input_shape[1:], name="image")
    inputs, label = [image], None
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
    maps = trunk(image)
    maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
    mixed = [_fixed_conv(channels * 2 ** d, m.shape[-1], seed + 10 * d, f"channel_mix{d}")(m)
             for d, m in enumerate(maps)]
    deeper = None
    for d in reversed(range(len(mixed))):
        x = mixed[d]
        if deeper is not None:
            up = keras.layers.Resizing(x.shape[1], x.shape[2], interpolation="bilinear", name=f"upsample{d + 1}")
            x = keras.layers.Add(name=f"scale_sum{d}")([x, up(deeper)])
        width = mixed[max(d - 1, 0)].shape[-1]
        deeper = mixed[d] = _fixed_conv(width, x.shape[-1], seed + 10 * d + 5, f"scale_mix{d}")(x)
    logits = [_head(x, d, num_outputs, label, num_classes, head_filters) for d, x in enumerate(mixed)]
    if len(logits) > 1:
        logits = [keras.layers.Concatenate(axis=1, name="logits", dtype=OUTPUT_DTYPE)(logits)]
    return keras.Model(inputs, logits[0], name=name)
