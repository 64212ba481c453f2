"""Network builders: classifiers, GAN pairs and CycleGAN networks. Every size is an argument or
derived from the image shape."""

from tfganaug.networks.gan_networks import (
                                            build_dcgan_discriminator,
                                            build_dcgan_generator,
                                            build_mlp_discriminator,
                                            build_mlp_generator,
)
from tfganaug.networks.residual_gan import build_residual_discriminator, build_residual_generator

# `gan.network` in the YAML -> (generator builder, discriminator builder)
GAN_NETWORKS = {
    "mlp": (build_mlp_generator, build_mlp_discriminator),
    "dcgan": (build_dcgan_generator, build_dcgan_discriminator),
    "resnet": (build_residual_generator, build_residual_discriminator),
}
