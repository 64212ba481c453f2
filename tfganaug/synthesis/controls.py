"""The non-GAN control groups as plain functions on `ImageSet`s."""

import numpy as np


def duplicate(train, copies=2):
    """Every image `copies` times (the CelebA study's trainAA: same images, more steps)."""
    return train.concat(*([train] * (copies - 1)))


def oversample(train, seed):
    """Randomly repeat images of smaller classes until every class has the majority count.

    Each class keeps all its images; the missing ones are drawn with replacement.
    """
    rng = np.random.default_rng(seed)
    counts = train.counts()
    target = counts.max()
    indices = [np.arange(len(train))]
    for c, n in enumerate(counts):
        if 0 < n < target:
            indices.append(rng.choice(np.flatnonzero(train.labels == c), size=target - n, replace=True))
    return train.take(np.concatenate(indices))


def balanced_class_weights(counts):
    """{class: weight} with weight = N / (K * count), so every class carries equal total weight.

    Classes without images get weight 0 (they never occur).
    """
    counts = np.asarray(counts, dtype=np.float64)
    total, k = counts.sum(), len(counts)
    return {c: (float(total / (k * n)) if n else 0.0) for c, n in enumerate(counts)}
