"""Plots of a finished experiment (matplotlib, written atomically as PNG)."""

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfganaug.data.pixels import to_unit  # noqa: E402
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
                ax.plot(np.arange(1, n + 1), np.mean([c[:n] for c in curves], axis=0), marker=".", label=group)
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy (model selection)")
    ax_loss.legend(fontsize="small")
    _save(fig, path)


def image_mosaic(images, rows):
    """Images [N, H, W, C] (N divisible by rows) tiled into one [rows*H, cols*W, C] array, row by row."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = n // rows
    return images[: rows * cols].reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def save_sample_grid(images, row_names, path, title=""):
    """A PNG of generated images in [-1, 1], one row per entry of `row_names` (its label on the left)."""
    rows = len(row_names)
    mosaic = to_unit(image_mosaic(images, rows))
    height, width = mosaic.shape[:2]
    fig, ax = plt.subplots(figsize=(max(3, width / 28 * 0.6) + 1.2, max(2, height / 28 * 0.6) + 0.4))
    ax.imshow(np.clip(mosaic.squeeze(-1) if mosaic.shape[-1] == 1 else mosaic, 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks((np.arange(rows) + 0.5) * height / rows, row_names)
    ax.set_title(title, fontsize="small")
    _save(fig, path)


def plot_sweep(points, key, path):
    """Test accuracy (mean ± std over seeds) against the swept value, one line per group.

    Args:
        points: [(value, summary rows of that run)], in sweep order.
        key: the swept setting, the x-axis label.
        path: PNG to write.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = list(dict.fromkeys(row["group"] for _, rows in points for row in rows))
    for group in groups:
        xs, means, stds = [], [], []
        for value, rows in points:
            for row in rows:
                if row["group"] == group:
                    xs.append(value if isinstance(value, (int, float)) else str(value))
                    means.append(100 * row["accuracy"][0])
                    stds.append(100 * row["accuracy"][1])
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=group)
    values = [value for value, _ in points]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)
    if numeric and max(values) >= 10 * min(values):  # sizes: a log axis spreads 50 ... 1,000 evenly
        ax.set_xscale("log")
    if numeric:
        ax.set_xticks(values, [str(v) for v in values])
    ax.minorticks_off()
    what = "training data size" if key == "samples_per_class" else key
    ax.set(xlabel=key.replace("_", " "), ylabel="test accuracy (%)", title=f"Accuracy against {what}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, path)


def plot_confusion_matrices(records, class_names, path):
    """One row-normalised confusion matrix per group (test counts summed over seeds), in % of each true class."""
    groups = list(dict.fromkeys(r["group"] for r in records))
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    size = 1.6 + 0.42 * len(class_names)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size), squeeze=False)
    for ax, group in zip(axes.flat, groups):
        counts = np.sum([np.asarray(r["confusion_matrix"]) for r in records if r["group"] == group], axis=0)
        percent = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
        for (i, j), value in np.ndenumerate(percent):
            if value >= 0.5:
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if value > 60 else "black")
        ax.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
        ax.set_title(group, fontsize="small")
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle("Confusion matrices (% of each true class, all seeds)", fontsize="medium")
    fig.tight_layout()
    _save(fig, path)


def save_translation_grid(rows, row_names, path, title=""):
    """A PNG of translations in [-1, 1]: per entry of `rows` (input, translated, cycled back), three image rows."""
    blocks, labels = [], []
    for (inputs, translated, cycled), name in zip(rows, row_names):
        blocks.append(np.concatenate([inputs, translated, cycled]))
        labels += [f"{name} input", f"{name} translated", f"{name} cycled"]
    save_sample_grid(np.concatenate(blocks), labels, path, title=title)


def save_feature_maps(activations, path, title=""):
    """A PNG of feature maps [N, H, W, C]: one row per image, one column per channel, each min-max scaled."""
    n, _, _, c = activations.shape
    fig, axes = plt.subplots(n, c, figsize=(1.1 * c, 1.1 * n + 0.4), squeeze=False)
    for i in range(n):
        for j in range(c):
            ax = axes[i, j]
            ax.imshow(activations[i, :, :, j], cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize="small")
    _save(fig, path)


def plot_quality(rows, path, title=""):
    """A GAN's validation quality during training (rows of `quality.csv`): KID on the left; recall,
    GAN-train and GAN-test (fractions) on the right."""
    epochs = [int(row["epoch"]) for row in rows]
    fig, (ax_kid, ax_rest) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_kid.plot(epochs, [float(row["kid"]) for row in rows], marker="o")
    ax_kid.set(xlabel="epoch", ylabel="KID (lower is better)", title="KID on the validation split")
    for name in ("recall", "gan_train", "gan_test"):
        if rows and name in rows[0]:
            ax_rest.plot(epochs, [float(row[name]) for row in rows], marker="o", label=name)
    ax_rest.set(xlabel="epoch", ylim=(0, 1), title="recall, GAN-train, GAN-test")
    ax_rest.legend(fontsize="small")
    fig.suptitle(title, fontsize="small")
    _save(fig, path)
