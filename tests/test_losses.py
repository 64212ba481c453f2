"""Loss functions against hand-computed values on 4-element tensors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfganaug.gans import losses
from tfganaug.gans.dagan import tied_class_loss

REAL = tf.constant([2.0, 0.0, -1.0, 1.0])
FAKE = tf.constant([-2.0, 0.5, 1.0, 0.0])


def softplus(x):
    return math.log1p(math.exp(x))


def test_bce_losses():
    g = np.mean([softplus(-f) for f in [-2.0, 0.5, 1.0, 0.0]])
    d = np.mean([softplus(-r) for r in [2.0, 0.0, -1.0, 1.0]]) + np.mean([softplus(f) for f in [-2.0, 0.5, 1.0, 0.0]])
    assert float(losses.bce_generator_loss(FAKE)) == pytest.approx(g, rel=1e-6)
    assert float(losses.bce_discriminator_loss(REAL, FAKE)) == pytest.approx(d, rel=1e-6)


def test_least_squares_losses():
    # G: 0.5 * mean((f-1)^2) = 0.5 * (9 + 0.25 + 0 + 1) / 4
    assert float(losses.least_squares_generator_loss(FAKE)) == pytest.approx(0.5 * 10.25 / 4)
    # D: 0.5 * mean((r-1)^2) + 0.5 * mean(f^2) = 0.5 * (1+1+4+0)/4 + 0.5 * (4+0.25+1+0)/4
    assert float(losses.least_squares_discriminator_loss(REAL, FAKE)) == pytest.approx(0.5 * 6 / 4 + 0.5 * 5.25 / 4)


def test_hinge_and_wasserstein_losses():
    assert float(losses.hinge_generator_loss(FAKE)) == pytest.approx(-(-0.5 / 4))
    # relu(1-r) = 0, 1, 2, 0 ; relu(1+f) = 0, 1.5, 2, 1
    assert float(losses.hinge_discriminator_loss(REAL, FAKE)) == pytest.approx(3 / 4 + 4.5 / 4)
    assert float(losses.wasserstein_discriminator_loss(REAL, FAKE)) == pytest.approx(-0.5 / 4 - 2 / 4)


def test_gradient_penalty_per_sample_norm_and_interpolation():
    # critic(x) = sum(w * x) per sample has gradient w everywhere: norm = ||w|| for every sample.
    w = tf.constant([[3.0, 4.0]])  # norm 5 -> penalty (5 - 1)^2 = 16
    critic = lambda x: tf.reduce_sum(w * x, axis=1)  # noqa: E731
    real, fake = tf.zeros([3, 2]), tf.ones([3, 2])
    assert float(losses.gradient_penalty(critic, real, fake, tf.constant([0.0, 0.5, 1.0]))) == pytest.approx(16.0)

    # critic(x) = sum(x^2): gradient 2 x_hat, so the interpolation weight matters per sample.
    critic = lambda x: tf.reduce_sum(tf.square(x), axis=1)  # noqa: E731
    real, fake = tf.zeros([2, 1]), tf.ones([2, 1])
    # alpha 0.25 -> x_hat 0.25 -> grad 0.5 -> (0.5-1)^2 = 0.25 ; alpha 1 -> grad 2 -> 1
    out = losses.gradient_penalty(critic, real, fake, tf.constant([0.25, 1.0]))
    assert float(out) == pytest.approx((0.25 + 1.0) / 2)


def test_gradient_penalty_has_no_nan_at_zero_gradient():
    # critic(x) = sum(x^2): its gradient 2 x_hat is exactly zero at x_hat = 0 but depends on the
    # input, so the penalty's own gradient goes through the norm's square root at 0 (NaN without
    # the epsilon inside it).
    critic = lambda x: tf.reduce_sum(tf.square(x), axis=1)  # noqa: E731
    real = tf.Variable(tf.zeros([2, 3]))
    with tf.GradientTape() as tape:
        penalty = losses.gradient_penalty(critic, real, tf.zeros([2, 3]), tf.constant([0.5, 0.5]))
    grad = tape.gradient(penalty, real)
    assert float(penalty) == pytest.approx(1.0, abs=1e-5)  # (sqrt(0 + 1e-12) - 1)^2
    assert grad is not None and np.all(np.isfinite(grad.numpy()))


def test_the_penalty_gradient_survives_float16_through_the_loss_scale():
    # A float16 critic whose input gradient, 2e-8 per pixel, underflows in float16 (the smallest
    # float16 is 6e-8); scaled by 2^15 on the way back it does not, and is unscaled afterwards.
    critic = lambda x: tf.reduce_sum(tf.cast(x, tf.float16) * tf.constant(2e-4, tf.float16), axis=1) \
        * tf.constant(1e-4, tf.float16)  # noqa: E731
    images = tf.zeros([2, 40_000])
    unscaled = losses.critic_gradient_norms(critic, images).numpy()
    scaled = losses.critic_gradient_norms(critic, images, loss_scale=2.0 ** 15).numpy()
    np.testing.assert_allclose(unscaled, 1e-6, rtol=1e-3)  # sqrt(0 + 1e-12): the gradient was lost
    # sqrt((200 x 2e-8)^2 + 1e-12), 200 = sqrt(40,000 pixels); float16 keeps 3 digits
    np.testing.assert_allclose(scaled, np.sqrt((200 * 2e-8) ** 2 + 1e-12), rtol=0.01)


def test_dagan_tied_class_loss():
    # K = 2; logits over [real0, real1, fake0, fake1]
    logits = tf.math.log(tf.constant([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]))
    labels = tf.constant([0, 1])
    # sample 0: p(0) + p(2) = 0.4 ; sample 1: p(1) + p(3) = 0.4
    assert float(tied_class_loss(labels, logits, 2)) == pytest.approx(-math.log(0.4), rel=1e-5)
