"""Run by test_distribute.py in fresh processes, because devices must be set before TensorFlow starts.

    python tests/replicas.py equality OUT.json   two logical CPUs: each model trained on one device and
                                                 with MirroredStrategy on both; writes the differences
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfganaug.training.classifier import StrategyFit  # noqa: E402
from tfganaug.data.pipeline import classifier_dataset  # noqa: E402
from tfganaug.distribute import make_strategy  # noqa: E402
from tfganaug.gans import GAN_MODELS  # noqa: E402
from tfganaug.gans.cyclegan import CycleGAN  # noqa: E402
from tfganaug.networks.classifiers import build_small_cnn  # noqa: E402
from tfganaug.networks.cyclegan_networks import build_patchgan_discriminator, build_resnet_generator  # noqa: E402
from tfganaug.networks.gan_networks import (build_dcgan_discriminator, build_dcgan_generator,  # noqa: E402
                                            build_mlp_discriminator, build_mlp_generator)
from tfganaug.networks.feature_trunks import TrunkInput  # noqa: E402
from tfganaug.networks.projected import build_feature_discriminator  # noqa: E402
from tfganaug.networks.residual_gan import build_residual_discriminator, build_residual_generator  # noqa: E402

K, SHAPE, LATENT, BATCH, EPOCHS = 3, (8, 8, 1), 4, 8, 2
# case: (model, networks, loss, DiffAugment, instance noise): every GAN, every network, and every kind
# of random draw or state (resnet: spectral norm's power-iteration vectors, class-conditional batch norm;
# the generator's moving average; LeCam's logit averages).
GAN_CASES = {
    "gan": ("gan", "mlp", "least_squares", (), 0.0),
    "cgan": ("cgan", "dcgan", "hinge", (), 0.05),
    "acgan": ("acgan", "mlp", "wgan_gp", ("color", "translation", "cutout"), 0.0),
    "sgan": ("sgan", "mlp", "bce", (), 0.0),
    "dagan": ("dagan", "dcgan", "bce", ("translation",), 0.05),
    "cgan-resnet": ("cgan", "resnet", "hinge", ("translation",), 0.0, {"ema_decay": 0.9, "lecam": 0.3}),
    # The feature branch: a frozen trunk, fixed projections and projection heads, warm-up after one step.
    "cgan-features": ("cgan", "resnet", "hinge", ("translation", "cutout"), 0.0,
                      {"features": True, "feature_start_kimg": 0.008, "lecam": 0.3}),
}


def tiny_trunk(shape, size=16):
    """A random trunk (a stand-in for the pretrained ones): two maps, at strides 2 and 4 of `size`."""
    image = keras.Input(shape)
    x = TrunkInput(size, (127.0,) * 3, (128.0,) * 3, name="trunk_input")(image)
    maps = []
    for width in (4, 8):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))
        maps.append(x)
    return keras.Model(image, maps, name="trunk")  # trainable: the feature branch must freeze it


def tiny_feature_discriminator(cls, seed=0):
    """A feature branch for GAN class `cls` on `tiny_trunk`."""
    return build_feature_discriminator(tiny_trunk(SHAPE), cls.discriminator_outputs(K),
                                       K if cls.discriminator_sees_label else 0, channels=4, head_filters=4, seed=seed)


def _images(n, shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n,) + shape).astype("float32")


def tiny_gan(name, network="mlp", loss="bce", diffaugment=(), instance_noise=0.0, options=None):
    """A compiled GAN `name` of tiny `network` ("mlp", "dcgan" or "resnet") networks (test_gans.py uses it too)."""
    cls = GAN_MODELS[name]
    outputs, label_classes = cls.discriminator_outputs(K), K if cls.discriminator_sees_label else 0
    if network == "mlp":
        g = build_mlp_generator(LATENT, SHAPE, K if cls.conditional else 0, hidden_units=(8,))
        d = build_mlp_discriminator(SHAPE, outputs, label_classes, hidden_units=(8,))
    elif network == "resnet":
        g = build_residual_generator(LATENT, SHAPE, K if cls.conditional else 0, base_filters=4)
        d = build_residual_discriminator(SHAPE, outputs, label_classes, filters=(4, 4))
    else:
        g = build_dcgan_generator(LATENT, SHAPE, K if cls.conditional else 0, base_filters=4)
        d = build_dcgan_discriminator(SHAPE, outputs, label_classes, filters=(4, 4))
    options = dict(options or {})
    if options.pop("features", False):
        options["feature_discriminator"] = tiny_feature_discriminator(cls)
    model = cls(g, d, latent_dim=LATENT, num_classes=K, loss=loss, diffaugment=diffaugment,
                instance_noise=instance_noise, seed=1, **options)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return model


def build_gan(case):
    """The GAN of a case in GAN_CASES, initialized from seed 0."""
    keras.utils.set_random_seed(0)
    return tiny_gan(*GAN_CASES[case])


def gan_data():
    labels = (np.arange(4 * BATCH) % K).astype("int32")
    return tf.data.Dataset.from_tensor_slices((_images(4 * BATCH, SHAPE), labels)).batch(BATCH)


def _fit(model, data):
    """(weights before, weights after, history) of `model.fit`; weights of the networks, not of
    a CycleGAN's image pools (one per replica, see ImagePool)."""
    weights = lambda: [np.asarray(w) for w in model.weights if "pool" not in w.path]  # noqa: E731
    before = weights()
    history = model.fit(data, epochs=EPOCHS, verbose=0, shuffle=False).history
    return before, weights(), history


def train_gan(name):
    return _fit(build_gan(name), gan_data())


def train_cyclegan():
    keras.utils.set_random_seed(0)
    shape = (16, 16, 3)
    g_ab, g_ba = (build_resnet_generator(shape, filters=4, downsamplings=2, residual_blocks=1, name=n)
                  for n in ("g_ab", "g_ba"))
    d_a, d_b = (build_patchgan_discriminator(shape, filters=4, layers=2, name=n) for n in ("d_a", "d_b"))
    # The pool (50) holds all 32 fakes of this run: still filling, it passes fakes through, so
    # the per-replica pools (see ImagePool) do not enter the comparison.
    model = CycleGAN(g_ab, g_ba, d_a, d_b, pool_size=50, seed=0)
    model.compile(keras.optimizers.Adam(2e-3, 0.5), keras.optimizers.Adam(2e-3, 0.5))
    data = tf.data.Dataset.from_tensor_slices((_images(16, shape, 1), _images(16, shape, 2))).batch(BATCH)
    return _fit(model, data)


def train_classifier():
    keras.utils.set_random_seed(0)
    # No dropout: Keras's Dropout draws its masks per replica (see the README's Performance section).
    # Through StrategyFit, as tfganaug trains every classifier.
    model = StrategyFit(build_small_cnn(SHAPE, K, filters=(4,), dense_units=8, dropout=0.0))
    images = np.random.default_rng(0).integers(0, 256, (4 * BATCH,) + SHAPE).astype("uint8")
    targets = np.eye(K, dtype="float32")[np.arange(4 * BATCH) % K]
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    # Not shuffled: Keras reads a distributed dataset's first epoch once more than a plain one,
    # so a reshuffling dataset would start at a different order (the same data, another order).
    return _fit(model, classifier_dataset(images, targets, BATCH))


CASES = {**{name: (lambda name=name: train_gan(name)) for name in GAN_CASES},
         "cyclegan": train_cyclegan, "classifier": train_classifier}


def compare(train, strategies):
    """Train under each of two strategies: the largest differences between them (weights, logged
    losses), and how far training moved the weights (so that equality is not of untrained models)."""
    results = []
    for strategy in strategies:
        with strategy.scope():
            results.append(train())
    (start, w0, h0), (_, w1, h1) = results
    largest = lambda xs, ys: max(float(np.max(np.abs(np.subtract(x, y)))) for x, y in zip(xs, ys))  # noqa: E731
    return {"weights": largest(w0, w1), "moved": largest(start, w0),
            "losses": max(abs(a - b) for key in h0 if "loss" in key for a, b in zip(h0[key], h1[key])),
            "replicas": [s.num_replicas_in_sync for s in strategies]}


def equality(out):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    mirrored = make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2, mirrored.extended.worker_devices
    report = {name: compare(train, [tf.distribute.get_strategy(), mirrored]) for name, train in CASES.items()}
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    if os.environ.get("FULL_TB"):
        keras.config.disable_traceback_filtering()
    {"equality": equality}[sys.argv[1]](sys.argv[2])
