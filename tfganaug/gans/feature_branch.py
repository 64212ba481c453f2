"""The losses of the discriminator's feature branch (`tfganaug.networks.projected`), which `GANBase`
adds to its discriminator's and generator's losses.

The branch gives logits [N, depths, outputs]: a real/fake logit per depth, and for ACGAN K class
logits after it. Its adversarial loss is the GAN's own, averaged over the depths (and the class
cross-entropy, for ACGAN, likewise); it joins the step's loss times `feature_weight`, once the
discriminator has seen `feature_start_kimg` thousand real images (Vision-aided GAN's warm-up:
before it, the branch is not even run). Images go through the GAN's own augmentation (DiffAugment,
adaptive probability, instance noise) before the trunk.
"""

import tensorflow as tf

from tfganaug.distribute import num_replicas


def _split(model, inputs, labels):
    logits = model.feature_discriminator([inputs, labels] if model.discriminator_sees_label else inputs, training=True)
    return logits[..., 0], logits[..., 1:]


def _class_loss(class_logits, labels):
    """Mean cross-entropy of every depth's class logits [N, D, K] (0 without class logits)."""
    if class_logits.shape[-1] == 0:
        return 0.0
    depths = tf.shape(class_logits)[1]
    per_depth = tf.repeat(labels[:, None], depths, axis=1)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(per_depth, tf.cast(class_logits, tf.float32)))


def feature_discriminator_loss(model, real, fake, labels, random):
    """The branch's unweighted discriminator loss; real and generated images go through it in one call
    (each augmented on its own: the same draws per example on any number of replicas)."""
    both = tf.concat([model.augment(real, random), model.augment(fake, random)], axis=0)
    adversarial, classes = _split(model, both, tf.concat([labels, labels], axis=0))
    n = tf.shape(real)[0]
    loss = model.adv_d_loss(adversarial[:n], adversarial[n:])
    return loss + _class_loss(classes[:n], labels) + _class_loss(classes[n:], labels)


def feature_generator_loss(model, fake, labels, random):
    """The branch's unweighted generator loss: its images must look real (and of their class) to every head."""
    adversarial, classes = _split(model, model.augment(fake, random), labels)
    return model.adv_g_loss(adversarial) + _class_loss(classes, labels)


def weighted_feature_loss(model, loss, batch):
    """`feature_weight` x `loss()` once `feature_start_kimg` thousand real images have been shown
    (counted from the discriminator's steps of `batch` images per replica), else 0 without calling it."""
    if not model.feature_start_kimg:
        return model.feature_weight * loss()
    shown = tf.cast(model.d_optimizer.iterations, tf.float32) * tf.cast(batch * num_replicas(), tf.float32)
    return tf.cond(shown >= model.feature_start_kimg * 1000.0, lambda: model.feature_weight * loss(),
                   lambda: tf.constant(0.0))
