"""GeneratorAugmentation inside tf.data pipelines, on a tiny exported ACGAN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfganaug.serving.augment import GeneratorAugmentation, fill_distribution
from tfganaug.config import GANTraining
from tfganaug.errors import UserError
from tfganaug.experiment import build_gan
from tfganaug.serving.export import export_generator
from tfganaug.networks.classifiers import build_small_cnn


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory):
    model = build_gan(GANTraining(model="acgan", network="mlp", latent_dim=4, hidden_units=[8]), (8, 8, 1), 3, 0)
    spec = {"gan": {"model": "acgan"}, "image_shape": [8, 8, 1], "class_names": ["a", "b", "c"]}
    return export_generator(model, spec, tmp_path_factory.mktemp("models"), "tiny")


def _real(n=16, one_hot=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 1)).astype(np.uint8)
    labels = (np.arange(n) % 3).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((images, np.eye(3, dtype=np.float32)[labels] if one_hot else labels))


def test_pseudo_label_keeps_the_element_spec_and_adds_the_asked_classes(generator_path):
    augment = GeneratorAugmentation(generator_path, ratio=0.5, class_distribution=[0, 0, 1])
    real = _real().batch(8)
    mixed = real.map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    assert mixed.element_spec == real.element_spec
    for (images, labels), (real_images, real_labels) in zip(mixed, real):
        assert images.shape == (12, 8, 8, 1) and images.dtype == tf.uint8
        np.testing.assert_array_equal(images[:8], real_images)  # real first, untouched
        np.testing.assert_array_equal(labels[:8], real_labels)
        np.testing.assert_array_equal(labels[8:], [2, 2, 2, 2])  # only class 2 was asked
    onehot = _real(one_hot=True).batch(8).map(augment)
    images, labels = next(iter(onehot))
    assert labels.shape == (12, 3) and np.all(labels.numpy()[8:] == [0, 0, 1])


def test_lsro_and_all_in_one_targets(generator_path):
    images, targets = next(iter(_real().batch(4).map(GeneratorAugmentation(generator_path, ratio=1.0, labeling="lsro"))))
    assert targets.shape == (8, 3)
    np.testing.assert_allclose(targets[:4], np.eye(3)[[0, 1, 2, 0]])
    np.testing.assert_allclose(targets[4:], np.full((4, 3), 1 / 3))
    _, targets = next(iter(_real().batch(4).map(GeneratorAugmentation(generator_path, ratio=0.5, labeling="all_in_one"))))
    assert targets.shape == (6, 4)
    np.testing.assert_allclose(targets[4:], [[0, 0, 0, 1]] * 2)


def test_fill_distribution_favours_rare_classes():
    assert fill_distribution([10, 5, 0]) == pytest.approx([0, 1 / 3, 2 / 3])
    assert fill_distribution([4, 4]) == [0.5, 0.5]


def test_fits_a_keras_model_in_a_float_pipeline(generator_path):
    augment = GeneratorAugmentation(generator_path, ratio=0.5, labeling="lsro")
    data = (_real().batch(8).map(lambda x, y: (tf.cast(x, tf.float32), y))
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
    model = build_small_cnn((8, 8, 1), 3, filters=(4,), dense_units=8)
    model.compile("adam", keras.losses.CategoricalCrossentropy())
    history = model.fit(data, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


def test_bad_inputs_say_what_is_wrong(generator_path, tmp_path):
    with pytest.raises(UserError, match="not an exported model"):
        GeneratorAugmentation(tmp_path)
    with pytest.raises(ValueError, match="3 non-negative probabilities"):
        GeneratorAugmentation(generator_path, class_distribution=[1, 0])
    with pytest.raises(ValueError, match="labeling must be one of"):
        GeneratorAugmentation(generator_path, labeling="soft")


def test_the_readme_example_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = re.search(r"<!-- example: augment -->\n```python\n(.*?)```", text, re.S).group(1)
    model = build_gan(GANTraining(model="acgan", network="mlp", latent_dim=4, hidden_units=[8]), (28, 28, 1), 10, 0)
    spec = {"gan": {"model": "acgan"}, "image_shape": [28, 28, 1], "class_names": [str(k) for k in range(10)]}
    export_generator(model, spec, tmp_path / "exported_models", "quickstart-acgan")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(code.replace("epochs=3", "epochs=1, steps_per_epoch=2, verbose=0"), namespace)  # noqa: S102
    assert np.isfinite(namespace["model"].history.history["loss"][0])


@pytest.fixture(scope="module")
def translator_path(tmp_path_factory):
    from tests.conftest import tiny_cyclegan_export

    return tiny_cyclegan_export(tmp_path_factory.mktemp("translators"))[1]


def test_translation_replaces_only_the_source_class_and_relabels(translator_path):
    from tfganaug.serving.augment import TranslationAugmentation

    real = _real(12).batch(6)
    everything = TranslationAugmentation(translator_path, source="a", target="c", fraction=1.0)
    mixed = real.map(everything, num_parallel_calls=tf.data.AUTOTUNE)
    assert mixed.element_spec == real.element_spec
    for (images, labels), (real_images, real_labels) in zip(mixed, real):
        source = real_labels.numpy() == 0
        np.testing.assert_array_equal(labels.numpy(), np.where(source, 2, real_labels.numpy()))
        np.testing.assert_array_equal(images.numpy()[~source], real_images.numpy()[~source])
        translated = everything.translate(image=real_images[source])["image"].numpy()
        # The pipeline translates inside tf.data's traced graph on its own threads, this call
        # eagerly: the float sums may be split differently and differ by ulps, so a uint8
        # pixel near .5 may round the other way. One grey level is that, not another image.
        np.testing.assert_allclose(images.numpy()[source].astype(int), translated.astype(int), atol=1)
    nothing = TranslationAugmentation(translator_path, source=0, target=1, fraction=0.0)
    images, labels = next(iter(_real(6, one_hot=True).batch(6).map(nothing)))
    np.testing.assert_array_equal(labels.numpy(), np.eye(3)[np.arange(6) % 3])
    with pytest.raises(ValueError, match="opposite domains"):
        TranslationAugmentation(translator_path, source="b", target="c")
    with pytest.raises(UserError, match="holds a CycleGAN translator; use TranslationAugmentation"):
        GeneratorAugmentation(translator_path)


def test_classes_and_noise_are_drawn_independently(generator_path):
    # Drawn from one op seed, sample i's class depended on the radius of noise values 2i and 2i+1
    # (they share random bits): E[(n_2i^2 + n_2i+1^2) / 2 | class] moved 0.2-0.4 away from 1.
    augment = GeneratorAugmentation(generator_path, ratio=1.0, seed=0)
    classes, noise = (t.numpy() for t in augment.draw(tf.constant(12_000)))
    pairs = noise.ravel()[: 2 * len(classes)].reshape(-1, 2)
    half_radius = (pairs ** 2).sum(axis=1) / 2  # Exp(1) when independent: mean 1, std 1
    deviations = [abs(half_radius[classes == k].mean() - 1) for k in range(3)]
    assert max(deviations) < 0.08, deviations  # 4,000 per class: the mean's std is 0.016
