"""`ImageSet`: images and integer labels held in memory, with their class names."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageSet:
    """A labelled set of images.

    Args:
        images: uint8 array [N, H, W, C].
        labels: int64 array [N], values in [0, len(class_names)).
        class_names: one name per class, in label order.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"images must be [N, H, W, C], got shape {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self):
        return len(self.labels)

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(self.images.shape[1:])

    def counts(self):
        """Number of images of each class, as an int array of length `num_classes`."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def take(self, indices):
        """The images at `indices`, as a new ImageSet."""
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet(self.images[indices], self.labels[indices], self.class_names)

    def concat(self, *others):
        """This set followed by `others` (same classes and image shape)."""
        for other in others:
            if other.class_names != self.class_names or other.image_shape != self.image_shape:
                raise ValueError("can only concatenate sets with the same classes and image shape")
        sets = (self,) + others
        return ImageSet(
            np.concatenate([s.images for s in sets]),
            np.concatenate([s.labels for s in sets]),
            self.class_names,
        )


@dataclass(frozen=True)
class SourceData:
    """What a data source gives: a pool to draw training/validation data from, and a test set."""

    pool: ImageSet
    test: ImageSet


def stratified_split(images, labels, class_names, test_fraction, seed):
    """Split one labelled array into a pool and a test set, the same fraction from every class.

    Used for sources that ship a single split (Animal-MNIST, image folders). The
    split depends only on `seed`, so every experiment sees the same test set.
    """
    rng = np.random.default_rng(seed)
    test_idx = []
    for k in range(len(class_names)):
        idx = np.flatnonzero(labels == k)
        rng.shuffle(idx)
        test_idx.append(idx[: int(round(len(idx) * test_fraction))])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[np.concatenate(test_idx)] = True
    full = ImageSet(images, labels.astype(np.int64), tuple(class_names))
    return SourceData(pool=full.take(np.flatnonzero(~test_mask)), test=full.take(np.flatnonzero(test_mask)))
