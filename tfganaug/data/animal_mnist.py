"""Animal-MNIST, read from the data files shipped in the PyPI package `animal-mnist`.

The package's own loader also downloads MNIST, so it is not used: this module
reads the two gzipped pickles (10,000 images of 28x28, 10 classes of 1,000)
directly and makes a fixed, seeded, stratified train/test split.

The files hold 284 exact duplicate images (188 of them birds). They are
dropped before splitting, keeping the first copy, so that no test image is also
a training image: 9,716 distinct images remain.
"""

import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np

from tfganaug.data.imageset import stratified_split
from tfganaug.errors import DataError

CLASS_NAMES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
_FILES = ("animal_data_version_3.gz", "animal_label_version_3.gz")
INSTALL_HINT = "pip install animal-mnist==0.4"


def data_dir():
    """Folder holding the package's data files, or None when the package is not installed."""
    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / "Animal_MNIST"
    return folder if all((folder / f).exists() for f in _FILES) else None


def load_animal_mnist(test_fraction=0.2, split_seed=0):
    """Load Animal-MNIST as a `SourceData` with a stratified test split.

    Args:
        test_fraction: share of each class held out as the test set.
        split_seed: seed of that split; fixed so all experiments share one test set.
    """
    folder = data_dir()
    if folder is None:
        raise DataError(f"data source 'animal_mnist': the package is not installed; run `{INSTALL_HINT}`")
    images_path, labels_path = (folder / f for f in _FILES)
    try:
        # The package ships pickled numpy arrays; pickle is acceptable for a file
        # inside an installed package, never for user-supplied paths.
        with gzip.open(images_path, "rb") as f:
            images = np.asarray(pickle.load(f), dtype=np.uint8)
        with gzip.open(labels_path, "rb") as f:
            labels = np.asarray(pickle.load(f), dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"data source 'animal_mnist': cannot read {images_path}: {exc}; reinstall with `{INSTALL_HINT}`") from exc
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)
    keep = np.sort(first)
    return stratified_split(images[keep, ..., None], labels[keep], CLASS_NAMES, test_fraction, split_seed)
