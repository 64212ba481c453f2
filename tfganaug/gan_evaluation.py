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
from pathlib import Path

import keras
import numpy as np

from tfganaug.classify import evaluate_classifier, fit_classifier
from tfganaug.data.imageset import ImageSet
from tfganaug.data.pipeline import one_hot
from tfganaug.experiment import build_classifier, build_gan_from_spec, make_splits
from tfganaug.features import classifier_features, inception_features
from tfganaug.files import atomic_path, write_text
from tfganaug.gan_metrics import activations, gan_quality
from tfganaug.gan_training import load_trained_gan, settings_key, trained_gans
from tfganaug.labeling import to_uint8

METRICS_FILE = "gan_metrics.json"


def _train_classifier(config, images, labels, val, num_classes, seed=0):
    keras.utils.set_random_seed(seed)
    model = build_classifier(config.classifier, images.shape[1:], num_classes)
    fit_classifier(model, images, one_hot(labels, num_classes), val=val, epochs=config.classifier.epochs,
                   batch_size=config.classifier.batch_size, learning_rate=config.classifier.learning_rate, seed=seed,
                   patience=config.classifier.patience, verbose=0)
    return model


def real_classifier(config, splits, cache_dir, log=print):
    """The classifier trained on the real training split (cached by data and classifier settings)."""
    key = settings_key(config.data.model_dump(mode="json"), config.classifier.model_dump(mode="json"))
    path = Path(cache_dir) / f"classifier-{key}.weights.h5"
    if path.exists():
        model = build_classifier(config.classifier, splits.train.image_shape, splits.train.num_classes)
        model.load_weights(path)
        return model, key
    log(f"training the feature classifier ({config.classifier.model}) on {len(splits.train)} real images")
    val = (splits.val.images, splits.val.labels) if len(splits.val) else None
    model = _train_classifier(config, splits.train.images, splits.train.labels, val, splits.train.num_classes)
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    return model, key


def _cached_activations(path, images, feature_fn):
    if path.exists():
        with np.load(path) as f:
            return f["activations"]
    acts = activations(images, feature_fn)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, activations=acts)
    return acts


def evaluate_gans(config, run_dir, *, inception_weights=None, per_class=None, seed=0, only=None, keep_done=False,
                  splits=None, log=print):
    """Metrics of every trained GAN of `run_dir`, written to `gan_metrics.json`; returns them.

    Args:
        config: the run's `ExperimentConfig` (its data and classifier settings).
        run_dir: a run folder with `gans/`.
        inception_weights: a local InceptionV3 no-top weights file for features, or None
            for the real-trained classifier's penultimate features.
        per_class: generated images per class (default: the test split's count per class).
        seed: the generation seed.
        only: a GAN folder name to evaluate alone (default: all); earlier results of others are kept.
        keep_done: keep earlier results and evaluate only GANs without one (what a rerun of `train` does).
        splits: the run's `Splits` when already loaded (else loaded from `config.data`).
    """
    run_dir = Path(run_dir)
    previous = run_dir / METRICS_FILE
    results = json.loads(previous.read_text()) if (only or keep_done) and previous.exists() else {}
    folders = {n: p for n, p in trained_gans(run_dir).items()
               if (only is None or n == only) and not (keep_done and n in results)}
    if not folders:
        return results
    generators = ((name, *load_trained_gan(folder, build_gan_from_spec)) for name, folder in folders.items())
    results.update(evaluate_generators(
        ((name, model, {"model": spec["gan"]["model"], "seed": spec["seed"]}) for name, model, spec in generators),
        config, run_dir / "features", splits=splits, inception_weights=inception_weights, per_class=per_class,
        seed=seed, log=log))
    write_text(run_dir / METRICS_FILE, json.dumps(results, indent=1))
    return results


def evaluate_generators(generators, config, cache_dir, *, splits=None, inception_weights=None, per_class=None,
                        seed=0, log=print):
    """Metrics of each `(name, generator, info)`: a GAN model or an `ExportedGenerator` (anything with
    `conditional` and `generate(labels|n, seed)` giving images in [-1, 1]); returns {name: metrics}."""
    splits = splits or make_splits(config.data)
    test, k = splits.test, splits.test.num_classes
    classifier, classifier_key = real_classifier(config, splits, cache_dir, log)
    if inception_weights:
        feature_fn, extractor = inception_features(inception_weights), f"inception-{settings_key(str(inception_weights))}"
    else:
        feature_fn, extractor = classifier_features(classifier), f"classifier-{classifier_key}"
    real_acts = _cached_activations(
        Path(cache_dir) / f"real-test-{settings_key(config.data.model_dump(mode='json'))}-{extractor}.npz", test.images, feature_fn)
    counts = np.full(k, per_class) if per_class else test.counts()
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
        if labels is not None:
            entry["gan_test"] = evaluate_classifier(classifier, ImageSet(fake, labels, test.class_names))["accuracy"]
            train_fake = _generate_counts(model, splits.train.counts(), seed + 1)
            train_labels = np.repeat(np.arange(k), splits.train.counts())
            val = (splits.val.images, splits.val.labels) if len(splits.val) else None
            gan_trained = _train_classifier(config, train_fake, train_labels, val, k)
            entry["gan_train"] = evaluate_classifier(gan_trained, test)["accuracy"]
        results[name] = entry
        log(f"GAN {name}: FID {entry['overall']['fid']:.2f}, KID {entry['overall']['kid']:.4f}, "
            f"precision {entry['overall']['precision']:.2f}, recall {entry['overall']['recall']:.2f}"
            + (f", GAN-train {100 * entry['gan_train']:.1f}%, GAN-test {100 * entry['gan_test']:.1f}%"
               if "gan_train" in entry else ""))
    return results


def _generate_counts(model, counts, seed):
    """uint8 images of a conditional GAN, counts[c] of class c, classes in order."""
    return to_uint8(model.generate(labels=np.repeat(np.arange(len(counts)), counts), seed=seed))
