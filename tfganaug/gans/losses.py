"""Adversarial losses as pure functions of discriminator logits (TF-GAN style naming).

Each returns a scalar: the mean over the batch. `real` / `fake` are the
discriminator's logits for real and generated images, shape [N] or [N, 1].
"""

import tensorflow as tf


def bce_generator_loss(fake):
    """Non-saturating GAN generator loss: -log sigmoid(D(G(z)))."""
    return tf.reduce_mean(tf.nn.softplus(-fake))


def bce_discriminator_loss(real, fake):
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))."""
    return tf.reduce_mean(tf.nn.softplus(-real)) + tf.reduce_mean(tf.nn.softplus(fake))


def least_squares_generator_loss(fake):
    """LSGAN: 0.5 * (D(G(z)) - 1)^2."""
    return 0.5 * tf.reduce_mean(tf.square(fake - 1.0))


def least_squares_discriminator_loss(real, fake):
    """LSGAN: 0.5 * (D(x) - 1)^2 + 0.5 * D(G(z))^2."""
    return 0.5 * tf.reduce_mean(tf.square(real - 1.0)) + 0.5 * tf.reduce_mean(tf.square(fake))


def hinge_generator_loss(fake):
    """Hinge GAN: -D(G(z))."""
    return -tf.reduce_mean(fake)


def hinge_discriminator_loss(real, fake):
    """Hinge GAN: max(0, 1 - D(x)) + max(0, 1 + D(G(z)))."""
    return tf.reduce_mean(tf.nn.relu(1.0 - real)) + tf.reduce_mean(tf.nn.relu(1.0 + fake))


def wasserstein_generator_loss(fake):
    """WGAN: -D(G(z))."""
    return -tf.reduce_mean(fake)


def wasserstein_discriminator_loss(real, fake):
    """WGAN critic: D(G(z)) - D(x) (add `gradient_penalty` for WGAN-GP)."""
    return tf.reduce_mean(fake) - tf.reduce_mean(real)


def gradient_penalty(critic, real, fake, alpha, loss_scale=1.0):
    """WGAN-GP penalty: mean over samples of (||grad critic(x_hat)||_2 - 1)^2.

    Args:
        critic: function from images to logits [N] or [N, 1].
        real, fake: images [N, ...].
        alpha: one uniform weight per sample, shape [N]; x_hat = real + alpha * (fake - real).
        loss_scale: the inner gradient is taken of `loss_scale * critic(x_hat)` and divided by it
            afterwards (the optimizer's loss scale under mixed_float16, so that float16
            gradients inside the critic do not underflow; 1 otherwise).

    The norm is per sample over all pixels; a small epsilon inside the square
    root keeps its gradient finite where the critic's gradient is exactly zero.
    """
    norms = critic_gradient_norms(critic, real + _per_sample(alpha, real) * (fake - real), loss_scale)
    return tf.reduce_mean(tf.square(norms - 1.0))


def critic_gradient_norms(critic, images, loss_scale=1.0):
    """Per-sample norm of d critic / d image, sqrt(sum of squares + 1e-12), taken through `loss_scale`."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = critic(images)
        scaled = scores * tf.cast(loss_scale, scores.dtype)
    grads = tf.cast(tape.gradient(scaled, images), tf.float32) / tf.cast(loss_scale, tf.float32)
    return tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])), axis=1) + 1e-12)


def _per_sample(weights, images):
    """[N] weights shaped to broadcast over images [N, ...]."""
    return tf.reshape(tf.cast(weights, images.dtype), [-1] + [1] * (len(images.shape) - 1))


def lecam_regularizer(real, fake, average_real, average_fake):
    """LeCam (Tseng et al. 2021): mean(relu(D(x) - a_fake)^2) + mean(relu(a_real - D(G(z)))^2).

    `average_real` and `average_fake` are moving averages of D's mean logit on real and on
    generated images: the term keeps each side's logits from running away from the other side's.
    """
    return (tf.reduce_mean(tf.square(tf.nn.relu(real - average_fake)))
            + tf.reduce_mean(tf.square(tf.nn.relu(average_real - fake))))


def cycle_consistency_loss(real, cycled):
    """CycleGAN cycle loss: mean |x - F(G(x))| (L1 over every pixel of the batch)."""
    return tf.reduce_mean(tf.abs(real - cycled))


def identity_loss(real, same):
    """CycleGAN identity loss: mean |y - G(y)|, a generator fed an image of its target domain."""
    return tf.reduce_mean(tf.abs(real - same))


ADVERSARIAL_LOSSES = {
    "bce": (bce_generator_loss, bce_discriminator_loss),
    "least_squares": (least_squares_generator_loss, least_squares_discriminator_loss),
    "hinge": (hinge_generator_loss, hinge_discriminator_loss),
    "wgan_gp": (wasserstein_generator_loss, wasserstein_discriminator_loss),
}
