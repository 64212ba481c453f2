"""Plots of a finished experiment (matplotlib, written atomically as PNG)."""

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfganaug.files import atomic_path  # noqa: E402


def _save(fig, path):
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_per_class_accuracy(rows, class_names, path):
    """Grouped bars: test accuracy of each class (x) for each group (colour), with std over seeds."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(class_names) * max(1, len(rows)) / 3), 4))
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(class_names))
    for i, row in enumerate(rows):
        means = [100 * row["per_class_accuracy"][c][0] for c in class_names]
        stds = [100 * row["per_class_accuracy"][c][1] for c in class_names]
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, means, width, yerr=stds, label=row["group"], capsize=2)
    ax.set_xticks(x, class_names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Per-class accuracy (mean ± std over seeds)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: never hides a bar
    _save(fig, path)


def plot_training_curves(records, path):
    """Training loss and validation accuracy per epoch, mean over seeds, one line per group."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for group in dict.fromkeys(r["group"] for r in records):
        histories = [r["history"] for r in records if r["group"] == group]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "val_accuracy")):
            curves = [h[key] for h in histories if key in h]
            if curves:
                n = min(len(c) for c in curves)  # early stopping can shorten some seeds
                ax.plot(np.arange(1, n + 1), np.mean([c[:n] for c in curves], axis=0), label=group)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy (model selection)")
    ax_loss.legend(fontsize="small")
    _save(fig, path)
