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


IDLE_ON_BALANCED = {"oversample": "oversampling adds no image", "class_weight": "every class weighs 1"}
# Losses whose re-balancing is a uniform prior on balanced classes: plain cross-entropy (LDAM keeps its margin).
IDLE_LOSSES = {"class_weight": "every class weighs 1", "logit_adjustment": "the prior it adds is uniform",
               "balanced_softmax": "the prior it adds is uniform"}


def idle_control_note(group, kind, counts, loss=None):
    """A sentence when group `group` (of type `kind`, with re-balancing `loss` type or None) does something
    only on unbalanced classes and the training classes of these `counts` are balanced, else None: a
    control that does nothing is said to, not reported as a second baseline under another name."""
    counts = np.asarray(counts)
    if counts.min() != counts.max():
        return None
    if kind in IDLE_ON_BALANCED:
        return (f"Warning: control {group} ({kind}) does nothing here: every class of the training split has "
                f"{int(counts[0])} images, so {IDLE_ON_BALANCED[kind]}; it trains as the baseline does. It matters "
                "only with imbalanced classes (e.g. data.rare or per-class samples_per_class).")
    if loss in IDLE_LOSSES:
        return (f"Note: the loss of {group} ({loss}) is plain cross-entropy here: every class of the training split "
                f"has {int(counts[0])} images, so {IDLE_LOSSES[loss]}.")
    return None
