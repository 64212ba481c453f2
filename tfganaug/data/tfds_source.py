"""Any TensorFlow Datasets image data set, streamed into memory per class.

`celeb_a` (or any data set with boolean attributes) can be turned into 2^n
classes from n chosen attributes, as in the CelebA study: with attributes
[Male, Eyeglasses, Black_Hair] the class "101" is a man without glasses with
black hair. `attribute_negatives` makes a 0 bit demand another attribute
(Black_Hair: Blond_Hair keeps only black- or blond-haired people, with 0 = blond).
"""

import contextlib
import difflib
import logging

import numpy as np

from tfganaug.data.imageset import ImageSet, SourceData
from tfganaug.errors import DataError

PREPARE_HINT = (
    "prepare it on a machine with network access (`tfds build {name} --data_dir DIR`) and copy DIR here, "
    "then set data.data_dir to it"
)


@contextlib.contextmanager
def _quiet_lookup():
    """tfds's absl warnings hidden while it looks for a data set: on a machine where nothing is prepared
    it warns "Variant folder ~/tensorflow_datasets/<name>/<version> has no dataset_info.json" about
    folders that do not exist. Errors still show; whatever is missing is said by our own errors."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def unknown_name_error(name):
    """The `DataError` for a name tfds does not know: the closest names it does know, in a few lines
    (tfds's own message lists its whole catalogue, some 450 lines)."""
    import tensorflow_datasets as tfds

    base = name.split("/")[0].split(":")[0]  # tfds names may carry a config and a version: celeb_a/x:2.1.0
    close = difflib.get_close_matches(base, tfds.list_builders(with_community_datasets=False), n=3)
    hint = f"did you mean {' or '.join(f'tfds:{c}' for c in close)}?" if close else "check its spelling"
    return DataError(f"data source 'tfds:{name}': TensorFlow Datasets has no data set '{base}'; {hint} "
                     "(every name: https://www.tensorflow.org/datasets/catalog/overview)")


def tfds_builder(name, data_dir=None):
    """tfds's builder of `name` without its lookup warnings; an unknown name is a short `DataError`."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.registered import DatasetNotFoundError

    try:
        with _quiet_lookup():
            return tfds.builder(name, data_dir=data_dir)
    except DatasetNotFoundError:
        raise unknown_name_error(name) from None
    except Exception as exc:  # a broken builder
        raise DataError(f"data source 'tfds:{name}' cannot be loaded: {exc}; check the config and version after "
                        "the name (tfds:<name>/<config>:<version>, as the catalogue lists them: "
                        "https://www.tensorflow.org/datasets/catalog/overview)") from exc


def is_prepared(builder):
    """Whether the builder's data is prepared in its data folder (its look-up warnings hidden)."""
    with _quiet_lookup():
        return builder.is_prepared()


def pending_download(name, data_dir=None):
    """What loading `name` with download on would fetch first ("tfds:mnist (11.1 MiB)"), or None when it
    is prepared already."""
    builder = tfds_builder(name, data_dir)
    if is_prepared(builder):
        return None
    size = builder.info.download_size  # 0 when tfds cannot tell without the network
    return f"tfds:{name} ({size})" if int(size) else f"tfds:{name} (size unknown until fetched)"


def _load_split(name, split, data_dir, download):
    import tensorflow_datasets as tfds

    builder = tfds_builder(name, data_dir)
    if not download and not is_prepared(builder):
        raise DataError(f"data source 'tfds:{name}' is not prepared in {builder.data_dir} and is not downloaded "
                        f"(data.download: false, the default). Set data.download: true where the network "
                        f"exists, or {PREPARE_HINT.format(name=name)}")
    try:
        with _quiet_lookup():
            return tfds.load(name, split=split, data_dir=data_dir, download=download, with_info=True)
    except Exception as exc:  # tfds raises many types (network, bad split): all are user-fixable
        raise DataError(f"data source 'tfds:{name}' split '{split}' cannot be loaded: {exc}. To use it offline, {PREPARE_HINT.format(name=name)}") from exc


def _attribute_label(attrs, attributes, negatives):
    """Class index from boolean attributes (first attribute = most significant bit), or None to skip."""
    label = 0
    for attr in attributes:
        bit = bool(attrs[attr])
        if not bit and attr in negatives and not bool(attrs[negatives[attr]]):
            return None
        if bit and attr in negatives and bool(attrs[negatives[attr]]):
            return None  # both (e.g. black and blond hair): ambiguous, skipped
        label = label * 2 + int(bit)
    return label


def _resize_fn(image_size):
    import tensorflow as tf

    def resize(image):
        # Centre-crop to the target aspect ratio, then resize: no distortion of faces or leaves.
        h, w = tf.shape(image)[0], tf.shape(image)[1]
        target = image_size[0] / image_size[1]
        crop_h = tf.minimum(h, tf.cast(tf.cast(w, tf.float32) * target, tf.int32))
        crop_w = tf.minimum(w, tf.cast(tf.cast(h, tf.float32) / target, tf.int32))
        image = tf.image.crop_to_bounding_box(image, (h - crop_h) // 2, (w - crop_w) // 2, crop_h, crop_w)
        image = tf.image.resize(image, image_size, antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    return resize


def _collect(ds, name, image_key, label_fn, num_classes, image_size, max_per_class, seed=0):
    """(images, labels) of every example, or of a uniform random sample of `max_per_class` per class.

    The sample is drawn while streaming (reservoir sampling, seeded by `seed`), so
    only the kept images are held in memory but the whole split is read: the
    first images of a class in file order are no likelier than its last ones.
    Kept examples stay in file order.
    """
    import tensorflow as tf

    if image_size is not None:
        resize = _resize_fn(tuple(image_size))
        ds = ds.map(lambda ex: {**ex, image_key: resize(ex[image_key])}, num_parallel_calls=tf.data.AUTOTUNE)
    rng = np.random.default_rng(seed)
    kept = [[] for _ in range(num_classes)]  # per class: [position in the stream, image]
    seen = np.zeros(num_classes, dtype=np.int64)
    first_shape = None
    for position, example in enumerate(ds.as_numpy_iterator()):
        label = label_fn(example)
        if label is None:
            continue
        image = example[image_key]
        if first_shape is None:
            first_shape = image.shape
        elif image.shape != first_shape:
            raise DataError(f"images of tfds:{name} differ in size ({first_shape} and {image.shape}); set data.image_size, e.g. [64, 64]")
        seen[label] += 1
        if max_per_class is None or len(kept[label]) < max_per_class:
            kept[label].append((position, image))
        else:
            slot = rng.integers(seen[label])  # keeps each of the seen images with probability max / seen
            if slot < max_per_class:
                kept[label][slot] = (position, image)
    chosen = sorted((position, image, label) for label, rows in enumerate(kept) for position, image in rows)
    if not chosen:
        raise DataError(f"tfds:{name} gave no usable examples (check data.attributes / data.label_key)")
    stacked = np.stack([image for _, image, _ in chosen])
    if stacked.ndim == 3:
        stacked = stacked[..., None]
    return stacked, np.asarray([label for _, _, label in chosen], dtype=np.int64)


def load_tfds(name, *, image_key="image", label_key="label", attributes=None, attribute_negatives=None,
              train_split="train", test_split="test", data_dir=None, image_size=None, download=True,
              max_per_class=None, max_test_per_class=None, seed=0):
    """Load a TFDS image data set as a `SourceData`.

    Args:
        name: TFDS name, e.g. "cassava", "cifar10", "celeb_a".
        image_key: feature holding the image.
        label_key: feature holding a `ClassLabel` (ignored when `attributes` is given).
        attributes: boolean attributes (under the "attributes" feature) that make 2^n classes.
        attribute_negatives: {attribute: other} so that a 0 bit requires `other` to be true.
        train_split, test_split: TFDS split names for the pool and the held-out test set.
        data_dir: TFDS data folder; None for the TFDS default.
        image_size: [H, W] to centre-crop and resize to; needed when image sizes vary.
        download: let TFDS download and prepare the data when it is missing.
        max_per_class / max_test_per_class: keep a uniform random sample of this many per class
            (the whole split is read; None keeps every image).
        seed: the seed of that sample (the experiment's `data.seed`).
    """
    negatives = dict(attribute_negatives or {})
    ds, info = _load_split(name, train_split, data_dir, download)
    features = info.features
    if attributes:
        available = set(features["attributes"].keys()) if "attributes" in features else set()
        missing = [a for a in list(attributes) + list(negatives.values()) if a not in available]
        if missing:
            raise DataError(f"tfds:{name} has no attribute(s) {missing}; available: {sorted(available)}")
        n = len(attributes)
        class_names = tuple(format(k, f"0{n}b") for k in range(2 ** n))
        label_fn = lambda ex: _attribute_label(ex["attributes"], attributes, negatives)  # noqa: E731
    else:
        if label_key not in features or not hasattr(features[label_key], "names"):
            raise DataError(f"tfds:{name} has no class-label feature '{label_key}'; set data.label_key (features: {list(features.keys())})")
        class_names = tuple(features[label_key].names)
        label_fn = lambda ex: int(ex[label_key])  # noqa: E731
    if image_key not in features:
        raise DataError(f"tfds:{name} has no image feature '{image_key}'; set data.image_key (features: {list(features.keys())})")
    k = len(class_names)
    pool = _collect(ds, name, image_key, label_fn, k, image_size, max_per_class, seed)
    test_ds, _ = _load_split(name, test_split, data_dir, download)
    test = _collect(test_ds, name, image_key, label_fn, k, image_size, max_test_per_class, seed + 1)
    return SourceData(pool=ImageSet(*pool, class_names), test=ImageSet(*test, class_names))
