"""Statistics a user can trust: bootstrap intervals over seeds and test images, paired differences
between groups, and Holm's correction across the groups compared.

Every group of a seed is tested on the same test images (the seed's split), so two groups are
compared with a two-level paired bootstrap, both groups resampled jointly:

1. the seeds, with replacement (only with `MIN_SEEDS` or more: two values give three distinct
   resamples, an interval that means nothing; with fewer, every seed is kept and only level 2 runs);
2. within each seed, the test images of each class, with replacement. The test split is drawn per
   class, so the resample keeps the class counts and every class keeps its recall.

A resampled value is the metric of a resampled confusion matrix: it is a proper accuracy, so the
percentile intervals never leave [0, 1] (a Student's t interval over two seeds reached 144%). The
p-value of a difference is the two-sided bootstrap p: twice the share of resampled differences on
the far side of 0 (with the +1 of Davison & Hinkley, so it is never 0).

A run stored before per-image predictions were kept (`test_predictions`) is resampled from its
confusion matrix alone: its draws are independent of the other group's, which widens the interval.
"""

import numpy as np

ALPHA = 0.05  # two-sided level: 95% intervals, significance at 5% after Holm's correction
RESAMPLES = 2000
MIN_SEEDS = 3  # seeds needed before the seeds themselves are resampled
METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "rare_recall")
_CHUNK = 250  # resamples drawn at once: bounds memory at _CHUNK x (images of the largest class)


def metric_from_confusion(confusion, metric, rare=()):
    """`metric` of confusion matrices [..., K, K] (row: true class, column: predicted class).

    As `tfganaug.evaluation.metrics.classification_metrics`: classes without test images are left
    out of balanced accuracy and macro-F1. `rare`: the class indices whose mean recall `rare_recall` is.
    """
    c = np.asarray(confusion, dtype=np.float64)
    hits = np.diagonal(c, axis1=-2, axis2=-1)
    support, predicted = c.sum(axis=-1), c.sum(axis=-2)
    if metric == "accuracy":
        return hits.sum(axis=-1) / np.maximum(support.sum(axis=-1), 1)
    recall = hits / np.maximum(support, 1)
    present = support > 0
    if metric == "rare_recall":
        return recall[..., list(rare)].mean(axis=-1)
    if metric == "balanced_accuracy":
        return (recall * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)
    if metric == "macro_f1":
        precision = hits / np.maximum(predicted, 1)
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)
        return (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def _one_hot(values, k):
    return np.eye(k, dtype=np.float64)[np.asarray(values, dtype=np.int64)]


def resampled_confusions(runs, num_classes, resamples, rng):
    """{name: [resamples, K, K]}: each run's confusion matrix on the same resampled test images.

    Args:
        runs: {name: record} of one seed; a record with `test_labels` and `test_predictions` is
            resampled image by image (the same draws for every such record), one without from its
            `confusion_matrix` row by row.
    """
    k = num_classes
    out = {name: np.zeros((resamples, k, k)) for name in runs}
    paired = {n: r for n, r in runs.items() if r.get("test_predictions") is not None}
    if paired:
        labels = np.asarray(next(iter(paired.values()))["test_labels"])
        for name, record in paired.items():
            if not np.array_equal(record["test_labels"], labels):
                raise ValueError(f"runs of one seed were tested on different images ({name})")
        for c in range(k):
            members = np.flatnonzero(labels == c)
            if not len(members):
                continue
            predictions = {n: _one_hot(np.asarray(r["test_predictions"])[members], k) for n, r in paired.items()}
            for start in range(0, resamples, _CHUNK):
                stop = min(start + _CHUNK, resamples)
                counts = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=stop - start)
                for name, one_hot in predictions.items():
                    out[name][start:stop, c, :] = counts @ one_hot
    for name, record in runs.items():
        if name in paired:
            continue
        for c, row in enumerate(np.asarray(record["confusion_matrix"], dtype=np.int64)):
            if row.sum():
                out[name][:, c, :] = rng.multinomial(row.sum(), row / row.sum(), size=resamples)
    return out


class Bootstrap:
    """Resampled metric values of every group and seed of a run, drawn jointly per seed.

    Args:
        records: run records ("group", "seed", "confusion_matrix", and, for runs that stored them,
            "test_labels" and "test_predictions").
        num_classes: K.
        metrics: the metrics to resample (names of `METRICS`).
        rare: class indices for "rare_recall".
        resamples: bootstrap resamples.
        seed: the bootstrap's own random seed (the same records give the same intervals).
    """

    def __init__(self, records, num_classes, metrics=("accuracy",), rare=(), resamples=RESAMPLES, seed=0):
        self.resamples, self.seed = resamples, seed
        rng = np.random.default_rng(seed)
        self.values, self.observed = {}, {}  # [metric][group][seed] -> [resamples] / float
        for run_seed in sorted({r["seed"] for r in records}):
            runs = {r["group"]: r for r in records if r["seed"] == run_seed}
            confusions = resampled_confusions(runs, num_classes, resamples, rng)
            for metric in metrics:
                for group, confusion in confusions.items():
                    self.values.setdefault(metric, {}).setdefault(group, {})[run_seed] = metric_from_confusion(
                        confusion, metric, rare)
                    self.observed.setdefault(metric, {}).setdefault(group, {})[run_seed] = float(
                        metric_from_confusion(runs[group]["confusion_matrix"], metric, rare))

    def _draws(self, metric, groups, seeds):
        """[group][resamples]: the mean over (resampled) seeds of each group's resampled values."""
        rng = np.random.default_rng(self.seed + 1)
        n = len(seeds)
        picks = (rng.integers(0, n, size=(self.resamples, n)) if n >= MIN_SEEDS
                 else np.tile(np.arange(n), (self.resamples, 1)))
        columns = np.arange(self.resamples)[:, None]
        out = []
        for group in groups:
            stacked = np.stack([self.values[metric][group][s] for s in seeds], axis=1)  # [resamples, seeds]
            out.append(stacked[columns, picks].mean(axis=1))
        return out

    def seeds(self, group, metric="accuracy"):
        """The group's seeds, in order."""
        return sorted(self.values[metric][group])

    def interval(self, group, metric="accuracy"):
        """(low, high): the 95% percentile interval of the group's mean `metric`."""
        (draws,) = self._draws(metric, [group], self.seeds(group, metric))
        low, high = np.quantile(draws, [ALPHA / 2, 1 - ALPHA / 2])
        return float(low), float(high)

    def difference(self, group, other, metric="accuracy"):
        """`group` minus `other` over the seeds both have: {"diff", "low", "high", "p", "n", "levels"}.

        `levels` says what was resampled: "seeds and test images", or "test images" with fewer than
        `MIN_SEEDS` shared seeds. Without shared seeds every value is None.
        """
        seeds = sorted(set(self.values[metric][group]) & set(self.values[metric][other]))
        if not seeds:
            return {"diff": None, "low": None, "high": None, "p": None, "n": 0, "levels": None}
        a, b = self._draws(metric, [group, other], seeds)
        d = a - b
        observed = float(np.mean([self.observed[metric][group][s] - self.observed[metric][other][s] for s in seeds]))
        low, high = np.quantile(d, [ALPHA / 2, 1 - ALPHA / 2])
        tail = min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0))
        return {"diff": observed, "low": float(low), "high": float(high),
                "p": float(min(1.0, 2 * (tail + 1) / (self.resamples + 1))), "n": len(seeds),
                "levels": "seeds and test images" if len(seeds) >= MIN_SEEDS else "test images"}


def holm(pvalues):
    """Holm's step-down adjusted p-values, in the given order (None stays None and is not counted)."""
    known = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    adjusted, running = list(pvalues), 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank) * p))
        adjusted[i] = running
    return adjusted
