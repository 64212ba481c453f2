"""Classical augmentation from Keras 3 core layers (the keras-cv layers now live there)."""

import keras

from tfganaug.synthesis.augmix import PerBatchAugMix


def build_classical_augmentation(image_shape, *, flip=None, crop_padding=0, translate=0.0, rotation=0.0,
                                 zoom=0.0, rand_augment=None, random_erasing=None, augmix=None, seed=None):
    """A `keras.Sequential` of random augmentation layers for images in 0-255, or None when none is asked
    (a group may mix labels only: `build_label_mixing`).

    Args:
        image_shape: (H, W, C) of the images.
        flip: None, "horizontal", "vertical" or "horizontal_and_vertical".
        crop_padding: pad by this many pixels, then crop back at a random place (CIFAR-style crops).
        translate: random shift, as a fraction of height and width.
        rotation: random rotation, as a fraction of a full turn.
        zoom: random zoom, as a fraction.
        rand_augment: None or {"num_ops": int, "factor": float} for `keras.layers.RandAugment`.
        random_erasing: None or {"factor": float, "scale": [min, max]} for `keras.layers.RandomErasing`.
        augmix: None or {"num_chains", "chain_depth", "factor", "alpha"} for `keras.layers.AugMix`, with the
            paper's default operations (`all_ops=False`: no brightness, contrast, colour or sharpness, which
            overlap the corruptions the paper tests on), its operations drawn per batch (`PerBatchAugMix`).
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
    if augmix:
        layers.append(PerBatchAugMix(value_range=(0, 255), all_ops=False, seed=seed, **augmix))
    return keras.Sequential(layers, name="classical_augmentation") if layers else None


def build_label_mixing(mixup=None, cutmix=None, seed=None):
    """`keras.layers.MixUp` or `keras.layers.CutMix` (at most one is given), or None: a layer that mixes
    images and their target rows within a batch (applied with `tfganaug.data.pipeline.mixed_batch`).

    Args:
        mixup: None or {"alpha": float}: lambda ~ Beta(alpha, alpha) per image.
        cutmix: None or {"alpha": float} (0 < alpha <= 1): the kept share ~ Beta(alpha, alpha) per image
            (Keras's `factor` is the range alpha is drawn from; a range of one value fixes it).
        seed: seed of the layer's random draws.
    """
    # float32 whatever the precision policy: in bfloat16, target rows and shares would keep 3 digits.
    if mixup:
        return keras.layers.MixUp(alpha=mixup["alpha"], seed=seed, dtype="float32")
    if cutmix:
        return keras.layers.CutMix(factor=(cutmix["alpha"], cutmix["alpha"]), seed=seed, dtype="float32")
    return None
