"""`tfganaug inspect-features`: PNG grids of a generator's intermediate feature maps (the Cassava
study shows a middle layer and the last layers of its CycleGAN generator). An MLP generator has
no convolutions: its dense layers are shown instead, each activation vector folded into a grid."""

from pathlib import Path

import keras
import numpy as np

from tfganaug.reporting.plots import save_feature_maps

CHANNELS_SHOWN = 8


def conv_layers(generator):
    """The generator's convolution layers (plain and transposed), in order."""
    return [layer for layer in generator.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]


def feature_layers(generator):
    """The layers whose outputs are shown: the convolutions, or the dense layers of an MLP generator."""
    return conv_layers(generator) or [layer for layer in generator.layers if isinstance(layer, keras.layers.Dense)]


def as_grid(activation):
    """Dense activations [N, units] as one-channel maps [N, h, units // h, 1] (h: the divisor of `units`
    closest to its square root); feature maps [N, H, W, C] as they are."""
    activation = np.asarray(activation)
    if activation.ndim == 4:
        return activation
    units = activation.shape[-1]
    h = max(d for d in range(1, int(units ** 0.5) + 1) if units % d == 0)
    return activation.reshape(len(activation), h, units // h, 1)


def chosen_layers(generator, which=("middle", "last")):
    """Names of the layers to show (see `feature_layers`): "middle", "last" (the last two before the
    output) or layer names."""
    convs = [layer.name for layer in feature_layers(generator)]
    names = []
    for entry in which:
        if entry == "middle":
            names.append(convs[len(convs) // 2])
        elif entry == "last":
            names += convs[-3:-1] if len(convs) > 2 else convs[-1:]
        elif entry in convs:
            names.append(entry)
        else:
            raise ValueError(f"unknown layer {entry!r}; use middle, last or one of {convs}")
    return list(dict.fromkeys(names))


def write_feature_maps(generator, inputs, out, which=("middle", "last")):
    """One PNG per chosen layer in `out`: per input image (row), its first channels' activations.

    Args:
        generator: a Keras functional generator.
        inputs: what the generator takes (images in [-1, 1], or [noise, labels]).
        out: folder to write into.
        which: layers, see `chosen_layers`.

    Returns:
        The written paths.
    """
    names = chosen_layers(generator, which)
    probe = keras.Model(generator.input, [generator.get_layer(n).output for n in names])
    maps = probe(inputs, training=False)
    maps = maps if isinstance(maps, (list, tuple)) else [maps]
    paths = []
    for name, activation in zip(names, maps):
        activation = as_grid(activation)[..., :CHANNELS_SHOWN]
        path = Path(out) / f"{generator.name}_{name}.png"
        save_feature_maps(activation, path, title=f"{generator.name} / {name}: first {activation.shape[-1]} channels")
        paths.append(path)
    return paths
