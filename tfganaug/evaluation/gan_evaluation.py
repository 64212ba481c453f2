"""How good is each GAN of a run: FID, KID, precision/recall (overall and per class), GAN-train and GAN-test.

- Real reference: the test split (held out from the GAN and from model selection),
  as many generated images per class as it has real ones unless asked otherwise.
- Features: by default a classifier of the run's classifier type trained on the
  real training split (works offline, on any data), whose weights and real-data
  activations are cached in `<run>/features/`; optionally InceptionV3 from a
  local weights file.
- GAN-test: accuracy of that real-trained classifier on generated images
  (are they recognisably of their class?). GAN-train: test accuracy of a
  classifier trained only on generated images, as many per class as the real
  training split (do they cover the class?). Both for conditional GANs only.
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from tfganaug.data.imageset import ImageSet
from tfganaug.data.pipeline import one_hot
from tfganaug.data.pixels import to_uint8
from tfganaug.evaluation.chance import chance_warnings, near_chance
from tfganaug.evaluation.collapse import collapse_warnings, collapsed_classes
from tfganaug.evaluation.features import classifier_features, inception_features
from tfganaug.evaluation.gan_metrics import activations, gan_quality
from tfganaug.files import atomic_path, read_json, set_aside, write_text
from tfganaug.layout import FEATURES_DIR, METRICS_FILE
from tfganaug.training.classifier import evaluate_classifier
from tfganaug.training.gan_folder import load_trained_gan, read_spec, settings_key, trained_gans


@dataclass(frozen=True)
class ClassifierRecipe:
    """How a run trains its classifiers, as plain callables (the config stays in `tfganaug.experiment`).

    Args:
        build: `build(input_shape, num_outputs)` -> a fresh classifier.
        fit: `fit(model, images, targets, val, seed)` trains it (`val`: (images, labels) or None).
        key: a hash of the data and classifier settings; names the cached feature classifier.
        data_key: a hash of the data settings alone; names the cached real-data activations.
        name: the classifier model's name, for the log.
    """

    build: Callable
    fit: Callable
    key: str
    data_key: str
    name: str = "classifier"

    def train(self, images, labels, val, num_classes, seed=0):
        """A classifier trained on `images` with integer `labels`."""
        keras.utils.set_random_seed(seed)
        model = self.build(images.shape[1:], num_classes)
        self.fit(model, images, one_hot(labels, num_classes), val, seed)
        return model


def real_classifier(recipe, splits, cache_dir, log=print):
    """The classifier trained on the real training split (cached by data and classifier settings)."""
    path = Path(cache_dir) / f"classifier-{recipe.key}.weights.h5"
    if path.exists():
        model = recipe.build(splits.train.image_shape, splits.train.num_classes)
        try:
            model.load_weights(path)
            return model
        except (OSError, ValueError) as exc:
            set_aside(path, str(exc).splitlines()[0], log, "training it again")
    log(f"training the feature classifier ({recipe.name}) on {len(splits.train)} real images")
    model = recipe.train(splits.train.images, splits.train.labels, _val(splits), splits.train.num_classes)
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    return model


def _val(splits):
    return (splits.val.images, splits.val.labels) if len(splits.val) else None


def _cached_activations(path, images, feature_fn, log=print):
    if path.exists():
        try:
            with np.load(path) as f:
                return f["activations"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            set_aside(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, log, "computing it again")
    acts = activations(images, feature_fn)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, activations=acts)
    return acts


def validation_quality(model, *, splits, recipe, cache_dir, seed=0, log=print):
    """How good a GAN is now, on the validation split (what `gan.select` compares during training).

    FID, KID, precision, recall and spread of as many generated images per class as the
    validation split has, in the features of the run's real-trained classifier; for
    conditional GANs also GAN-test (that classifier's accuracy on generated images) and
    GAN-train (validation accuracy of a classifier trained on as many generated images as the
    training split has, its last epoch: the validation split is what it is scored on).
    The GAN never sees the validation images.
    """
    val, k = splits.val, splits.val.num_classes
    classifier = real_classifier(recipe, splits, cache_dir, log)
    feature_fn = classifier_features(classifier)
    real_acts = _cached_activations(Path(cache_dir) / f"real-val-{recipe.data_key}-classifier-{recipe.key}.npz",
                                    val.images, feature_fn, log)
    if not model.conditional:
        fake = to_uint8(model.generate(n=len(val), seed=seed))
        return gan_quality(real_acts, activations(fake, feature_fn), seed=seed)["overall"]
    fake = _generate_counts(model, val.counts(), seed)
    quality = gan_quality(real_acts, activations(fake, feature_fn), seed=seed)["overall"]
    quality.update(_gan_test_and_train(model, fake, np.repeat(np.arange(k), val.counts()), classifier, recipe,
                                       splits, scored_on=val, val=None, seed=seed))
    return quality


def evaluate_gans(run_dir, *, data_for, build, inception_weights=None, per_class=None, seed=0, only=None,
                  keep_done=False, log=print):
    """Metrics of every trained GAN of `run_dir`, written to `gan_metrics.json`; returns them.

    Args:
        run_dir: a run folder with `gans/`.
        data_for: `data_for(run seed)` -> (the run's `Splits` of that seed, its `ClassifierRecipe`, for the
            feature classifier and GAN-train classifiers): each GAN is measured on its own seed's split.
        build: `build(spec, pretrained=False)` -> an untrained GAN as its `gan.json` describes.
        inception_weights: a local InceptionV3 no-top weights file for features, or None
            for the real-trained classifier's penultimate features.
        per_class: generated images per class (default: the test split's count per class).
        seed: the generation seed.
        only: a GAN folder name to evaluate alone (default: all); earlier results of others are kept.
        keep_done: keep earlier results and evaluate only GANs without one (what a rerun of `train` does).
    """
    run_dir = Path(run_dir)
    previous = run_dir / METRICS_FILE
    results = (read_json(previous, log, "computing every GAN's metrics again") or {}) if only or keep_done else {}
    folders = {n: p for n, p in trained_gans(run_dir).items()
               if (only is None or n == only) and not (keep_done and n in results)}
    if not folders:
        return results
    by_seed = {}
    for name, folder in folders.items():
        by_seed.setdefault(read_spec(folder)["seed"], []).append((name, folder))
    measured = {}
    for run_seed, named in sorted(by_seed.items()):
        splits, recipe = data_for(run_seed)
        generators = ((name, *load_trained_gan(folder, build)) for name, folder in named)
        measured.update(evaluate_generators(
            ((name, model, {"model": spec["gan"]["model"], "seed": spec["seed"]}) for name, model, spec in generators),
            splits=splits, recipe=recipe, cache_dir=run_dir / FEATURES_DIR, inception_weights=inception_weights,
            per_class=per_class, seed=seed, log=log))
    results.update({name: measured[name] for name in folders})  # in folder order, whatever the seeds
    write_text(run_dir / METRICS_FILE, json.dumps(results, indent=1))
    return results


def evaluate_generators(generators, *, splits, recipe, cache_dir, inception_weights=None, per_class=None, seed=0,
                        log=print):
    """Metrics of each `(name, generator, info)`: a GAN model or an `ExportedGenerator` (anything with
    `conditional` and `generate(labels|n, seed)` giving images in [-1, 1]); returns {name: metrics}.

    `splits`, `recipe` and the caches in `cache_dir` as in `evaluate_gans`.
    """
    test, k = splits.test, splits.test.num_classes
    classifier = real_classifier(recipe, splits, cache_dir, log)
    if inception_weights:
        feature_fn, extractor = inception_features(inception_weights), f"inception-{settings_key(str(inception_weights))}"
    else:
        feature_fn, extractor = classifier_features(classifier), f"classifier-{recipe.key}"
    real_acts = _cached_activations(Path(cache_dir) / f"real-test-{recipe.data_key}-{extractor}.npz", test.images,
                                    feature_fn, log)
    counts = np.full(k, per_class) if per_class else test.counts()
    real_accuracy = None  # the real-trained classifier's test accuracy: what GAN-train and GAN-test are read against
    results = {}
    for name, model, info in generators:
        if model.conditional:
            labels = np.repeat(np.arange(k), counts)
            fake = _generate_counts(model, counts, seed)
        else:
            labels = None
            fake = to_uint8(model.generate(n=int(counts.sum()), seed=seed))
        entry = gan_quality(real_acts, activations(fake, feature_fn),
                            real_labels=test.labels if labels is not None else None,
                            fake_labels=labels, class_names=list(test.class_names))
        entry.update(info, features=extractor)
        if real_accuracy is None:
            real_accuracy = evaluate_classifier(classifier, test)["accuracy"]
        if labels is not None:
            entry.update(_gan_test_and_train(model, fake, labels, classifier, recipe, splits, scored_on=test,
                                             val=_val(splits), seed=seed))
        if labels is not None or not inception_weights:  # read in that classifier's features or against it
            entry.update(real_accuracy=real_accuracy, num_classes=k,
                         near_chance=near_chance(real_accuracy, k, len(test)))
        entry["collapsed"] = sorted(collapsed_classes(entry))
        results[name] = entry
        for warning in chance_warnings({name: entry}) + collapse_warnings({name: entry}):
            log(warning)
        log(f"GAN {name}{' (metrics meaningless: see the warning)' if entry.get('near_chance') else ''}: "
            f"FID {entry['overall']['fid']:.2f}, KID {entry['overall']['kid']:.4f}, "
            f"precision {entry['overall']['precision']:.2f}, recall {entry['overall']['recall']:.2f}"
            + (f", GAN-train {100 * entry['gan_train']:.1f}%, GAN-test {100 * entry['gan_test']:.1f}% (a classifier "
               f"trained on the real images: {100 * real_accuracy:.1f}%)" if "gan_train" in entry else ""))
    return results


def _gan_test_and_train(model, fake, labels, classifier, recipe, splits, *, scored_on, val, seed):
    """{"gan_test": the real-trained `classifier`'s accuracy on the generated `fake` images of `labels`,
    "gan_train": accuracy on `scored_on` of a classifier trained on as many generated images per class
    as the training split has (model selection on `val`, or its last epoch when None)}."""
    gan_test = evaluate_classifier(classifier, ImageSet(fake, labels, scored_on.class_names))["accuracy"]
    train_counts = splits.train.counts()
    gan_trained = recipe.train(_generate_counts(model, train_counts, seed + 1),
                               np.repeat(np.arange(len(train_counts)), train_counts), val, len(train_counts))
    return {"gan_test": gan_test, "gan_train": evaluate_classifier(gan_trained, scored_on)["accuracy"]}


def _generate_counts(model, counts, seed):
    """uint8 images of a conditional GAN, counts[c] of class c, classes in order."""
    return to_uint8(model.generate(labels=np.repeat(np.arange(len(counts)), counts), seed=seed))
