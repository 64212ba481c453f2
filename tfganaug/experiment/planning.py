"""What each group trains on (`plan_group`), and the plan `--dry-run` prints (`describe_plan`)."""

import math
from dataclasses import dataclass
from typing import Callable, Optional

import keras
import numpy as np

from tfganaug.data.folder import describe_layout
from tfganaug.data.pipeline import one_hot
from tfganaug.data.pixels import to_signed
from tfganaug.synthesis import controls
from tfganaug.synthesis.classical import build_classical_augmentation, build_label_mixing
from tfganaug.synthesis.generate import synthesize
from tfganaug.synthesis.labeling import synthesis_counts, targets, teacher_targets
from tfganaug.synthesis.translation import translate, translation_plan


@dataclass
class TrainingPlan:
    """What one group trains on: images, target rows, and how to weight or augment them."""

    images: np.ndarray
    targets: np.ndarray
    loss: Optional[dict] = None  # a re-balancing loss {"type": ..., options} (`fit_classifier`); None: cross-entropy
    augment: Optional[keras.Layer] = None
    sample_weight: Optional[np.ndarray] = None  # per image; None: every image weighs 1
    synthesis: Optional[dict] = None  # a filtered synthesis's per-class asked / generated / kept counts
    fresh: Optional[Callable] = None  # draw(epoch) -> an epoch's synthetic (images, targets, weights)
    fresh_count: int = 0  # images in each of those sets
    mix: Optional[keras.Layer] = None  # MixUp or CutMix, after `augment`

    @property
    def size(self):
        """Training images per epoch."""
        return len(self.images) + self.fresh_count


def _translations(group):
    return [(t.model, t.from_, t.to, t.count) for t in group.translations]


def _filter_options(group, model, models, seed):
    """`synthesize`'s filter arguments of a GAN group: the run's real-trained classifier scores with
    `filter`, the ACGAN's class head with `min_confidence`, nothing otherwise."""
    if group.filter is not None:
        f = group.filter
        return {"score": models.real_classifier_scores(seed), "min_confidence": f.min_confidence,
                "keep_fraction": f.keep_fraction, "max_rounds": f.max_rounds, "by": f.by}
    if group.min_confidence is not None:
        return {"score": model.class_probabilities, "min_confidence": group.min_confidence}
    return {}


def epoch_seed(seed, epoch):
    """The synthesis seed of a fresh set's epoch: distinct for every (seed, epoch) with both below 2^32,
    and from every run seed, which seeds the fixed sets (a hash taken mod 2^20 gave two epochs of one
    seed the same set). NumPy hashes the seed it is given, so neighbouring values draw unrelated noise;
    `synthesize`'s filter rounds use seed * 1000 + round, distinct too (fewer than 1000 rounds)."""
    return (1 << 64) | (seed << 32) | epoch


def _gan_plan(group, train, seed, models, augment):
    k = train.num_classes
    counts = synthesis_counts(train.counts(), ratio=group.synthesize.ratio, fill=group.synthesize.fill)
    model = models.gan(group.gan, train, seed)
    options = {"truncation": group.synthesize.truncation, **_filter_options(group, model, models, seed)}
    # The teacher is the feature classifier the filter and the GAN metrics use: trained on the real
    # training split alone, with the run's classifier settings, once per data split (not per group).
    teacher = models.real_classifier_scores(seed) if group.labeling == "teacher" else None

    def synthetic(draw_seed):
        images, labels, report = synthesize(model, counts, draw_seed, **options)
        soft = teacher_targets(teacher(to_signed(images)), group.temperature) if teacher else None
        rows = targets([], labels, k, group.labeling, soft)
        weights = None if group.synthetic_weight == 1 else np.full(len(images), group.synthetic_weight, np.float32)
        return images, rows, weights, report

    if group.synthesize.fresh:  # the first epoch's set is drawn now: its filter report is the run's
        first = synthetic(epoch_seed(seed, 0))
        draw = lambda epoch: first[:3] if epoch == 0 else synthetic(epoch_seed(seed, epoch))[:3]  # noqa: E731
        return TrainingPlan(train.images, targets(train.labels, [], k, group.labeling), None, augment,
                            synthesis=first[3], fresh=draw, fresh_count=len(first[0]))
    images, rows, weights, report = synthetic(seed)
    if weights is not None:
        weights = np.concatenate([np.ones(len(train), np.float32), weights])
    return TrainingPlan(np.concatenate([train.images, images]),
                        np.concatenate([targets(train.labels, [], k, group.labeling), rows]), None, augment, weights,
                        report)


def plan_group(group, splits, seed, models=None):
    """The `TrainingPlan` of a group for one seed (`models`: the run's `RunModels`, needed by GAN
    and translation groups): its images and targets, augmentation, label mixing and loss (type
    class_weight is the loss class_weight on the training set as it is)."""
    plan = _images_plan(group, splits, seed, models)
    augment = getattr(group, "augment", None)
    if augment is not None:
        plan.mix = build_label_mixing(**augment.model_dump(include={"mixup", "cutmix"}), seed=seed)
    plan.loss = {"type": "class_weight"} if group.type == "class_weight" else (
        group.loss.model_dump() if group.loss is not None else None)
    return plan


def _images_plan(group, splits, seed, models):
    train, k = splits.train, splits.train.num_classes
    augment = None
    if group.type == "duplicate":
        train = controls.duplicate(train, group.copies)
    elif group.type == "more_real":
        train = train.concat(splits.extra)
    elif group.type == "oversample":
        train = controls.oversample(train, seed)
    if getattr(group, "augment", None) is not None:
        augment = build_classical_augmentation(train.image_shape, seed=seed,
                                               **group.augment.model_dump(exclude={"mixup", "cutmix"}))
    if group.type == "gan":
        return _gan_plan(group, train, seed, models, augment)
    if group.type == "translation":
        plan = translation_plan(_translations(group), train.counts(), train.class_names)
        images, labels = translate(lambda name: models.cyclegan(name, train, seed), plan, train, seed)
        return TrainingPlan(np.concatenate([train.images, images]),
                            one_hot(np.concatenate([train.labels, labels]), k), None, augment)
    return TrainingPlan(train.images, one_hot(train.labels, k), None, augment)


def planned_size(group, splits):
    """Training images a group will use (without training any GAN): for --dry-run."""
    train = splits.train
    if group.type == "gan":
        return len(train) + int(synthesis_counts(train.counts(), ratio=group.synthesize.ratio, fill=group.synthesize.fill).sum())
    if group.type == "translation":
        plan = translation_plan(_translations(group), train.counts(), train.class_names)
        return len(train) + sum(row[3] for row in plan)
    return plan_group(group, splits, 0).size


def describe_splits(splits):
    """Lines giving the size and per-class counts of each split."""
    lines = []
    for name in ("train", "extra", "val", "test"):
        part = getattr(splits, name)
        counts = ", ".join(f"{c}={n}" for c, n in zip(part.class_names, part.counts()))
        lines.append(f"  {name:5s} {len(part):6d} images  ({counts})")
    return lines


def describe_plan(config, splits):
    """The resolved plan printed by --dry-run and at the start of a run."""
    lines = [f"experiment {config.name}: {len(config.groups)} groups x {len(config.seeds)} seeds "
             f"= {len(config.groups) * len(config.seeds)} classifier runs",
             f"data: {config.data.source}, images {splits.train.image_shape}, classes {list(splits.train.class_names)}"]
    layout = describe_layout(config.data.path) if config.data.source == "folder" else None
    lines += describe_splits(splits) + ([f"  {layout}"] if layout else [])
    lines.append(f"classifier: {config.classifier.model}, {config.classifier.epochs} epochs, "
                 f"batch {config.classifier.batch_size}, lr {config.classifier.learning_rate}")
    width = max(20, *(len(g.label) for g in config.groups))
    sizes = {group.label: planned_size(group, splits) for group in config.groups}
    for group in config.groups:
        lines.append(f"  group {group.label:{width}s} type {group.type:12s} {sizes[group.label]:6d} training images"
                     + "".join(f", {part}" for part in _training_options(group)))
    trained = {f"group {name}": size for name, size in sizes.items()}
    if any(g.type == "gan" for g in config.groups):  # it labels, filters and measures GAN images
        trained["the real-trained classifier"] = len(splits.train)
    lines += patience_warning(config.classifier, trained)
    lines.append(f"seeds: {config.seeds}")
    return "\n".join(lines)


def _training_options(group):
    """What a group changes in how its classifier trains, in short: augmentation, mixing, labels, filter, loss."""
    augment, parts = getattr(group, "augment", None), []
    if augment is not None:
        kept = augment.model_dump(exclude={"mixup", "cutmix", "augmix", "rand_augment", "random_erasing"})
        if any(kept.values()):  # MixUp alone (flip null, translate 0) has no classical transform to name
            parts.append("augment " + " ".join(f"{k} {v}" for k, v in kept.items() if v))
        parts += [name.replace("_", " ") for name in ("rand_augment", "random_erasing", "augmix")
                  if getattr(augment, name) is not None]
        parts += [f"{name} alpha {getattr(augment, name).alpha:g}" for name in ("mixup", "cutmix")
                  if getattr(augment, name) is not None]
    if group.type == "gan":
        parts.append(f"labels {group.labeling}")
        if group.filter is not None:
            parts.append(f"filter by {group.filter.by}" + (f" keep {group.filter.keep_fraction:g}"
                                                         if group.filter.keep_fraction is not None else ""))
    if group.loss is not None:
        parts.append(f"loss {group.loss.type}")
    return parts


# With batch norm (small_cnn, mlp) the validation accuracy of the regime study's classifiers at 10 images per
# class stayed at chance for about 45 steps whatever the epoch's length while the moving statistics caught up
# (docs/studies/gan_regimes/fashion/samples_per_class=10/seed0/runs/: baseline, 2 steps an epoch, above 0.2
# at epoch 24; gan_pseudo, 4 steps an epoch, at epoch 12). Early stopping that waits fewer steps than about
# twice that can stop a classifier at chance (the trial in docs/studies/gan_regimes/trial_patience15/ did).
PATIENCE_STEPS = 100


def patience_warning(classifier, sizes):
    """A warning line when `classifier.patience` waits fewer than PATIENCE_STEPS steps for the classifier
    with the fewest training images (`sizes`: {"group NAME" or another classifier: images}), else no line."""
    if not classifier.patience or not sizes:
        return []
    group = min(sizes, key=sizes.get)
    steps = math.ceil(sizes[group] / classifier.batch_size)
    if classifier.patience * steps >= PATIENCE_STEPS:
        return []
    return [f"Warning: classifier.patience {classifier.patience} waits only {classifier.patience * steps} steps for "
            f"{group} ({sizes[group]} images, {steps} step{'s' if steps != 1 else ''} an epoch at batch "
            f"{classifier.batch_size}); a classifier's validation accuracy can stay at chance for its first ~45 steps "
            f"while batch norm catches up, and early stopping would keep it there. Set classifier.patience to at least "
            f"{math.ceil(PATIENCE_STEPS / steps)}, or remove it (the best epoch is kept either way)."]
