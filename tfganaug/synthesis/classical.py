"""Classical augmentation from Keras 3 core layers (the keras-cv layers now live there)."""

import keras


def build_classical_augmentation(image_shape, *, flip=None, crop_padding=0, translate=0.0, rotation=0.0,
                                 zoom=0.0, rand_augment=None, random_erasing=None, seed=None):
    """A `keras.Sequential` of random augmentation layers for images in 0-255.

    Args:
        image_shape: (H, W, C) of the images.
        flip: None, "horizontal", "vertical" or "horizontal_and_vertical".
        crop_padding: pad by this many pixels, then crop back at a random place (CIFAR-style crops).
        translate: random shift, as a fraction of height and width.
        rotation: random rotation, as a fraction of a full turn.
        zoom: random zoom, as a fraction.
        rand_augment: None or {"num_ops": int, "factor": float} for `keras.layers.RandAugment`.
        random_erasing: None or {"factor": float, "scale": [min, max]} for `keras.layers.RandomErasing`.
        seed: seed of every layer's random draws.
    """
    height, width = image_shape[:2]
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip(flip, seed=seed))
    if crop_padding:
        layers += [keras.layers.ZeroPadding2D(crop_padding), keras.layers.RandomCrop(height, width, seed=seed)]
    if translate:
        layers.append(keras.layers.RandomTranslation(translate, translate, fill_mode="constant", seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="constant", seed=seed))
    if rand_augment:
        layers.append(keras.layers.RandAugment(value_range=(0, 255), seed=seed, **rand_augment))
    if random_erasing:
        layers.append(keras.layers.RandomErasing(value_range=(0, 255), seed=seed, **random_erasing))
    if not layers:
        raise ValueError("classical augmentation needs at least one of flip, crop_padding, translate, rotation, zoom, rand_augment, random_erasing")
    return keras.Sequential(layers, name="classical_augmentation")
