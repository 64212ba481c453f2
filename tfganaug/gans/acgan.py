"""Auxiliary-classifier GAN."""

import keras
import numpy as np

from tfganaug.distribute import call_in_batches
from tfganaug.gans.base import GANBase, sparse_ce


@keras.saving.register_keras_serializable(package="tfganaug")
class ACGAN(GANBase):
    """ACGAN (Odena et al. 2017): D(image) gives 1 + K logits, a real/fake logit and K class logits.

    D minimises the adversarial loss plus the class loss on real and fake
    images; G minimises its adversarial loss plus the class loss of its images
    (they must look real *and* be recognisably of the asked class). The
    discriminator must be built with `num_outputs = 1 + num_classes`.
    """

    @classmethod
    def discriminator_outputs(cls, num_classes):
        return 1 + num_classes

    def _split(self, images, random):
        logits = self.discriminator(self.augment(images, random), training=True)
        return logits[:, :1], logits[:, 1:]

    def discriminator_loss(self, real, fake, labels, random):
        real_adv, real_cls = self._split(real, random)
        fake_adv, fake_cls = self._split(fake, random)
        critic = lambda x: self._split(x, random)[0]  # noqa: E731
        adversarial = self.adv_d_loss(real_adv, fake_adv) + self.penalty(critic, real, fake, random)
        return adversarial + sparse_ce(labels, real_cls) + sparse_ce(labels, fake_cls), real_adv, fake_adv

    def generator_loss(self, fake, labels, random):
        fake_adv, fake_cls = self._split(fake, random)
        return self.adv_g_loss(fake_adv) + sparse_ce(labels, fake_cls)

    def class_probabilities(self, images, batch_size=256):
        """The auxiliary head's class probabilities [N, K] for images in [-1, 1] (no augmentation)."""
        logits = call_in_batches(self.discriminator, [images], batch_size)[:, 1:]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
