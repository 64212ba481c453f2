"""Images in folders, one sub-folder per class, read with `keras.utils.image_dataset_from_directory`.

Layouts: `path/<class>/*.png` or `path/train/<class>/*.png` (split into pool and test with a
fixed seed), or `path/train/<class>/...` plus `path/test/<class>/...` (used as given).
"""

from pathlib import Path

import numpy as np

from tfganaug.data.imageset import ImageSet, SourceData, stratified_split
from tfganaug.errors import DataError


# What `keras.utils.image_dataset_from_directory` reads; other files are skipped.
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def _images_in(folder):
    return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def _check_classes(directory):
    """Refuse, before Keras reads anything, a folder that is not one sub-folder of images per class
    (at least two), with a message for each way it can go wrong."""
    classes = sorted(p for p in directory.iterdir() if p.is_dir())
    layout = f"expected {directory}/<class>/<image>.png with one sub-folder per class"
    if not classes:
        loose = "images but" if _images_in(directory) else ""
        raise DataError(f"image folder {directory} has {loose} no class sub-folders; {layout}".replace("  ", " "))
    if len(classes) == 1:
        raise DataError(f"image folder {directory} has one class sub-folder ('{classes[0].name}'); a classifier "
                        f"needs at least two: {layout}")
    for folder in classes:
        nested = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if nested:
            raise DataError(f"class folder {folder} has sub-folders ({', '.join(nested)}), which Keras would merge "
                            "into this class; move their images up, or make them classes of their own")
        if not _images_in(folder):
            raise DataError(f"class folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)}); "
                            "add images or remove the folder")


def describe_layout(path):
    """How `load_folder` reads `path`, when it holds out the test split from `train/` (else None)."""
    root = Path(path)
    if (root / "train").is_dir() and not (root / "test").is_dir():
        return f"test: no {root}/test/ folder, so data.test_fraction of each class of train/ is held out"
    return None


def _read(directory, image_size, channels, class_names=None):
    import keras
    import tensorflow as tf

    _check_classes(directory)

    try:
        ds = keras.utils.image_dataset_from_directory(
            directory, labels="inferred", label_mode="int", class_names=class_names,
            color_mode="grayscale" if channels == 1 else "rgb", batch_size=None,
            image_size=tuple(image_size), shuffle=False, crop_to_aspect_ratio=True, verbose=False,
        )
    except ValueError as exc:
        raise DataError(f"image folder {directory}: {exc}") from exc
    paths, names = ds.file_paths, tuple(ds.class_names)
    images, labels = [], []
    iterator = iter(ds.as_numpy_iterator())
    for path in paths:
        try:
            image, label = next(iterator)
        except tf.errors.InvalidArgumentError as exc:
            # Files are read in `paths` order (shuffle=False), so the failing one is known.
            raise DataError(f"cannot decode image {path}: it is corrupt or not an image; remove or replace it") from exc
        images.append(np.clip(np.round(image), 0, 255).astype(np.uint8))
        labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64), names


def load_folder(path, image_size, channels=3, test_fraction=0.2, split_seed=0):
    """Load class sub-folders under `path` as a `SourceData`.

    Args:
        path: root folder (see module docstring for layouts).
        image_size: [H, W]; images are centre-cropped to this aspect ratio and resized.
        channels: 1 (grey) or 3 (RGB).
        test_fraction, split_seed: the stratified test split when there is no `test/` folder.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist (data.path)")
    if (root / "train").is_dir() and (root / "test").is_dir():
        images, labels, names = _read(root / "train", image_size, channels)
        test_images, test_labels, _ = _read(root / "test", image_size, channels, class_names=list(names))
        return SourceData(ImageSet(images, labels, names), ImageSet(test_images, test_labels, names))
    images, labels, names = _read(root / "train" if (root / "train").is_dir() else root, image_size, channels)
    return stratified_split(images, labels, names, test_fraction, split_seed)
