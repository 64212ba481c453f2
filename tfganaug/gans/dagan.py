"""DAGAN as in the DAGAN study: a 2K-class discriminator."""

import keras
import tensorflow as tf

from tfganaug.gans.base import GANBase, sparse_ce


def tied_class_loss(labels, logits, num_classes):
    """-mean log[p(k|x) + p(K+k|x)]: the class is right whether x is judged real or fake.

    This is the study's L_data (real images, label k) and L_gen (fakes, label
    K+k, where p(y) + p(y-K) is the same sum).
    """
    log_probs = tf.nn.log_softmax(logits)
    pair = tf.stack([labels, labels + num_classes], axis=1)
    return -tf.reduce_mean(tf.reduce_logsumexp(tf.gather(log_probs, pair, batch_dims=1), axis=1))


@keras.saving.register_keras_serializable(package="tfganaug")
class DAGAN(GANBase):
    """DAGAN: D(image) gives 2K logits; k = "real image of class k", K+k = "generated image of class k".

    D loss: the 2K-class cross-entropy (real -> k, fake -> K+k), which is the
    adversarial game per class, plus the study's tied class loss
    L_data + L_gen = -log[p(k) + p(K+k)] on real and fake images.
    G loss: its image of class k should be judged "real of class k"
    (-log p(k | G(z, k)), non-saturating), plus the tied class loss.
    Build the discriminator with `num_outputs = 2 * num_classes`. Only "bce" applies.
    """

    supported_losses = ("bce",)
    has_real_fake_logit = False

    @classmethod
    def discriminator_outputs(cls, num_classes):
        return 2 * num_classes

    def discriminator_loss(self, real, fake, labels, random):
        real_logits = self.discriminator(self.augment(real, random), training=True)
        fake_logits = self.discriminator(self.augment(fake, random), training=True)
        k = self.num_classes
        adversarial = sparse_ce(labels, real_logits) + sparse_ce(labels + k, fake_logits)
        return (adversarial + tied_class_loss(labels, real_logits, k) + tied_class_loss(labels, fake_logits, k),
                None, None)

    def generator_loss(self, fake, labels, random):
        logits = self.discriminator(self.augment(fake, random), training=True)
        return sparse_ce(labels, logits) + tied_class_loss(labels, logits, self.num_classes)
