"""The GAN family, each a `keras.Model` with a custom `train_step`."""

from tfganaug.gans.acgan import ACGAN
from tfganaug.gans.conditional import ConditionalGAN
from tfganaug.gans.dagan import DAGAN
from tfganaug.gans.gan import GAN
from tfganaug.gans.sgan import SGAN

# name in the YAML -> (class, discriminator outputs as a function of K, discriminator sees the label)
GAN_MODELS = {
    "gan": (GAN, lambda k: 1, False),
    "cgan": (ConditionalGAN, lambda k: 1, True),
    "acgan": (ACGAN, lambda k: 1 + k, False),
    "sgan": (SGAN, lambda k: k + 1, False),
    "dagan": (DAGAN, lambda k: 2 * k, False),
}

__all__ = ["GAN", "ConditionalGAN", "ACGAN", "SGAN", "DAGAN", "GAN_MODELS"]
