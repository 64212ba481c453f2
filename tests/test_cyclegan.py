"""CycleGAN: training changes all four networks, losses by hand, the image pool, the schedule."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfganaug.gans.cyclegan import CycleGAN, HoldThenLinearDecay, ImagePool
from tfganaug.gans.losses import cycle_consistency_loss, identity_loss
from tfganaug.networks.cyclegan_networks import (build_patchgan_discriminator, build_resnet_generator,
                                                 build_unet_generator)

SHAPE = (16, 16, 3)


def _cyclegan(generator="resnet", pool_size=4):
    keras.utils.set_random_seed(0)
    if generator == "resnet":
        g_ab, g_ba = (build_resnet_generator(SHAPE, filters=4, downsamplings=2, residual_blocks=1, name=n)
                      for n in ("g_ab", "g_ba"))
    else:
        g_ab, g_ba = (build_unet_generator(SHAPE, filters=4, depth=2, name=n) for n in ("g_ab", "g_ba"))
    d_a, d_b = (build_patchgan_discriminator(SHAPE, filters=4, layers=2, name=n) for n in ("d_a", "d_b"))
    model = CycleGAN(g_ab, g_ba, d_a, d_b, pool_size=pool_size, seed=0)
    model.compile(keras.optimizers.Adam(2e-3, 0.5), keras.optimizers.Adam(2e-3, 0.5))
    return model


@pytest.mark.parametrize("generator", ["resnet", "unet"])
def test_fit_gives_finite_losses_and_changes_all_four_networks(generator):
    model = _cyclegan(generator)
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, (8,) + SHAPE).astype("float32") for _ in range(2))
    networks = [model.generator_ab, model.generator_ba, model.discriminator_a, model.discriminator_b]
    before = [[w.copy() for w in n.get_weights()] for n in networks]
    history = model.fit(tf.data.Dataset.from_tensor_slices((a, b)).batch(4), epochs=1, verbose=0, shuffle=False).history
    assert set(history) == {"g_loss", "d_loss", "cycle_loss", "identity_loss"}
    assert all(np.isfinite(v[-1]) for v in history.values())
    for network, old in zip(networks, before):
        assert any(not np.allclose(x, y) for x, y in zip(old, network.get_weights())), network.name
    out = model.translate(a[:3], "b_to_a")
    assert out.shape == (3,) + SHAPE and out.min() >= -1 and out.max() <= 1


def test_cycle_and_identity_losses_by_hand():
    real = tf.constant([[0.0, 1.0], [-1.0, 0.5]])
    other = tf.constant([[0.5, 1.0], [0.0, 0.0]])
    assert float(cycle_consistency_loss(real, other)) == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)
    assert float(identity_loss(real, real)) == 0.0


def test_image_pool_fills_then_swaps_half_on_average():
    pool = ImagePool(3, seed=0)
    first = tf.constant(np.arange(2, dtype="float32").reshape(2, 1))
    np.testing.assert_array_equal(pool(first), first)  # filling: passed through
    np.testing.assert_array_equal(pool(tf.constant([[2.0]])), [[2.0]])
    assert int(pool.count) == 3 and sorted(pool.images.numpy().ravel()) == [0, 1, 2]
    new = tf.constant(np.arange(100, 300, dtype="float32").reshape(200, 1))
    out = pool(new).numpy().ravel()
    returned_old = np.isin(out, [0, 1, 2])
    assert np.all(returned_old | (out == new.numpy().ravel()))  # each is its own new image or a stored one
    assert 60 < returned_old.sum() < 140  # about half
    assert set(pool.images.numpy().ravel()) <= set(range(3)) | set(range(100, 300))
    assert ImagePool(0)(new) is new


def test_hold_then_linear_decay():
    schedule = HoldThenLinearDecay(2e-4, hold_steps=100, decay_steps=100)
    assert [float(schedule(s)) for s in (0, 100, 150, 200, 300)] == pytest.approx([2e-4, 2e-4, 1e-4, 0, 0])


def test_generators_reject_sizes_they_cannot_rebuild():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*downsamplings = 4"):
        build_resnet_generator((18, 18, 3), downsamplings=2)


def test_config_round_trip_rebuilds_the_same_architecture():
    model = _cyclegan(pool_size=2)
    clone = CycleGAN.from_config(model.get_config())
    assert clone.pool_size == 2 and clone.cycle_weight == 10.0 and clone.identity_weight == 0.5
    assert [w.shape for w in clone.generator_ab.weights] == [w.shape for w in model.generator_ab.weights]
    assert clone.discriminator_b.output_shape == model.discriminator_b.output_shape


def test_inspect_picks_a_middle_layer_and_the_last_layers():
    from tfganaug.reporting.feature_maps import chosen_layers, conv_layers

    generator = build_resnet_generator(SHAPE, filters=4, downsamplings=2, residual_blocks=2)
    convs = [layer.name for layer in conv_layers(generator)]
    assert len(convs) == 1 + 2 + 2 * 2 + 2 + 1
    assert chosen_layers(generator) == [convs[5], convs[-3], convs[-2]]
    with pytest.raises(ValueError, match="unknown layer 'x'"):
        chosen_layers(generator, ["x"])


def test_identity_term_feeds_each_generator_an_image_of_its_own_target_domain():
    # G_ab returns its input, G_ba returns zeros: fed the right domains, only G_ba's term counts.
    def generator(scale, name):
        return keras.Sequential([keras.Input(SHAPE), keras.layers.Rescaling(scale)], name=name)

    d_a, d_b = (build_patchgan_discriminator(SHAPE, filters=2, layers=1, name=n) for n in ("d_a", "d_b"))
    model = CycleGAN(generator(1.0, "g_ab"), generator(0.0, "g_ba"), d_a, d_b, pool_size=0, seed=0)
    real_a, real_b = tf.fill([2, *SHAPE], 0.5), tf.fill([2, *SHAPE], -0.25)
    # |b - G_ab(b)| = 0 and |a - G_ba(a)| = 0.5; swapped directions would give 0.25 + 0.
    assert float(model.identity_term(real_a, real_b)) == pytest.approx(0.5)


def test_a_keras_file_round_trip_restores_the_cyclegan(tmp_path):
    model = _cyclegan()
    model.save(tmp_path / "cyclegan.keras")
    loaded = keras.models.load_model(tmp_path / "cyclegan.keras", compile=False)
    assert type(loaded) is CycleGAN and (loaded.cycle_weight, loaded.identity_weight) == (10.0, 0.5)
    images = np.random.default_rng(0).uniform(-1, 1, (2,) + SHAPE).astype("float32")
    np.testing.assert_array_equal(model.translate(images, "b_to_a"), loaded.translate(images, "b_to_a"))
