"""The GAN family, each a `keras.Model` with a custom `train_step`, and the CycleGAN translator.

Each GAN class says how its discriminator is built (`discriminator_outputs(K)`,
`discriminator_sees_label`); `GAN_MODELS` maps the YAML's `gan.model` names to the classes.
"""

from tfganaug.gans.acgan import ACGAN
from tfganaug.gans.conditional import ConditionalGAN
from tfganaug.gans.cyclegan import CycleGAN
from tfganaug.gans.dagan import DAGAN
from tfganaug.gans.gan import GAN
from tfganaug.gans.sgan import SGAN

GAN_MODELS = {"gan": GAN, "cgan": ConditionalGAN, "acgan": ACGAN, "sgan": SGAN, "dagan": DAGAN}

__all__ = ["GAN", "ConditionalGAN", "ACGAN", "SGAN", "DAGAN", "CycleGAN", "GAN_MODELS"]
