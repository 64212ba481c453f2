"""Per-class sampling of the training, extra-real and validation sets from a pool.

Every class's images are shuffled once with the data seed and cut in order
into validation, train and extra, so the three never overlap and a larger
request extends a smaller one. The test set comes from the source's own test
split and is never sampled from the pool.
"""

from dataclasses import dataclass

import numpy as np

from tfganaug.data.imageset import ImageSet
from tfganaug.errors import ConfigError

SAME = "same"  # a per-class count equal to the class's training count (the 1:1:1 split)


@dataclass(frozen=True)
class Splits:
    """The data of one experiment.

    Attributes:
        train: what every group trains on (trainA in the CelebA study).
        extra: more real images, disjoint from train, for the `more_real` group (trainB).
        val: for model selection only (best epoch).
        test: held out; only ever used to report results.
    """

    train: ImageSet
    extra: ImageSet
    val: ImageSet
    test: ImageSet


def resolve_class(key, class_names, where):
    """Index of a class given by name (case-insensitive) or by index."""
    lowered = [n.lower() for n in class_names]
    if isinstance(key, str) and key.lower() in lowered:
        return lowered.index(key.lower())
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        index = int(key)
        if 0 <= index < len(class_names):
            return index
    raise ConfigError(f"{where}: unknown class {key!r}; classes are {list(class_names)} (or their indices 0-{len(class_names) - 1})")


def long_tail_counts(head, ratio, num_classes):
    """The exponential long-tailed profile of Cao et al. (2019): class i of K keeps head * ratio^(-i/(K-1))
    images, rounded (at least 1), so the first class has `head` and the last head / ratio."""
    return [max(1, int(round(head * ratio ** (-i / (num_classes - 1))))) for i in range(num_classes)]


def train_counts(class_names, available, samples_per_class, rare=None, val_per_class=0, extra_per_class=0,
                 imbalance_ratio=None):
    """Training images per class.

    Args:
        class_names: the classes.
        available: images per class in the pool.
        samples_per_class: None (all that is left), an int, or {class: int}
            (classes not named take all that is left).
        rare: {class: fraction} multiplies the chosen classes' counts (0 < fraction <= 1).
        val_per_class, extra_per_class: images kept aside per class (an int or
            "same"), so that "all that is left" can be worked out.
        imbalance_ratio: with an int `samples_per_class`, the long-tailed profile `long_tail_counts`.
    """
    k = len(class_names)
    if imbalance_ratio is not None:
        return long_tail_counts(samples_per_class, imbalance_ratio, k)
    per_class = [None] * k
    if isinstance(samples_per_class, int):
        per_class = [samples_per_class] * k
    elif isinstance(samples_per_class, dict):
        for key, count in samples_per_class.items():
            per_class[resolve_class(key, class_names, "data.samples_per_class")] = count
    specs = (val_per_class, extra_per_class)
    same = sum(spec == SAME for spec in specs)
    fixed = sum(spec for spec in specs if spec != SAME)
    # "All that is left": the largest n with n * (1 + same) + fixed <= available.
    counts = [n if n is not None else max(0, int(available[c] - fixed) // (1 + same)) for c, n in enumerate(per_class)]
    for key, fraction in (rare or {}).items():
        c = resolve_class(key, class_names, "data.rare")
        counts[c] = max(1, int(round(counts[c] * fraction)))
    return counts


def split_pool(pool, test, *, samples_per_class=None, rare=None, val_per_class=0, extra_per_class=0,
               test_per_class=None, seed=0, imbalance_ratio=None):
    """Draw train / extra / val from `pool` per class, without overlap, deterministically.

    `val_per_class` and `extra_per_class` are an int or "same" (the class's own
    training count, after `rare`): both "same" is the CelebA study's 1:1:1 split.
    Raises `ConfigError` naming the key when a class has too few images.
    """
    names = pool.class_names
    available = pool.counts()

    def amount(spec, n):
        return n if spec == SAME else spec

    counts = train_counts(names, available, samples_per_class, rare, val_per_class, extra_per_class, imbalance_ratio)
    rng = np.random.default_rng(seed)
    parts = {"train": [], "extra": [], "val": []}
    for c, n_train in enumerate(counts):
        n_val, n_extra = amount(val_per_class, n_train), amount(extra_per_class, n_train)
        need = n_train + n_val + n_extra
        if need > available[c] or n_train < 1:
            raise ConfigError(
                f"data.samples_per_class: class '{names[c]}' needs {n_train} train + {n_val} val + {n_extra} extra "
                f"= {need} images but the pool has {available[c]}; lower data.samples_per_class, "
                "data.val_per_class or data.extra_per_class")
        idx = rng.permutation(np.flatnonzero(pool.labels == c))
        parts["val"].append(idx[:n_val])
        parts["train"].append(idx[n_val:n_val + n_train])
        parts["extra"].append(idx[n_val + n_train:need])
    test_set = test
    if test_per_class is not None:
        keep = [rng.permutation(np.flatnonzero(test.labels == c))[:test_per_class] for c in range(len(names))]
        test_set = test.take(np.sort(np.concatenate(keep)))
    return Splits(**{name: pool.take(np.sort(np.concatenate(idx))) for name, idx in parts.items()}, test=test_set)
