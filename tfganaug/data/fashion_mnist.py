"""Fashion-MNIST (60,000 train + 10,000 test, 28x28 grey, 10 classes) from idx files.

Looked for, in order: the Debian package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist), the Keras cache (~/.keras/datasets/fashion-mnist),
and, only with `data.download: true`, a download through `keras.datasets`.
"""

import gzip
import os
from pathlib import Path

import numpy as np

from tfganaug.data.imageset import ImageSet, SourceData
from tfganaug.errors import DataError

CLASS_NAMES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path(os.path.expanduser("~/.keras/datasets/fashion-mnist"))
INSTALL_HINT = "apt-get install dataset-fashion-mnist (Debian; puts the files in /usr/share/datasets/fashion-mnist)"
_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def find_dir(search_dirs=None):
    """The first folder in `search_dirs` (default: Debian's, then Keras's) holding all four idx files, else None."""
    for folder in map(Path, search_dirs or (DEBIAN_DIR, KERAS_CACHE_DIR)):
        if all((folder / name).exists() for name in _FILES.values()):
            return folder
    return None


def read_idx(path):
    """Read a (gzipped) idx file into a uint8 numpy array, checking its header."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DataError(f"cannot read idx file {path}: {exc}") from exc
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: header says {dims}, found {body.size} values")
    return body.reshape(dims)


def _download():
    # Last resort only: reached when neither the Debian package nor the Keras cache has the files and
    # `data.download` is true (it is false by default). The tests never get here.
    import keras

    try:
        return keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # any network failure: say what to install instead
        raise DataError(f"data source 'fashion_mnist': files not found and the download failed ({exc}); install them with `{INSTALL_HINT}`") from exc


def load_fashion_mnist(search_dirs=None, allow_download=False):
    """Load Fashion-MNIST as a `SourceData` (its own train split is the pool, its test split the test set).

    Args:
        search_dirs: folders to look for the four idx files in, in order (default: Debian's, then Keras's).
        allow_download: try `keras.datasets` when no folder has the files.
    """
    folder = find_dir(search_dirs)
    if folder is not None:
        arrays = {key: read_idx(folder / name) for key, name in _FILES.items()}
        (x_train, y_train), (x_test, y_test) = (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    elif allow_download:
        (x_train, y_train), (x_test, y_test) = _download()
    else:
        searched = ", ".join(str(d) for d in (search_dirs or (DEBIAN_DIR, KERAS_CACHE_DIR)))
        raise DataError(f"data source 'fashion_mnist': files not found in {searched}; install them with `{INSTALL_HINT}`, "
                        "or set data.download: true where the network exists")
    return SourceData(
        pool=ImageSet(x_train[..., None], y_train.astype(np.int64), CLASS_NAMES),
        test=ImageSet(x_test[..., None], y_test.astype(np.int64), CLASS_NAMES),
    )
