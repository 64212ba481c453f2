"""What each group trains on (`plan_group`), and the plan `--dry-run` prints (`describe_plan`)."""

from dataclasses import dataclass
from typing import Optional

import keras
import numpy as np

from tfganaug.data.folder import describe_layout
from tfganaug.data.pipeline import one_hot
from tfganaug.synthesis import controls
from tfganaug.synthesis.classical import build_classical_augmentation
from tfganaug.synthesis.generate import synthesize
from tfganaug.synthesis.labeling import synthesis_counts, targets
from tfganaug.synthesis.translation import translate, translation_plan


@dataclass
class TrainingPlan:
    """What one group trains on: images, target rows, and how to weight or augment them."""

    images: np.ndarray
    targets: np.ndarray
    class_weight: Optional[dict] = None
    augment: Optional[keras.Layer] = None
    sample_weight: Optional[np.ndarray] = None  # per image; None: every image weighs 1


def _translations(group):
    return [(t.model, t.from_, t.to, t.count) for t in group.translations]


def plan_group(group, splits, seed, models=None):
    """The `TrainingPlan` of a group for one seed (`models`: the run's `RunModels`, needed by GAN
    and translation groups)."""
    train, k = splits.train, splits.train.num_classes
    class_weight = augment = None
    if group.type == "duplicate":
        train = controls.duplicate(train, group.copies)
    elif group.type == "more_real":
        train = train.concat(splits.extra)
    elif group.type == "oversample":
        train = controls.oversample(train, seed)
    elif group.type == "class_weight":
        class_weight = controls.balanced_class_weights(train.counts())
    if getattr(group, "augment", None) is not None:
        augment = build_classical_augmentation(train.image_shape, seed=seed, **group.augment.model_dump())
    if group.type == "gan":
        counts = synthesis_counts(train.counts(), ratio=group.synthesize.ratio, fill=group.synthesize.fill)
        model = models.gan(group.gan, train, seed)
        images, labels = synthesize(model, counts, seed, group.min_confidence, truncation=group.synthesize.truncation)
        weights = None
        if group.synthetic_weight != 1:
            weights = np.concatenate([np.ones(len(train), np.float32),
                                      np.full(len(images), group.synthetic_weight, np.float32)])
        return TrainingPlan(np.concatenate([train.images, images]),
                            targets(train.labels, labels, k, group.labeling), None, augment, weights)
    if group.type == "translation":
        plan = translation_plan(_translations(group), train.counts(), train.class_names)
        images, labels = translate(lambda name: models.cyclegan(name, train, seed), plan, train, seed)
        return TrainingPlan(np.concatenate([train.images, images]),
                            one_hot(np.concatenate([train.labels, labels]), k), None, augment)
    return TrainingPlan(train.images, one_hot(train.labels, k), class_weight, augment)


def planned_size(group, splits):
    """Training images a group will use (without training any GAN): for --dry-run."""
    train = splits.train
    if group.type == "gan":
        return len(train) + int(synthesis_counts(train.counts(), ratio=group.synthesize.ratio, fill=group.synthesize.fill).sum())
    if group.type == "translation":
        plan = translation_plan(_translations(group), train.counts(), train.class_names)
        return len(train) + sum(row[3] for row in plan)
    return len(plan_group(group, splits, 0).images)


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
    for group in config.groups:
        lines.append(f"  group {group.label:20s} type {group.type:12s} {planned_size(group, splits):6d} training images")
    lines.append(f"seeds: {config.seeds}")
    return "\n".join(lines)
