"""Sample grids written while a GAN or CycleGAN trains: PNGs a user looks at, and TensorBoard images."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfganaug.data.pixels import to_unit
from tfganaug.reporting.plots import image_mosaic, save_sample_grid, save_translation_grid

GRID_COLUMNS = 8  # samples per class in a grid


class SampleGrids(keras.callbacks.Callback):
    """Every `every` epochs, a grid of the same noise per class, as PNG and as a TensorBoard image.

    Args:
        folder: where `epoch_0005.png` etc. go.
        class_names: one grid row per class (unconditional GANs: rows of unlabelled samples).
        every: epochs between grids; 0 for only the last epoch.
        epochs: total epochs of the run (the last always gets a grid).
        seed: the fixed noise seed.
        tensorboard_dir: also log the grid there (None: PNG only).
    """

    def __init__(self, folder, class_names, every, epochs, seed, tensorboard_dir=None):
        super().__init__()
        self.folder, self.class_names, self.every, self.epochs = Path(folder), list(class_names), every, epochs
        self.seed = seed
        self.writer = tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done == self.epochs or (self.every and done % self.every == 0):
            self.write(done)

    def write(self, epoch):
        rows = len(self.class_names) if self.model.conditional else GRID_COLUMNS
        if self.model.conditional:
            images = self.model.generate(labels=np.repeat(np.arange(rows), GRID_COLUMNS), seed=self.seed)
            names = self.class_names
        else:
            images = self.model.generate(n=rows * GRID_COLUMNS, seed=self.seed)
            names = [""] * rows
        save_sample_grid(images, names, self.folder / f"epoch_{epoch:04d}.png",
                         title=f"{type(self.model).__name__}, epoch {epoch} (same noise every grid)")
        if self.writer is not None:
            mosaic = image_mosaic(to_unit(images), rows)
            with self.writer.as_default():
                tf.summary.image("samples", mosaic[None], step=epoch)
            self.writer.flush()


class TranslationGrids(keras.callbacks.Callback):
    """Every `every` epochs, a PNG of fixed images of each domain: input | translated | cycled back.

    Args:
        folder: where `epoch_0005.png` etc. go.
        images_a, images_b: the fixed images of each domain, in [-1, 1].
        every: epochs between grids; 0 for only the last epoch.
        epochs: total epochs of the run (the last always gets a grid).
    """

    def __init__(self, folder, images_a, images_b, every, epochs):
        super().__init__()
        self.folder, self.images_a, self.images_b = Path(folder), images_a, images_b
        self.every, self.epochs = every, epochs

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done == self.epochs or (self.every and done % self.every == 0):
            rows = []
            for images, forward, back in ((self.images_a, "a_to_b", "b_to_a"), (self.images_b, "b_to_a", "a_to_b")):
                translated = self.model.translate(images, forward)
                rows.append((images, translated, self.model.translate(translated, back)))
            save_translation_grid(rows, ["A", "B"], self.folder / f"epoch_{done:04d}.png",
                                  title=f"CycleGAN, epoch {done}: input | translated | cycled back")
