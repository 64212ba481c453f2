"""Statistics a user can trust: 95% intervals over seeds and test images, paired differences
between groups, and Holm's correction across the groups compared.

Every group of a seed is tested on the same test images (the seed's split), so two groups are
compared seed by seed: d_s, the difference of their metric on seed s. The interval of the mean
difference D = mean(d_s) over n seeds adds two margins, each with the quantile its own estimate
deserves:

    D +- sqrt((t(n - 1) * S)^2 + (z * I)^2)

- S^2 = s_d^2 / n, the t-test over seeds: the spread of d_s between seeds holds the training runs'
  luck and each seed's own luck on the test images, but not the test images all seeds share. It
  rests on n values: Student's t quantile with n - 1 degrees of freedom (4.30 for 3 seeds).
- I^2 = images - twice, the variance of those shared test images. images: the variance of D when
  the test images of each class are resampled (bootstrap), ONE resample shared by every seed (the
  seeds are tested on the same images: crossed, not nested); twice: the part of it that is each
  seed's own noise, already in S^2, so taken out (two-way ANOVA): with v, the mean over seeds of
  each seed's own bootstrap variance, twice = (v - images) / (n - 1) (I^2 is at least 0). It rests
  on thousands of images: the normal quantile z (1.96). With a split drawn per seed
  (`resplit_per_seed`) the seeds share no image and I is about 0: a plain t-test over seeds.

The interval is never narrower than the t-test over seeds, so `significant` fires no more often
than that t-test's 5% without a difference. (A single t with Welch-Satterthwaite's degrees of
freedom did: a small image term raised the degrees of freedom more than the width, 9.5% false
positives at 3 seeds in 200 experiments of the bench.) With fewer than `MIN_SEEDS` seeds S is left
out (two seeds give a t with one degree of freedom, an interval that means nothing) and I^2 is the
whole `images`: the interval covers the test images, not the training runs, and results.py sets no
`significant`. The p-value is the level at which the interval just reaches 0, so p < 0.05 exactly
when the 95% interval is clear of 0; an interval is cut at the metric's range ([0, 1], a difference
[-1, 1]). A group's own interval is the same with its metric values in place of d_s. Coverage and
false positives are measured by bench/statistics_coverage.py (docs/statistics.md).

A resampled value is the metric of a resampled confusion matrix, so any metric (macro-F1 too) gets
its image variance. A run stored before per-image predictions were kept (`test_predictions`) is
resampled from its confusion matrix alone: its draws are independent of the other group's, which
widens the interval.
"""

import numpy as np
from scipy import stats
from scipy.optimize import brentq

ALPHA = 0.05  # two-sided level: 95% intervals, significance at 5% after Holm's correction
RESAMPLES = 2000
MIN_SEEDS = 3  # seeds needed before the variation between seeds is estimated and a difference tested
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


def _margin(level, seeds_se, images_se, df):
    """Half-width of the two-sided `level` interval: the seeds' and the images' margins in quadrature."""
    t = stats.t.ppf(1 - (1 - level) / 2, df) if seeds_se else 0.0
    return float(np.hypot(t * seeds_se, stats.norm.ppf(1 - (1 - level) / 2) * images_se))


def _errors(observed, draws):
    """(S, I): the standard errors of the seeds' and of the shared test images' terms (module docstring)."""
    n = len(observed)
    images = float(np.var(draws.mean(axis=1), ddof=1))
    if n < MIN_SEEDS:
        return 0.0, np.sqrt(images)
    twice = (float(np.var(draws, axis=0, ddof=1).mean()) - images) / (n - 1)
    return np.sqrt(float(np.var(observed, ddof=1)) / n), np.sqrt(max(images - twice, 0.0))


def paired_interval(observed, draws, bounds):
    """(estimate, low, high, p) of the mean over seeds, as the module docstring says.

    Args:
        observed: [n] the value (or paired difference) of each seed.
        draws: [resamples, n] its values on resampled test images, the same resample for every seed
            of one row.
        bounds: (low, high) the range the interval is cut to.
    """
    observed = np.asarray(observed, dtype=np.float64)
    n, estimate = len(observed), float(np.mean(observed))
    seeds_se, images_se = _errors(observed, draws)
    if seeds_se == 0 and images_se == 0:  # no spread at all: the interval is the point
        return estimate, estimate, estimate, 1.0 if estimate == 0 else 0.0
    half = _margin(1 - ALPHA, seeds_se, images_se, n - 1)
    # p: the level 1 - p whose interval just reaches 0 (the margin falls as the level does).
    reach = lambda p: _margin(1 - p, seeds_se, images_se, n - 1) - abs(estimate)  # noqa: E731
    p = 1.0 if estimate == 0 else 0.0 if reach(1e-15) < 0 else brentq(reach, 1e-15, 1.0)
    return estimate, max(bounds[0], estimate - half), min(bounds[1], estimate + half), float(p)


class Bootstrap:
    """Per-seed metric values of every group, and their values on resampled test images.

    Each seed's test images are resampled with the same random draws (a fresh generator with the
    same seed per run seed), so seeds tested on one shared split share every resample.

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
        self.values, self.observed = {}, {}  # [metric][group][seed] -> [resamples] / float
        for run_seed in sorted({r["seed"] for r in records}):
            runs = {r["group"]: r for r in records if r["seed"] == run_seed}
            confusions = resampled_confusions(runs, num_classes, resamples, np.random.default_rng(seed))
            for metric in metrics:
                for group, confusion in confusions.items():
                    self.values.setdefault(metric, {}).setdefault(group, {})[run_seed] = metric_from_confusion(
                        confusion, metric, rare)
                    self.observed.setdefault(metric, {}).setdefault(group, {})[run_seed] = float(
                        metric_from_confusion(runs[group]["confusion_matrix"], metric, rare))

    def seeds(self, group, metric="accuracy"):
        """The group's seeds, in order."""
        return sorted(self.values[metric][group])

    def interval(self, group, metric="accuracy"):
        """(low, high): the 95% interval of the group's mean `metric` (cut to [0, 1])."""
        seeds = self.seeds(group, metric)
        observed = [self.observed[metric][group][s] for s in seeds]
        draws = np.stack([self.values[metric][group][s] for s in seeds], axis=1)
        _, low, high, _ = paired_interval(observed, draws, (0.0, 1.0))
        return low, high

    def difference(self, group, other, metric="accuracy"):
        """`group` minus `other` over the seeds both have: {"diff", "low", "high", "p", "n", "levels",
        "half", "spread", "image_half"}.

        `levels` says what the interval covers: "seeds and test images", or "test images" with fewer
        than `MIN_SEEDS` shared seeds. `half`: the 95% interval's half-width before it is cut to
        [-1, 1], the smallest difference the comparison can tell from 0; `spread`: the std of the
        seeds' paired differences (None for one seed); `image_half`: the shared test images' part of
        `half` (`seeds_needed` reads both). Without shared seeds every value is None.
        """
        seeds = sorted(set(self.values[metric][group]) & set(self.values[metric][other]))
        if not seeds:
            return {"diff": None, "low": None, "high": None, "p": None, "n": 0, "levels": None, "half": None,
                    "spread": None, "image_half": None}
        observed = [self.observed[metric][group][s] - self.observed[metric][other][s] for s in seeds]
        draws = np.stack([self.values[metric][group][s] - self.values[metric][other][s] for s in seeds], axis=1)
        diff, low, high, p = paired_interval(observed, draws, (-1.0, 1.0))
        seeds_se, images_se = _errors(np.asarray(observed), draws)
        # What the comparison resolved: its uncut half-width, the spread of the d_s (for seeds_needed) and
        # the images' own margin, which no seed count narrows.
        return {"diff": diff, "low": low, "high": high, "p": p, "n": len(seeds),
                "levels": "seeds and test images" if len(seeds) >= MIN_SEEDS else "test images",
                "half": _margin(1 - ALPHA, seeds_se, images_se, len(seeds) - 1),
                "spread": float(np.std(observed, ddof=1)) if len(seeds) > 1 else None,
                "image_half": float(stats.norm.ppf(1 - ALPHA / 2) * images_se)}


def seeds_needed(spread, image_half, margin, level=1 - ALPHA):
    """Seeds that would narrow a paired comparison's interval to +-`margin`; None when no count can.

    The half-width with n seeds is sqrt((t(n - 1) * spread / sqrt(n))^2 + image_half^2) (the module
    docstring's interval with S = spread / sqrt(n)); so n ~ (t * spread)^2 / (margin^2 - image_half^2),
    solved here for the smallest n (at least `MIN_SEEDS`) since t falls as n grows. The image term does
    not shrink with seeds: when it alone reaches the margin, only more test images (or a split per seed,
    which moves it into the spread between seeds) can.

    Args:
        spread: the sample std (ddof=1) of the seeds' paired differences.
        image_half: the shared test images' margin, z * I.
        margin: the half-width wanted, in the same units.
    """
    room = margin ** 2 - image_half ** 2
    if room <= 0:
        return None
    z = stats.norm.ppf(1 - (1 - level) / 2)
    n = max(MIN_SEEDS, int(np.ceil(z ** 2 * spread ** 2 / room)))  # t > z: never more than this is too few
    while (stats.t.ppf(1 - (1 - level) / 2, n - 1) * spread) ** 2 / n > room:
        n += 1
    return n


def holm(pvalues):
    """Holm's step-down adjusted p-values, in the given order (None stays None and is not counted)."""
    known = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    adjusted, running = list(pvalues), 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank) * p))
        adjusted[i] = running
    return adjusted
