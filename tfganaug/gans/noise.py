"""The generators' noise, drawn in NumPy from a seed: the same seed gives the same images everywhere."""

import numpy as np


def draw_noise(n, latent_dim, seed=None, truncation=None):
    """Standard normal noise [n, latent_dim] (float32) from `seed`.

    With `truncation`, values beyond that many standard deviations are drawn again until none
    is left (a truncated normal: fewer, more typical images, as BigGAN's truncation trick).
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, latent_dim)).astype(np.float32)
    if truncation is not None:
        outside = np.abs(noise) > truncation
        while outside.any():
            noise[outside] = rng.standard_normal(int(outside.sum())).astype(np.float32)
            outside = np.abs(noise) > truncation
    return noise
