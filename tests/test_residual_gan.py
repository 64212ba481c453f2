"""The residual (SNGAN) networks: spectral norm, class-conditional batch norm, the projection logit,
and every GAN model training on them."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfganaug.config import GANTraining
from tfganaug.experiment import build_gan
from tfganaug.networks.layers import ConditionalBatchNorm
from tfganaug.networks.residual_gan import build_residual_discriminator, build_residual_generator, discriminator_sides
from tfganaug.networks.spectral_norm import SNConv2D, SNDense, SNEmbedding


@pytest.mark.parametrize("layer,x", [
    (lambda: SNConv2D(5, 3, padding="same"), np.random.default_rng(0).uniform(size=(2, 6, 6, 4))),
    (lambda: SNDense(7), np.random.default_rng(0).uniform(size=(3, 9))),
    (lambda: SNEmbedding(4, 6), np.array([0, 3, 1])),
])
def test_spectral_norm_makes_the_largest_singular_value_one_with_finite_gradients(layer, x):
    keras.utils.set_random_seed(0)
    layer = layer()
    x = tf.constant(x.astype("int32" if x.dtype.kind == "i" else "float32"))
    layer(x)
    layer.kernel.assign(np.random.default_rng(2).normal(0, 3, layer.kernel.shape).astype("float32"))
    raw = np.asarray(layer.kernel).reshape(-1, layer.kernel.shape[-1])
    assert np.linalg.svd(raw, compute_uv=False)[0] > 1.5  # far from 1 before normalization
    for _ in range(30):  # one power-iteration step per training call
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(layer(x, training=True))
        grads = tape.gradient(total, layer.trainable_weights)
        assert all(np.all(np.isfinite(g)) for g in grads)
    normalized = np.asarray(layer.normalized_kernel()).reshape(raw.shape)
    assert np.linalg.svd(normalized, compute_uv=False)[0] == pytest.approx(1.0, abs=1e-2)
    np.testing.assert_array_equal(layer.kernel, raw.reshape(layer.kernel.shape))  # the weight itself is untouched
    assert [w.name for w in layer.non_trainable_weights] == ["sn_u"]  # saved and restored with the model


@pytest.mark.parametrize("layer,x", [
    (lambda: SNConv2D(16, 3), np.zeros((1, 5, 5, 8))),
    (lambda: SNDense(24), np.zeros((1, 40))),
    (lambda: SNEmbedding(10, 16), np.array([0])),
])
def test_spectral_norm_is_right_from_the_first_step(layer, x):
    # Warm-up power iterations at build: one step from a random vector left the first steps'
    # estimate ~20% low (the normalized kernel's largest singular value ~1.25).
    keras.utils.set_random_seed(0)
    layer = layer()
    layer(tf.constant(x.astype("int32" if x.dtype.kind == "i" else "float32")))
    normalized = np.asarray(layer.normalized_kernel()).reshape(-1, layer.kernel.shape[-1])
    assert np.linalg.svd(normalized, compute_uv=False)[0] == pytest.approx(1.0, abs=0.02)


def test_inference_does_not_move_the_power_iteration_vector():
    layer = SNDense(3)
    x = tf.ones([2, 4])
    layer(x, training=True)
    u = np.asarray(layer.sn_u).copy()
    layer(x)
    np.testing.assert_array_equal(u, layer.sn_u)


def test_conditional_batch_norm_applies_the_gain_and_bias_of_each_rows_class():
    layer = ConditionalBatchNorm(3)
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 2, 2, 5)).astype("float32"))
    labels = tf.constant([0, 1, 1, 2])
    plain = np.asarray(layer([x, labels]))  # fresh: gain 1, bias 0 = batch norm alone
    gain, bias = np.ones((3, 5), np.float32), np.zeros((3, 5), np.float32)
    gain[1], bias[1] = 2.0, 3.0
    layer.gain.assign(gain)
    layer.bias.assign(bias)
    out = np.asarray(layer([x, labels]))
    np.testing.assert_allclose(out[[0, 3]], plain[[0, 3]], atol=1e-6)
    np.testing.assert_allclose(out[[1, 2]], 2.0 * plain[[1, 2]] + 3.0, atol=1e-5)


def test_the_projection_logit_is_psi_of_phi_plus_the_class_embedding_dot_phi():
    keras.utils.set_random_seed(0)
    d = build_residual_discriminator((8, 8, 1), 1, 3, filters=(4, 6))
    images = tf.constant(np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 1)).astype("float32"))
    labels = tf.constant([0, 2, 1, 2])
    phi = np.asarray(keras.Model(d.inputs, d.get_layer("sum_pool").output)([images, labels]))
    psi, embedding = d.get_layer("psi"), d.get_layer("class_embedding")
    by_hand = (phi @ np.asarray(psi.normalized_kernel()) + np.asarray(psi.bias)
               + np.sum(np.asarray(embedding.normalized_kernel())[[0, 2, 1, 2]] * phi, axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(d([images, labels])), by_hand, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("height,sides", [(28, [14, 7]), (32, [16, 8]), (64, [32, 16, 8])])
def test_networks_are_sized_from_the_image(height, sides):
    assert discriminator_sides(height) == sides
    g = build_residual_generator(4, (height, height, 3), 2, base_filters=4)
    d = build_residual_discriminator((height, height, 3), 5, 0, filters=(2, 4))
    assert g.output_shape == (None, height, height, 3) and d.output_shape == (None, 5)
    weighted = [layer for layer in d.layers if getattr(layer, "kernel", None) is not None]
    assert weighted and all(isinstance(layer, (SNConv2D, SNDense)) for layer in weighted)  # every weight


@pytest.mark.parametrize("model", ["gan", "cgan", "acgan", "sgan", "dagan"])
def test_every_gan_model_trains_on_the_residual_networks(model):
    gan = build_gan(GANTraining(model=model, network="resnet", latent_dim=4, base_filters=4, d_filters=(4, 4),
                                loss="hinge" if model in ("gan", "cgan") else "bce"), (8, 8, 1), 3, seed=0)
    assert gan.discriminator.output_shape == (None, gan.discriminator_outputs(3))
    assert (len(gan.discriminator.inputs) == 2) == (model == "cgan")  # projection only for the CGAN
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices((rng.uniform(-1, 1, (8, 8, 8, 1)).astype("float32"),
                                               (np.arange(8) % 3).astype("int32"))).batch(4)
    before = {n: [w.numpy().copy() for w in net.trainable_weights] for n, net in
              (("generator", gan.generator), ("discriminator", gan.discriminator))}
    history = gan.fit(data, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    for name, net in (("generator", gan.generator), ("discriminator", gan.discriminator)):  # both networks learned
        moved = [not np.array_equal(a, w.numpy()) for a, w in zip(before[name], net.trainable_weights)]
        assert sum(moved) >= len(moved) // 2, f"{name}: {sum(moved)} of {len(moved)} weights moved"
    images = gan.generate(labels=[0, 1, 2], seed=1) if gan.conditional else gan.generate(n=3, seed=1)
    assert images.shape == (3, 8, 8, 1) and np.abs(images).max() <= 1.0 and images.std() > 0


def test_weights_files_keep_the_power_iteration_vectors(tmp_path):
    keras.utils.set_random_seed(0)
    d = build_residual_discriminator((8, 8, 1), 1, 3, filters=(4, 4))
    d([tf.zeros((2, 8, 8, 1)), tf.constant([0, 1])], training=True)  # moves every sn_u
    d.save_weights(tmp_path / "d.weights.h5")
    keras.utils.set_random_seed(1)
    other = build_residual_discriminator((8, 8, 1), 1, 3, filters=(4, 4))
    other.load_weights(tmp_path / "d.weights.h5")
    for a, b in zip(d.weights, other.weights):
        np.testing.assert_array_equal(a, b)
