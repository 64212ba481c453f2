"""Classification metrics computed from predictions (plain numpy, exact)."""

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts [num_classes, num_classes]: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def classification_metrics(y_true, y_pred, class_names):
    """Accuracy, balanced accuracy, macro-F1 and per-class accuracy (recall).

    A class with no test images has no per-class accuracy (NaN) and is left out
    of the balanced accuracy; a class never predicted nor present counts F1 = 0
    only when it has test images.

    Returns:
        dict with "accuracy", "balanced_accuracy", "macro_f1" (floats),
        "per_class_accuracy" ({class name: float}) and "confusion_matrix" (nested lists).
    """
    k = len(class_names)
    matrix = confusion_matrix(y_true, y_pred, k)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    hits = np.diag(matrix).astype(np.float64)
    present = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(present, hits / np.maximum(support, 1), np.nan)
        precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * np.nan_to_num(recall) / (precision + np.nan_to_num(recall)), 0.0)
    total = max(int(support.sum()), 1)
    return {
        "accuracy": float(hits.sum() / total),
        "balanced_accuracy": float(np.nanmean(recall[present])) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class_accuracy": {name: float(recall[c]) for c, name in enumerate(class_names)},
        "confusion_matrix": matrix.tolist(),
    }
