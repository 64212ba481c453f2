"""DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout, applied to
real and generated images alike before the discriminator, so a GAN trained on
little data does not let D memorise the training set. Images are in [-1, 1].
"""

import keras
import tensorflow as tf

POLICIES = ("color", "translation", "cutout")


def _uniform(shape, seed, low=0.0, high=1.0):
    return keras.random.uniform(shape, low, high, seed=seed)


def _color(x, seed):
    n = tf.shape(x)[0]
    x = x + (_uniform([n, 1, 1, 1], seed) - 0.5)  # brightness
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * _uniform([n, 1, 1, 1], seed, 0.0, 2.0) + mean  # saturation
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _uniform([n, 1, 1, 1], seed, 0.5, 1.5) + mean  # contrast


def _translation(x, seed, ratio=0.125):
    n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = keras.random.randint([n, 1], -sh, sh + 1, seed=seed)
    dx = keras.random.randint([n, 1], -sw, sw + 1, seed=seed)
    # Shift by whole pixels, one offset per sample, filling with zeros: multiply by one-hot shift
    # matrices (an index past the edge gives an all-zero row). A gather would do the same forward,
    # but its gradient is a scatter that made the whole GAN step twice as slow on CPU.
    shift_rows = tf.one_hot(tf.range(h)[None, :] + dy, h, dtype=x.dtype)  # [n, h, h]
    shift_cols = tf.one_hot(tf.range(w)[None, :] + dx, w, dtype=x.dtype)  # [n, w, w]
    x = tf.einsum("nij,njwc->niwc", shift_rows, x)
    return tf.einsum("nkj,nijc->nikc", shift_cols, x)


def _cutout(x, seed, ratio=0.5):
    n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = keras.random.randint([n, 1, 1], 0, h + (1 - ch % 2), seed=seed)
    cx = keras.random.randint([n, 1, 1], 0, w + (1 - cw % 2), seed=seed)
    ys, xs = tf.range(h)[None, :, None], tf.range(w)[None, None, :]
    inside = (tf.abs(ys - cy) <= ch // 2) & (tf.abs(xs - cx) <= cw // 2)
    return x * tf.cast(~inside, x.dtype)[..., None]


def diff_augment(x, policy, seed):
    """Apply the named transforms (a subset of POLICIES, in order) to a batch [N, H, W, C].

    Args:
        x: images in [-1, 1].
        policy: iterable of names from POLICIES.
        seed: a `keras.random.SeedGenerator`.
    """
    transforms = {"color": _color, "translation": _translation, "cutout": _cutout}
    for name in policy:
        x = transforms[name](x, seed)
    return x
