"""Auxiliary-classifier GAN."""

import keras
import numpy as np

from tfganaug.distribute import call_in_batches
from tfganaug.gans.base import GANBase, sparse_ce
from tfganaug.gans.joint import real_and_fake_outputs


def _heads(logits):
    """The real/fake logit [N, 1] and the class logits [N, K] of the discriminator's outputs."""
    return logits[:, :1], logits[:, 1:]


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
        return _heads(self.discriminator(self.augment(images, random), training=True))

    def discriminator_loss(self, real, fake, labels, random):
        real_logits, fake_logits = real_and_fake_outputs(self.discriminator, self.augment(real, random),
                                                         self.augment(fake, random))
        (real_adv, real_cls), (fake_adv, fake_cls) = _heads(real_logits), _heads(fake_logits)
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
