"""Each GAN trains a few steps on tiny data: finite losses, both networks change, generate gives what was asked."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfganaug.gans.diffaugment import diff_augment
from tfganaug.distribute import StepRandom
from tfganaug.gans import GAN_MODELS
from tfganaug.networks.gan_networks import (build_dcgan_discriminator, build_dcgan_generator, build_mlp_discriminator,
                                            build_mlp_generator, upsampling_steps)

from replicas import K, LATENT, SHAPE, tiny_gan  # tests/replicas.py: the tiny GANs both test files train


def _data(n=16):
    rng = np.random.default_rng(0)
    return tf.data.Dataset.from_tensor_slices((rng.uniform(-1, 1, (n,) + SHAPE).astype("float32"),
                                               (np.arange(n) % K).astype("int32"))).batch(8)


@pytest.mark.parametrize("name,network,loss,diffaugment", [
    ("gan", "mlp", "least_squares", ()),
    ("cgan", "dcgan", "hinge", ()),
    ("acgan", "mlp", "bce", ("color", "translation", "cutout")),
    ("acgan", "mlp", "wgan_gp", ()),
    ("sgan", "mlp", "bce", ()),
    ("dagan", "dcgan", "bce", ()),
])
def test_fit_gives_finite_losses_and_changes_both_networks(name, network, loss, diffaugment):
    model = tiny_gan(name, network, loss, diffaugment)
    g_before = [w.copy() for w in model.generator.get_weights()]
    d_before = [w.copy() for w in model.discriminator.get_weights()]
    history = model.fit(_data(), epochs=1, verbose=0, shuffle=False).history
    assert set(history) == {"g_loss", "d_loss"}
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert any(not np.allclose(a, b) for a, b in zip(g_before, model.generator.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(d_before, model.discriminator.get_weights()))
    if model.conditional:
        images = model.generate(labels=[2, 0, 1, 2], seed=3)
        assert images.shape == (4,) + SHAPE
        np.testing.assert_array_equal(images, model.generate(labels=[2, 0, 1, 2], seed=3))
    else:
        images = model.generate(n=5, seed=3)
        assert images.shape == (5,) + SHAPE
    assert images.min() >= -1 and images.max() <= 1


def test_conditional_generation_depends_on_the_label():
    model = tiny_gan("cgan")
    same_noise = model.generate(labels=[0, 0], seed=7)
    other_label = model.generate(labels=[1, 1], seed=7)
    # Same seed, same image whatever the batch; only to float rounding, since a batch of one
    # takes another matmul kernel than a batch of two.
    np.testing.assert_allclose(same_noise[0], model.generate(labels=[0], seed=7)[0], atol=1e-6)
    assert not np.allclose(same_noise, other_label)


def test_acgan_class_head():
    model = tiny_gan("acgan")
    probs = model.class_probabilities(model.generate(labels=[0, 1], seed=0))
    assert probs.shape == (2, K) and np.allclose(probs.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("name", ["gan", "cgan", "acgan", "sgan", "dagan"])
def test_a_keras_file_round_trip_restores_the_gan_and_its_settings(name, tmp_path):
    model = tiny_gan(name, loss="bce", diffaugment=("cutout",), instance_noise=0.1)
    model.save(tmp_path / "gan.keras")
    loaded = keras.models.load_model(tmp_path / "gan.keras", compile=False)  # two optimizers: compile again
    assert type(loaded) is type(model)
    assert (loaded.num_classes, loaded.latent_dim, loaded.loss_name, loaded.diffaugment, loaded.instance_noise,
            loaded.seed) == (K, LATENT, "bce", ("cutout",), 0.1, 1)
    for before, after in zip(model.generator.weights + model.discriminator.weights,
                             loaded.generator.weights + loaded.discriminator.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())
    ask = {"labels": [0, 2]} if model.conditional else {"n": 2}
    np.testing.assert_array_equal(model.generate(seed=0, **ask), loaded.generate(seed=0, **ask))


def test_wrong_loss_for_a_class_based_gan_is_refused():
    cls = GAN_MODELS["dagan"]
    g = build_mlp_generator(LATENT, SHAPE, K, hidden_units=(8,))
    d = build_mlp_discriminator(SHAPE, cls.discriminator_outputs(K), hidden_units=(8,))
    with pytest.raises(ValueError, match="supports loss"):
        cls(g, d, latent_dim=LATENT, num_classes=K, loss="hinge")


@pytest.mark.parametrize("height,steps", [(28, 2), (32, 3), (64, 4), (8, 1)])
def test_dcgan_generator_reaches_the_image_size(height, steps):
    assert upsampling_steps(height) == steps
    g = build_dcgan_generator(LATENT, (height, height, 3), K, base_filters=4)
    assert g.output_shape == (None, height, height, 3)


def test_dcgan_discriminator_follows_the_study():
    d = build_dcgan_discriminator((32, 32, 3), 2 * K)
    convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [96] * 3 + [192] * 6
    assert [c.kernel_size for c in convs][-2:] == [(1, 1), (1, 1)]  # network-in-network
    assert d.output_shape == (None, 2 * K)


def test_the_dcgan_discriminators_input_noise_is_instance_noise_drawn_per_step():
    from tfganaug.config import GANTraining
    from tfganaug.experiment import build_gan
    dagan = build_gan(GANTraining(model="dagan", network="dcgan", latent_dim=LATENT, base_filters=4, d_filters=(4, 4)),
                      SHAPE, K, seed=0)
    assert dagan.instance_noise == 0.05  # the DAGAN study's Gaussian noise on D's input
    mlp = build_gan(GANTraining(model="acgan", latent_dim=LATENT, hidden_units=[8]), SHAPE, K, seed=0)
    assert mlp.instance_noise == 0.0
    dagan.instance_noise = 0.5
    seen = dagan.augment(tf.zeros([512, 8, 8, 1]), StepRandom(0, 0)).numpy()
    assert abs(seen.std() - 0.5) < 0.01 and abs(seen.mean()) < 0.01


def test_diffaugment_keeps_shape_and_changes_images():
    x = tf.random.uniform([4, 8, 8, 3], -1, 1, seed=0)
    seed = StepRandom(0, 0)
    for policy in (["color"], ["translation"], ["cutout"]):
        out = diff_augment(x, policy, seed)
        assert out.shape == x.shape and not np.allclose(out, x)
    cut = diff_augment(tf.ones([2, 8, 8, 1]), ["cutout"], seed).numpy()
    assert np.all(np.isin(cut, [0.0, 1.0])) and 0 < (cut == 0).sum(axis=(1, 2, 3)).min()


def _shift(x, dy, dx):
    """x shifted so that out[i, j] = x[i + dy, j + dx], zero past the edge."""
    h, w = x.shape[:2]
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[i, j] = x[i + dy, j + dx]
    return out


def test_translation_is_a_whole_pixel_shift_with_zero_fill_and_has_gradients():
    x = tf.random.uniform([16, 8, 8, 2], -1, 1, seed=1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = diff_augment(x, ["translation"], StepRandom(3, 0))
        total = tf.reduce_sum(out)
    shifts = set()
    for before, after in zip(x.numpy(), out.numpy()):
        match = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if np.array_equal(_shift(before, dy, dx), after)]
        assert match, "every sample is one shift of its input (8 px: at most 1 px each way)"
        shifts.add(match[0])
    assert len(shifts) > 1  # offsets are drawn per sample
    assert float(tf.reduce_sum(tf.abs(tape.gradient(total, x)))) > 0


class _FixedDraws:
    """A stand-in for `StepRandom` whose integer draws are given (cutout's centres)."""

    def __init__(self, *values):
        self.values = list(values)

    def randint(self, shape, low, high):
        return tf.fill(shape, self.values.pop(0))


@pytest.mark.parametrize("size,cut", [(28, 14), (8, 4), (9, 5)])
def test_cutout_blanks_a_square_of_half_the_side_as_the_reference(size, cut):
    # DiffAugment_tf.py cuts int(size * 0.5 + 0.5) pixels each way: 14 x 14 at 28 px.
    centre = size // 2
    out = diff_augment(tf.ones([1, size, size, 1]), ["cutout"], _FixedDraws(centre, centre)).numpy()
    assert (out == 0).sum() == cut * cut
    rows = np.flatnonzero((out[0, :, :, 0] == 0).any(axis=1))
    assert rows[0] == centre - cut // 2 and rows[-1] == centre - cut // 2 + cut - 1


def test_the_discriminator_step_changes_only_the_discriminator_and_separates_real_from_fake():
    model = tiny_gan("gan", loss="bce")
    model.d_optimizer.learning_rate.assign(1e-2)
    real = tf.constant(np.random.default_rng(0).uniform(0.5, 1, (8,) + SHAPE).astype("float32"))
    noise = tf.constant(np.random.default_rng(1).standard_normal((8, LATENT)).astype("float32"))
    fake = model.generator(noise)
    gap = lambda: float(tf.reduce_mean(model.discriminator(real)) - tf.reduce_mean(model.discriminator(fake)))  # noqa: E731
    g_before, gap_before = [w.numpy().copy() for w in model.generator.trainable_weights], gap()
    labels = tf.zeros([8], tf.int32)
    for step in range(5):
        model.discriminator_step(real, labels, StepRandom(0, step))
    assert gap() > gap_before + 0.1
    for before, after in zip(g_before, model.generator.trainable_weights):  # (its BN statistics may move)
        np.testing.assert_array_equal(before, after.numpy())


def test_the_generator_step_changes_only_the_generator_and_fools_the_discriminator():
    model = tiny_gan("cgan", loss="hinge")
    model.g_optimizer.learning_rate.assign(1e-2)
    labels = tf.constant(np.arange(8) % K, tf.int32)
    noise = tf.constant(np.random.default_rng(1).standard_normal((8, LATENT)).astype("float32"))
    score = lambda: float(tf.reduce_mean(model.discriminator([model.generator([noise, labels]), labels])))  # noqa: E731
    d_before, score_before = [w.numpy().copy() for w in model.discriminator.weights], score()
    for step in range(5):
        model.generator_step(labels, StepRandom(0, step))
    assert score() > score_before + 0.1
    for before, after in zip(d_before, model.discriminator.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_the_discriminator_step_does_not_differentiate_the_generator(monkeypatch):
    from tfganaug.gans import base

    watched = []

    class SpyTape(tf.GradientTape):
        def __exit__(self, *exc):
            watched.append({id(v) for v in self.watched_variables()})
            return super().__exit__(*exc)

    monkeypatch.setattr(base.tf, "GradientTape", SpyTape)
    model = tiny_gan("acgan")
    generator_variables = {id(v) for v in model.generator.trainable_variables}
    model.discriminator_step(tf.zeros((4,) + SHAPE), tf.zeros([4], tf.int32), StepRandom(0, 0))
    assert watched and not watched[0] & generator_variables


def test_wgan_gp_penalty_takes_the_discriminator_optimizers_loss_scale(monkeypatch):
    from tfganaug.gans import base

    seen = {}

    def spy(critic, real, fake, alpha, loss_scale=1.0):
        seen["scale"] = float(loss_scale)
        return tf.constant(0.0)

    monkeypatch.setattr(base, "gradient_penalty", spy)
    model = tiny_gan("acgan", loss="wgan_gp")
    model.d_optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3), initial_scale=1024.0)
    model.d_optimizer.build(model.discriminator.trainable_variables)
    model.penalty(lambda x: x, tf.zeros((2,) + SHAPE), tf.zeros((2,) + SHAPE), StepRandom(0, 0))
    assert seen["scale"] == 1024.0


def test_a_keras_file_round_trip_keeps_the_residual_networks_and_the_moving_average(tmp_path):
    model = tiny_gan("cgan", "resnet", "hinge", ("translation",), options={"ema_decay": 0.9, "ada_target": 0.6})
    model.fit(_data(), epochs=1, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = keras.models.load_model(tmp_path / "gan.keras", compile=False)
    assert (loaded.ema_decay, loaded.ada_target) == (0.9, 0.6)
    for before, after in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())
    np.testing.assert_array_equal(model.generate(labels=[0, 2], seed=0), loaded.generate(labels=[0, 2], seed=0))


@pytest.mark.parametrize("name, diffaugment", [("cgan", ()), ("acgan", ()), ("gan", ("translation",))])
def test_a_discriminator_without_batch_dependent_layers_sees_real_and_fake_in_one_call_to_the_same_weights(
        name, diffaugment, monkeypatch):
    """The MLP discriminator (Dense and leaky ReLU only) scores a step's real and fake images in one call; one
    with batch norm or dropout, whose outputs depend on the batch or on per-call draws, in two. Three steps
    with one call end at the weights of three steps with two (DiffAugment draws as before)."""
    from tfganaug.gans import joint

    def d_calls(model):
        """(discriminator calls, final weights) of 3 training steps of `model`."""
        calls, discriminator = [], model.discriminator
        counting = lambda inputs, training: (calls.append(1), discriminator(inputs, training=training))[1]  # noqa: E731
        counted = type("D", (), {"layers": discriminator.layers, "__call__": staticmethod(counting)})()
        real, fake = tf.zeros((4,) + SHAPE), tf.ones((4,) + SHAPE)
        labels = tf.constant([0, 1, 2, 0]) if model.discriminator_sees_label else None
        outputs = joint.real_and_fake_outputs(counted, real, fake, labels)
        apart = [discriminator(x if labels is None else [x, labels], training=True) for x in (real, fake)]
        for a, b in zip(outputs, apart):
            np.testing.assert_allclose(a, b, atol=1e-6)
        model.fit(_data(24), epochs=1, verbose=0, shuffle=False)
        return len(calls), model.get_weights()

    inputs = keras.Input((4,))
    for layer in (keras.layers.BatchNormalization(), keras.layers.Dropout(0.5)):
        assert not joint.per_image(keras.Model(inputs, keras.layers.Dense(1)(layer(inputs))))
    assert joint.per_image(keras.Model(inputs, keras.layers.Dense(1)(keras.layers.LeakyReLU()(inputs))))
    keras.utils.set_random_seed(0)
    calls, weights = d_calls(tiny_gan(name, diffaugment=diffaugment))
    monkeypatch.setattr(joint, "per_image", lambda model: False)
    keras.utils.set_random_seed(0)
    calls_apart, weights_apart = d_calls(tiny_gan(name, diffaugment=diffaugment))
    assert (calls, calls_apart) == (1, 2)
    for a, b in zip(weights, weights_apart):
        np.testing.assert_allclose(a, b, atol=1e-5)
