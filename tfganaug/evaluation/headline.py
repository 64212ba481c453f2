"""Which metric ranks the groups when `output.metric: auto`: one that weighs every class when the
classes are unbalanced, plain accuracy when they are not.

Balanced accuracy, not macro-F1: it is the mean of the classes' recalls, i.e. the accuracy the
classifier would have on a test set with every class equally common, so it does not move with the
test split's class proportions, reads in the same units as accuracy (chance is 1 / classes) and is the
mean of the per-class table beside it. Macro-F1 mixes in each class's precision, which depends on how
many test images the other classes have: on an unbalanced test split it measures the split as well as
the classifier. Accuracy and each class's recall stay in the tables.
"""

import numpy as np

UNBALANCED = 1.5  # largest / smallest class count from which accuracy is mostly the large classes' score


def headline_metric(requested, train_counts, test_counts, class_names):
    """(metric, reason): `requested` when set, else the metric `auto` resolves to and why, in words.

    Args:
        requested: `output.metric` ("auto" or a metric name).
        train_counts, test_counts: images per class of the training and test splits.
        class_names: the classes, in the counts' order.
    """
    if requested != "auto":
        return requested, ""
    for split, counts in (("training", train_counts), ("test", test_counts)):
        counts = np.asarray(counts)
        small, large = int(np.argmin(counts)), int(np.argmax(counts))
        if counts[large] >= UNBALANCED * counts[small]:
            return "balanced_accuracy", (
                f"classes are unbalanced ({class_names[small]} {counts[small]} vs {class_names[large]} "
                f"{counts[large]} {split} images): ranked by balanced accuracy; accuracy favours the large classes")
    return "accuracy", "classes are balanced: ranked by accuracy"
