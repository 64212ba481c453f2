"""Targets for synthetic images: pseudo-label, all-in-one, LSRO and a teacher's soft labels (plain numpy).

Every strategy returns rows of class probabilities for the real and the
synthetic images, so the classifier always trains with categorical
cross-entropy: with a uniform row (LSRO) that loss is exactly the study's
-(1/K) sum_k log p(k).
"""

import numpy as np
from scipy.special import softmax

LABELINGS = ("pseudo_label", "all_in_one", "lsro")  # what a label alone decides (the serving layer's too)


def synthesis_counts(train_counts, *, ratio=None, fill=False):
    """Synthetic images to make per class.

    Args:
        train_counts: real training images per class.
        ratio: total = round(ratio * N), spread uniformly over the classes (the
            first classes get the remainder): the +50% of the Fashion-MNIST study.
        fill: instead, fill every class up to the largest class.
    """
    train_counts = np.asarray(train_counts)
    if fill:
        return (train_counts.max() - train_counts).astype(int)
    total = int(round(ratio * train_counts.sum()))
    k = len(train_counts)
    return np.array([total // k + (c < total % k) for c in range(k)], dtype=int)


def teacher_targets(probabilities, temperature=1.0):
    """A teacher's soft labels softmax(logits / temperature), from its probabilities softmax(logits).

    log softmax(z) = z - logsumexp(z) differs from the logits z by one constant per row, which the
    softmax cancels: log-probabilities divided by the temperature give exactly softmax(z / T), so a
    classifier that outputs probabilities (as tfganaug's do) serves as the teacher unchanged.
    """
    with np.errstate(divide="ignore"):  # a probability 0 (float32 underflow) is log 0 = -inf, exp(-inf) = 0
        return softmax(np.log(np.asarray(probabilities, np.float64)) / temperature, axis=1).astype(np.float32)


def targets(real_labels, synthetic_labels, num_classes, labeling, teacher=None):
    """Target rows for the real images followed by the synthetic ones.

    Args:
        real_labels: int labels of the real images.
        synthetic_labels: the class each synthetic image was generated for
            (ignored by all-in-one, LSRO and teacher; gives their number).
        num_classes: K.
        labeling: "pseudo_label" (the conditioning label), "all_in_one" (one new
            class K for every synthetic image; rows have K+1 entries), "lsro"
            (uniform 1/K over the real classes; real images stay one-hot) or "teacher".
        teacher: with "teacher", the synthetic images' rows (see `teacher_targets`).

    Returns:
        float32 [len(real) + len(synthetic), K or K+1].
    """
    if labeling not in (*LABELINGS, "teacher"):
        raise ValueError(f"unknown labeling {labeling!r}; choose from {(*LABELINGS, 'teacher')}")
    width = num_classes + (labeling == "all_in_one")
    eye = np.eye(width, dtype=np.float32)
    real = eye[np.asarray(real_labels, dtype=int)]
    n = len(synthetic_labels)
    if labeling == "pseudo_label":
        fake = eye[np.asarray(synthetic_labels, dtype=int)]
    elif labeling == "teacher":
        fake = np.asarray(teacher if n else np.zeros((0, width)), np.float32)
    elif labeling == "all_in_one":
        fake = np.repeat(eye[num_classes][None], n, axis=0)
    else:
        fake = np.full((n, width), 1.0 / num_classes, dtype=np.float32)
    return np.concatenate([real, fake.reshape(n, width)])
