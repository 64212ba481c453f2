"""Keeping a GAN's best checkpoint by a quality measure on held-out data, not its last epoch
(Ravuri & Vinyals 2019: pick by classification quality; GAN-test rewards collapse, so it is
logged but never a selection measure)."""

from pathlib import Path

import keras
import tensorflow as tf

from tfganaug.files import atomic_path
from tfganaug.training.gan_folder import BEST_FILE, read_quality, write_quality

HIGHER_IS_BETTER = {"kid": False, "recall": True, "gan_train": True}


class BestCheckpoint(keras.callbacks.Callback):
    """Every `every` epochs (and after the last), measures the GAN, logs the measures and keeps the
    weights of the best value of `metric` so far.

    Writes `quality.csv` (epoch and every measure, one row per evaluation), TensorBoard scalars
    `quality/<measure>`, and `best.weights.h5`. A resumed run reads the rows back (those of
    epochs after the backup are dropped by the caller), so the best is that of the whole run.

    Args:
        folder: the GAN's folder.
        measure: `measure(model)` -> {measure: value}, including `metric`.
        metric: "kid" (lower is better), "recall" or "gan_train" (higher is better).
        every: epochs between evaluations.
        epochs: total epochs of the run.
        tensorboard_dir: where the scalars go (None: none).
    """

    def __init__(self, folder, measure, metric, every, epochs, tensorboard_dir=None):
        super().__init__()
        if metric not in HIGHER_IS_BETTER:
            raise ValueError(f"select.metric must be one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
        self.folder, self.measure, self.metric, self.every, self.epochs = Path(folder), measure, metric, every, epochs
        self.writer = tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None
        self.rows = read_quality(self.folder)
        self.best = self._best_value()

    def _best_value(self):
        values = [float(row[self.metric]) for row in self.rows]
        if not values:
            return None
        return max(values) if HIGHER_IS_BETTER[self.metric] else min(values)

    def _better(self, value):
        if self.best is None:
            return True
        return value > self.best if HIGHER_IS_BETTER[self.metric] else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        quality = {name: float(value) for name, value in self.measure(self.model).items()
                   if isinstance(value, (int, float))}
        if self._better(quality[self.metric]):
            with atomic_path(self.folder / BEST_FILE, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
            self.best = quality[self.metric]
        self.rows.append({"epoch": done, **quality})
        write_quality(self.folder, self.rows)
        if self.writer is not None:
            with self.writer.as_default():
                for name, value in quality.items():
                    tf.summary.scalar(f"quality/{name}", value, step=done)
            self.writer.flush()
