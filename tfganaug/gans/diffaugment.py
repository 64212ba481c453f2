"""DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout, applied to
real and generated images alike before the discriminator, so a GAN trained on
little data does not let D memorise the training set. Images are in [-1, 1].
"""

import tensorflow as tf

POLICIES = ("color", "translation", "cutout")


def _color(x, random):
    n = tf.shape(x)[0]
    x = x + (random.uniform([n, 1, 1, 1], dtype=x.dtype) - 0.5)  # brightness
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * random.uniform([n, 1, 1, 1], 0.0, 2.0, dtype=x.dtype) + mean  # saturation
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * random.uniform([n, 1, 1, 1], 0.5, 1.5, dtype=x.dtype) + mean  # contrast


def _translation(x, random, ratio=0.125):
    n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = random.randint([n, 1], -sh, sh + 1)
    dx = random.randint([n, 1], -sw, sw + 1)
    # Shift by whole pixels, one offset per sample, filling with zeros: multiply by one-hot shift
    # matrices (an index past the edge gives an all-zero row). A gather would do the same forward,
    # but its gradient is a scatter that made the whole GAN step twice as slow on CPU.
    shift_rows = tf.one_hot(tf.range(h)[None, :] + dy, h, dtype=x.dtype)  # [n, h, h]
    shift_cols = tf.one_hot(tf.range(w)[None, :] + dx, w, dtype=x.dtype)  # [n, w, w]
    x = tf.einsum("nij,njwc->niwc", shift_rows, x)
    return tf.einsum("nkj,nijc->nikc", shift_cols, x)


def _cutout(x, random, ratio=0.5):
    n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = random.randint([n, 1, 1], 0, h + (1 - ch % 2))
    cx = random.randint([n, 1, 1], 0, w + (1 - cw % 2))
    # The square covers [c - size // 2, c - size // 2 + size): exactly size x size pixels where it
    # lies inside the image (as in the reference DiffAugment_tf.py: 14 x 14 at 28 px).
    ys, xs = tf.range(h)[None, :, None] - (cy - ch // 2), tf.range(w)[None, None, :] - (cx - cw // 2)
    inside = (ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw)
    return x * tf.cast(~inside, x.dtype)[..., None]


def diff_augment(x, policy, random, probability=None):
    """Apply the named transforms (a subset of POLICIES, in order) to a batch [N, H, W, C].

    Args:
        x: images in [-1, 1].
        policy: iterable of names from POLICIES.
        random: a `tfganaug.distribute.StepRandom` (the step's draws).
        probability: None to transform every image (DiffAugment); else each transform is
            applied to each image with this probability, a scalar tensor (adaptive augmentation).
    """
    transforms = {"color": _color, "translation": _translation, "cutout": _cutout}
    for name in policy:
        transformed = transforms[name](x, random)
        if probability is None:
            x = transformed
        else:
            chosen = random.uniform([tf.shape(x)[0]]) < tf.cast(probability, tf.float32)
            x = tf.where(chosen[:, None, None, None], transformed, x)
    return x
