"""Class-to-class translation with CycleGANs: which images to translate, and translating them.

A CycleGAN names two domains as sets of classes; a translation
`{model, from, to, count}` turns training images of class `from` (in one
domain) into class `to` (in the other) and labels them `to`. Building and
training the CycleGANs is `tfganaug.experiment.models`' job.
"""

import numpy as np

from tfganaug.data.pixels import to_signed, to_uint8
from tfganaug.data.sampling import resolve_class
from tfganaug.errors import ConfigError


def domain_classes(name, domain_a, domain_b, class_names):
    """(class indices of domain A, of domain B) of CycleGAN `name`, names resolved against the data's classes."""
    where = f"cyclegans.{name}"
    return ([resolve_class(c, class_names, f"{where}.domain_a") for c in domain_a],
            [resolve_class(c, class_names, f"{where}.domain_b") for c in domain_b])


def translation_plan(translations, train_counts, class_names):
    """[(model, from class, to class, count)] with classes as indices and every `fill` count resolved.

    Args:
        translations: (CycleGAN name, from class, to class, count or "fill") rows; classes by name or index.
        train_counts: training images per class.
        class_names: the classes, to resolve names.

    A `fill` entry's count is the target class's deficit to the largest class,
    after the fixed-count entries into it, shared evenly among the `fill` entries
    with that target (the first get the remainder).
    """
    rows = [(model, resolve_class(source, class_names, "translations.from"),
             resolve_class(target, class_names, "translations.to"), count)
            for model, source, target, count in translations]
    counts = np.asarray(train_counts)
    plan = []
    for target in dict.fromkeys(r[2] for r in rows):
        fixed = sum(r[3] for r in rows if r[2] == target and r[3] != "fill")
        fills = [r for r in rows if r[2] == target and r[3] == "fill"]
        missing = max(0, int(counts.max() - counts[target] - fixed))
        shares = [missing // len(fills) + (i < missing % len(fills)) for i in range(len(fills))] if fills else []
        share = iter(shares)
        plan += [(m, f, t, next(share) if c == "fill" else c) for m, f, t, c in rows if t == target]
    return [row for row in plan if row[3] > 0]


def translate(translator, plan, train, seed):
    """uint8 translated images and their (target) labels for a `translation_plan`.

    Args:
        translator: `translator(name)` -> (trained CycleGAN, domain A classes, domain B classes).
        plan: rows of `translation_plan`.
        train: the training `ImageSet` whose images are translated.
        seed: which images of each source class are drawn.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for model_name, source, target, count in plan:
        model, a_classes, b_classes = translator(model_name)
        if source in a_classes and target in b_classes:
            direction = "a_to_b"
        elif source in b_classes and target in a_classes:
            direction = "b_to_a"
        else:
            names = train.class_names
            raise ConfigError(f"translation {names[source]} -> {names[target]} with '{model_name}': the classes "
                              f"must sit in opposite domains (A: {[names[c] for c in a_classes]}, "
                              f"B: {[names[c] for c in b_classes]})")
        pool = np.flatnonzero(train.labels == source)
        chosen = rng.choice(pool, count, replace=count > len(pool))
        images.append(to_uint8(model.translate(to_signed(train.images[chosen]), direction)))
        labels.append(np.full(count, target))
    if not images:
        return np.zeros((0,) + train.image_shape, np.uint8), np.zeros(0, int)
    return np.concatenate(images), np.concatenate(labels)
