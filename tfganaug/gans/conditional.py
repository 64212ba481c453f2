"""Conditional GAN: label-conditioned generator and discriminator."""

import keras

from tfganaug.gans.base import GANBase
from tfganaug.gans.joint import real_and_fake_outputs


@keras.saving.register_keras_serializable(package="tfganaug")
class ConditionalGAN(GANBase):
    """CGAN (Mirza & Osindero): G(noise, label) and D(image, label) -> one real/fake logit.

    Example:
        >>> g = build_mlp_generator(8, (8, 8, 1), num_classes=3)
        >>> d = build_mlp_discriminator((8, 8, 1), num_classes=3)
        >>> cgan = ConditionalGAN(g, d, latent_dim=8, num_classes=3)
        >>> cgan.compile(keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4))
        >>> cgan.fit(dataset_of_images_and_labels, epochs=1)
        >>> cgan.generate(labels=[0, 1, 2], seed=0).shape
        (3, 8, 8, 1)
    """

    discriminator_sees_label = True

    def discriminator_loss(self, real, fake, labels, random):
        critic = lambda x: self.discriminator([self.augment(x, random), labels], training=True)  # noqa: E731
        real_logits, fake_logits = real_and_fake_outputs(self.discriminator, self.augment(real, random),
                                                         self.augment(fake, random), labels)
        return (self.adv_d_loss(real_logits, fake_logits) + self.penalty(critic, real, fake, random),
                real_logits, fake_logits)

    def generator_loss(self, fake, labels, random):
        return self.adv_g_loss(self.discriminator([self.augment(fake, random), labels], training=True))
