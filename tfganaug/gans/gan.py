"""Unconditional GAN: the "vanilla GAN" control of the DAGAN study."""

import keras

from tfganaug.gans.base import GANBase
from tfganaug.gans.joint import real_and_fake_outputs


@keras.saving.register_keras_serializable(package="tfganaug")
class GAN(GANBase):
    """Unconditional GAN: D says real or fake (one logit); G takes noise only.

    Its images have no class, so they can only be labelled all-in-one or LSRO.

    Example:
        >>> gan = GAN(build_mlp_generator(8, (8, 8, 1)), build_mlp_discriminator((8, 8, 1)), latent_dim=8, num_classes=3)
        >>> gan.compile(keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4))
        >>> gan.fit(images_in_minus1_1, epochs=1)
        >>> gan.generate(n=16, seed=0).shape
        (16, 8, 8, 1)
    """

    conditional = False

    def discriminator_loss(self, real, fake, labels, random):
        critic = lambda x: self.discriminator(self.augment(x, random), training=True)  # noqa: E731
        real_logits, fake_logits = real_and_fake_outputs(self.discriminator, self.augment(real, random),
                                                         self.augment(fake, random))
        return (self.adv_d_loss(real_logits, fake_logits) + self.penalty(critic, real, fake, random),
                real_logits, fake_logits)

    def generator_loss(self, fake, labels, random):
        return self.adv_g_loss(self.discriminator(self.augment(fake, random), training=True))
