"""Semi-supervised GAN with a K+1-class discriminator."""

import keras
import tensorflow as tf

from tfganaug.gans.base import GANBase, sparse_ce


@keras.saving.register_keras_serializable(package="tfganaug")
class SGAN(GANBase):
    """Semi-supervised GAN (Odena 2016; Salimans et al. 2016): D(image) gives K+1 logits, class K = fake.

    D: real images to their class, generated images to class K. The generator
    is conditional here (so its images can be labelled for augmentation): it
    wants D to put its image of class y in class y. Build the discriminator
    with `num_outputs = num_classes + 1`. Only the "bce" loss applies.
    """

    supported_losses = ("bce",)
    has_real_fake_logit = False

    @classmethod
    def discriminator_outputs(cls, num_classes):
        return num_classes + 1

    def discriminator_loss(self, real, fake, labels, random):
        real_logits = self.discriminator(self.augment(real, random), training=True)
        fake_logits = self.discriminator(self.augment(fake, random), training=True)
        fake_class = tf.fill(tf.shape(labels), self.num_classes)
        return sparse_ce(labels, real_logits) + sparse_ce(fake_class, fake_logits), None, None

    def generator_loss(self, fake, labels, random):
        return sparse_ce(labels, self.discriminator(self.augment(fake, random), training=True))
