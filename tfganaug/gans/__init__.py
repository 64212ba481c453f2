"""The GAN family, each a `keras.Model` with a custom `train_step`, and the CycleGAN translator.

Each GAN class says how its discriminator is built (`discriminator_outputs(K)`,
`discriminator_sees_label`); `GAN_MODELS` maps the YAML's `gan.model` names to the classes.

Outside an experiment they are plain Keras models (tested in tests/test_api.py):

    import keras
    from tfganaug.gans import ACGAN
    from tfganaug.networks import build_mlp_discriminator, build_mlp_generator

    generator = build_mlp_generator(64, (28, 28, 1), num_classes=10)
    discriminator = build_mlp_discriminator((28, 28, 1), ACGAN.discriminator_outputs(10))
    gan = ACGAN(generator, discriminator, latent_dim=64, num_classes=10)
    gan.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
    gan.fit(images, labels, batch_size=64, epochs=5)   # images: float32 in [-1, 1], labels: int classes
    samples = gan.generate(labels=[0, 1, 2], seed=0)   # float32 in [-1, 1], [3, 28, 28, 1]
"""

from tfganaug.gans.acgan import ACGAN
from tfganaug.gans.conditional import ConditionalGAN
from tfganaug.gans.cyclegan import CycleGAN
from tfganaug.gans.dagan import DAGAN
from tfganaug.gans.gan import GAN
from tfganaug.gans.sgan import SGAN

GAN_MODELS = {"gan": GAN, "cgan": ConditionalGAN, "acgan": ACGAN, "sgan": SGAN, "dagan": DAGAN}

__all__ = ["GAN", "ConditionalGAN", "ACGAN", "SGAN", "DAGAN", "CycleGAN", "GAN_MODELS"]
