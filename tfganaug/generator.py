"""`load_generator`: a trained generator, from a run folder or an exported SavedModel, to call for images
(part of the Python API, `tfganaug.api`)."""

from pathlib import Path

from tfganaug.console import import_tensorflow_quietly
from tfganaug.errors import UserError


class Generator:
    """A trained generator to call for images: a run's GAN, or an exported SavedModel.

    Call it with `labels` (class indices or names; conditional GANs) or `count` (unconditional
    GANs) to get uint8 images [N, H, W, C].

    Attributes:
        model: the Keras GAN (a run's; its `generator` is a plain Keras model) or the
            `tfganaug.serving.export.ExportedGenerator` (an export's).
        class_names: the classes, in label order.
        conditional: whether it takes labels.
        image_shape: (H, W, C) of its images.
    """

    def __init__(self, model, class_names, image_shape, source):
        self.model, self.class_names, self.source = model, list(class_names), str(source)
        self.image_shape, self.conditional = tuple(image_shape), bool(model.conditional)

    def __call__(self, labels=None, count=None, seed=None, truncation=None):
        """uint8 images [N, H, W, C]: one per label (conditional), or `count` (unconditional).

        Args:
            labels: class indices or class names, one per image (conditional GANs).
            count: how many images (unconditional GANs).
            seed: noise seed: the same seed gives the same images; None (the default) draws fresh
                noise on every call, so repeated calls give new images.
            truncation: redraw noise values beyond this magnitude (None: plain normal noise).
        """
        import numpy as np

        from tfganaug.data.pixels import to_uint8

        if self.conditional:
            if labels is None:
                raise UserError(f"{self.source} is conditional: give labels=[...] (class indices or names of "
                                f"{self.class_names})")
            labels = [labels] if isinstance(labels, (str, int, np.integer)) else list(labels)
            labels = np.array([self._index(label) for label in labels], np.int32)
            return to_uint8(self.model.generate(labels=labels, seed=seed, truncation=truncation))
        if labels is not None or not count:
            raise UserError(f"{self.source} is unconditional (its images have no class): give count=N")
        return to_uint8(self.model.generate(n=int(count), seed=seed, truncation=truncation))

    def _index(self, label):
        if isinstance(label, str):
            if label not in self.class_names:
                raise UserError(f"{self.source}: no class '{label}'; classes: {', '.join(self.class_names)}")
            return self.class_names.index(label)
        if not 0 <= int(label) < len(self.class_names):
            raise UserError(f"{self.source}: label {label} is not a class index (0 to {len(self.class_names) - 1})")
        return int(label)

    def __repr__(self):
        kind = "conditional" if self.conditional else "unconditional"
        return f"Generator({self.source}: {kind}, {self.image_shape} images, classes {self.class_names})"


def load_generator(path, gan=None):
    """The generator of a run folder's trained GAN, or of an exported SavedModel.

    Args:
        path: a run folder of `tfganaug train`; an export's version folder
            (exported_models/<name>/1); or its name folder (the highest version is taken).
        gan: which GAN of a run that trained several: its folder name under gans/ or its model
            ("acgan"), as `tfganaug generate --gan`.

    Returns:
        `Generator`: call it with labels (or count) for uint8 images.
    """
    import_tensorflow_quietly()
    path = Path(path)
    versions = sorted((p for p in path.glob("*") if p.name.isdigit() and (p / "saved_model.pb").exists()),
                      key=lambda p: int(p.name)) if path.is_dir() else []
    if (path / "saved_model.pb").exists() or versions:
        from tfganaug.serving.export import ExportedGenerator

        exported = ExportedGenerator(path if (path / "saved_model.pb").exists() else versions[-1])
        return Generator(exported, exported.info["class_names"], exported.info["image_shape"], exported.path)
    from tfganaug.experiment import build_from_spec
    from tfganaug.training.gan_folder import choose_gan, load_trained_gan

    if not path.is_dir():
        raise UserError(f"{path} is not a folder; give a run folder of `tfganaug train` or an exported generator")
    folder = choose_gan(path, gan)
    model, spec = load_trained_gan(folder, build_from_spec)
    return Generator(model, spec["class_names"], spec["image_shape"], folder)
