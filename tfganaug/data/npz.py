"""Arrays in a NumPy `.npz` file.

Keys: `x_train`, `y_train` and optionally `x_test`, `y_test` (the layout of
`keras.datasets`), or `images`, `labels`; optionally `class_names`. Images are
uint8 [N, H, W] or [N, H, W, C] (floats in [0, 1] are scaled to 0-255).
"""

from pathlib import Path

import numpy as np

from tfganaug.data.imageset import ImageSet, SourceData, stratified_split
from tfganaug.errors import DataError


def _images(array, path, key):
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise DataError(f"{path}: '{key}' must be [N, H, W] or [N, H, W, 1|3], got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating) and array.size and 0.0 <= array.min() and array.max() <= 1.0:
        return np.round(array * 255).astype(np.uint8)
    values = f" from {array.min():g} to {array.max():g}" if array.size and np.issubdtype(array.dtype, np.number) else ""
    raise DataError(f"{path}: '{key}' must be uint8 (0-255) or float in [0, 1], got {array.dtype}{values}")


def _labels(array, path, key, n):
    if array.ndim != 1 or len(array) != n or not np.issubdtype(array.dtype, np.integer) or (n and array.min() < 0):
        raise DataError(f"{path}: '{key}' must be {n} non-negative integers, got {array.dtype} of shape {array.shape}")
    return array.astype(np.int64)


def load_npz(path, test_fraction=0.2, split_seed=0):
    """Load an `.npz` file as a `SourceData` (see module docstring for the keys)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read npz file {path} (data.path): {exc}") from exc
    train_keys = ("x_train", "y_train") if "x_train" in arrays else ("images", "labels")
    if not all(k in arrays for k in train_keys):
        raise DataError(f"{path} must hold 'x_train' and 'y_train' (optionally 'x_test', 'y_test') or 'images' and 'labels'; found {sorted(arrays)}")
    x = _images(arrays[train_keys[0]], path, train_keys[0])
    if not len(x):
        raise DataError(f"{path}: '{train_keys[0]}' holds no images")
    y = _labels(arrays[train_keys[1]], path, train_keys[1], len(x))
    has_test = "x_test" in arrays and "y_test" in arrays
    x_test = _images(arrays["x_test"], path, "x_test") if has_test else None
    y_test = _labels(arrays["y_test"], path, "y_test", len(x_test)) if has_test else None
    if has_test and x_test.shape[1:] != x.shape[1:]:
        raise DataError(f"{path}: 'x_test' images are {x_test.shape[1:]} but 'x_train' images are {x.shape[1:]}; "
                        "every split needs one image shape")
    num_classes = int(max(y.max(), y_test.max() if has_test else 0)) + 1
    names = tuple(str(n) for n in arrays["class_names"]) if "class_names" in arrays else tuple(str(k) for k in range(num_classes))
    if len(set(names)) < len(names):
        raise DataError(f"{path}: class_names holds a name twice: {sorted({n for n in names if names.count(n) > 1})}")
    if len(names) < num_classes:
        raise DataError(f"{path}: {len(names)} class_names but labels go up to {num_classes - 1}")
    if has_test:
        return SourceData(ImageSet(x, y, names), ImageSet(x_test, y_test, names))
    return stratified_split(x, y, names, test_fraction, split_seed)
