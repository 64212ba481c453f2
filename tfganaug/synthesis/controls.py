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
IDLE_LOSSES = ("class_weight", "logit_adjustment", "balanced_softmax")


def idle_control_note(group, kind, counts):
    """A sentence when the control `group` (of type `kind`) trains exactly as the baseline on training
    classes of these `counts` (oversample and class weights on balanced classes), else None: a
    control that does nothing is said to, not reported as a second baseline under another name."""
    counts = np.asarray(counts)
    if kind not in IDLE_ON_BALANCED or counts.min() != counts.max():
        return None
    return (f"Warning: control {group} ({kind}) does nothing here: every class of the training split has "
            f"{int(counts[0])} images, so {IDLE_ON_BALANCED[kind]}; it trains as the baseline does. It matters "
            "only with imbalanced classes (e.g. data.rare or per-class samples_per_class).")
