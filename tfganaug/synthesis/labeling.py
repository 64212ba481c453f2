"""Targets for synthetic images: pseudo-label, all-in-one and LSRO (plain numpy).

Every strategy returns rows of class probabilities for the real and the
synthetic images, so the classifier always trains with categorical
cross-entropy: with a uniform row (LSRO) that loss is exactly the study's
-(1/K) sum_k log p(k).
"""

import numpy as np

LABELINGS = ("pseudo_label", "all_in_one", "lsro")


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


def targets(real_labels, synthetic_labels, num_classes, labeling):
    """Target rows for the real images followed by the synthetic ones.

    Args:
        real_labels: int labels of the real images.
        synthetic_labels: the class each synthetic image was generated for
            (ignored by all-in-one and LSRO).
        num_classes: K.
        labeling: "pseudo_label" (the conditioning label), "all_in_one" (one new
            class K for every synthetic image; rows have K+1 entries) or "lsro"
            (uniform 1/K over the real classes; real images stay one-hot).

    Returns:
        float32 [len(real) + len(synthetic), K or K+1].
    """
    if labeling not in LABELINGS:
        raise ValueError(f"unknown labeling {labeling!r}; choose from {LABELINGS}")
    width = num_classes + (labeling == "all_in_one")
    eye = np.eye(width, dtype=np.float32)
    real = eye[np.asarray(real_labels, dtype=int)]
    n = len(synthetic_labels)
    if labeling == "pseudo_label":
        fake = eye[np.asarray(synthetic_labels, dtype=int)]
    elif labeling == "all_in_one":
        fake = np.repeat(eye[num_classes][None], n, axis=0)
    else:
        fake = np.full((n, width), 1.0 / num_classes, dtype=np.float32)
    return np.concatenate([real, fake.reshape(n, width)])
