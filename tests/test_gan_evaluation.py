"""The GAN metrics of generators: collapse is seen (a per-class spread) and said (a warning)."""

import numpy as np

from tests.conftest import make_imageset
from tfganaug.data.pixels import to_signed
from tfganaug.data.sampling import split_pool
from tfganaug.evaluation.collapse import collapse_warnings
from tfganaug.evaluation.gan_evaluation import ClassifierRecipe, evaluate_generators, real_classifier
from tfganaug.networks.classifiers import build_small_cnn
from tfganaug.training.classifier import evaluate_classifier, fit_classifier


class _Generator:
    """A stand-in conditional generator: `pick(class, index)` -> a uint8 image."""

    conditional = True

    def __init__(self, pick):
        self.pick = pick

    def generate(self, labels=None, seed=None, **_):
        return to_signed(np.stack([self.pick(c, i) for i, c in enumerate(labels)]))


class _UnconditionalGenerator:
    """A stand-in unconditional generator: `pick(index)` -> a uint8 image."""

    conditional = False

    def __init__(self, pick):
        self.pick = pick

    def generate(self, n=None, seed=None, **_):
        return to_signed(np.stack([self.pick(i) for i in range(n)]))


def _splits_and_recipe():
    pool = make_imageset(num_classes=3, per_class=40, shape=(8, 8, 1), seed=0)
    test = make_imageset(num_classes=3, per_class=20, shape=(8, 8, 1), seed=1)
    splits = split_pool(pool, test, samples_per_class=30, val_per_class=5)
    recipe = ClassifierRecipe(
        build=lambda shape, k: build_small_cnn(shape, k, filters=(4,), dense_units=8),
        fit=lambda model, images, targets, val, seed: fit_classifier(
            model, images, targets, val=val, epochs=2, batch_size=16, learning_rate=1e-2, seed=seed, verbose=0),
        key="k", data_key="d")
    return splits, recipe


def test_a_generator_that_ignores_its_noise_is_flagged_and_one_that_copies_varied_real_images_is_not(tmp_path):
    splits, recipe = _splits_and_recipe()
    by_class = [splits.train.images[splits.train.labels == c] for c in range(3)]
    collapsed = _Generator(lambda c, i: by_class[c][0])  # one image per class, whatever the noise
    copier = _Generator(lambda c, i: by_class[c][i % len(by_class[c])])  # varied real images
    metrics = evaluate_generators([("collapsed", collapsed, {}), ("copier", copier, {})], splits=splits,
                                  recipe=recipe, cache_dir=tmp_path, log=lambda line: None)
    assert metrics["collapsed"]["collapsed"] == ["c0", "c1", "c2"]
    assert all(m["spread"] < 0.01 for m in metrics["collapsed"]["per_class"].values())
    assert metrics["copier"]["collapsed"] == []
    assert all(m["spread"] > 0.6 for m in metrics["copier"]["per_class"].values())
    # The mark GAN-train and GAN-test are read against: the real-trained classifier (cached) on the test split.
    real = evaluate_classifier(real_classifier(recipe, splits, tmp_path, log=lambda line: None), splits.test)
    assert metrics["copier"]["real_accuracy"] == metrics["collapsed"]["real_accuracy"] == real["accuracy"]
    warnings = collapse_warnings(metrics)
    assert len(warnings) == 3 and "GAN collapsed makes near-identical 'c1' images" in warnings[1]
    assert "duplicates, not variety" in warnings[1]


def test_an_unconditional_generator_that_ignores_its_noise_is_flagged_as_a_whole(tmp_path):
    splits, recipe = _splits_and_recipe()
    images = splits.train.images
    order = np.random.default_rng(0).permutation(len(images))  # varied real images of every class
    metrics = evaluate_generators([("same", _UnconditionalGenerator(lambda i: images[0]), {}),
                                   ("copier", _UnconditionalGenerator(lambda i: images[order[i % len(images)]]), {})],
                                  splits=splits, recipe=recipe, cache_dir=tmp_path, log=lambda line: None)
    assert metrics["same"]["collapsed"] == ["all images"] and metrics["same"]["overall"]["spread"] < 0.01
    assert metrics["copier"]["collapsed"] == [] and metrics["copier"]["overall"]["spread"] > 0.4
    assert collapse_warnings(metrics) == [
        "Warning: GAN same makes near-identical images (their spread is 0.00 of the real images'): its images add "
        "duplicates, not variety."]
