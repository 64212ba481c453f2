"""Keeping a GAN's best checkpoint by a quality measure on held-out data, not its last epoch
(Ravuri & Vinyals 2019: pick by classification quality; GAN-test rewards collapse, so it is
logged but never a selection measure)."""

import math
import os
import shutil
from pathlib import Path

import h5py
import keras
import tensorflow as tf

from tfganaug.files import atomic_path
from tfganaug.training.callbacks import held_signals
from tfganaug.training.gan_folder import BEST_FILE, read_quality, write_quality

HIGHER_IS_BETTER = {"kid": False, "recall": True, "gan_train": True}
# The best weights before the latest best, kept while training runs: a resumed run whose latest best
# belongs to an epoch it trains again (its quality row dropped) goes back to them.
PREVIOUS_BEST_FILE = "best.previous.weights.h5"
EPOCH_ATTRIBUTE = "tfganaug_epoch"  # the epoch whose weights a best file holds, in the HDF5 file itself


def weights_epoch(path):
    """The epoch whose weights the best file at `path` holds (None: no file, or written before this was stored)."""
    if not Path(path).exists():
        return None
    with h5py.File(path, "r") as f:
        epoch = f.attrs.get(EPOCH_ATTRIBUTE)
    return None if epoch is None else int(epoch)


class BestCheckpoint(keras.callbacks.Callback):
    """Every `every` epochs (and after the last), measures the GAN, logs the measures and keeps the
    weights of the best value of `metric` so far.

    Writes `quality.csv` (epoch and every measure, one row per evaluation), TensorBoard scalars
    `quality/<measure>`, and `best.weights.h5`. A resumed run reads the rows back (those of
    epochs after the backup are dropped by the caller), so the best is that of the whole run; a best
    file of a dropped epoch is replaced by the best before it, so the file is always the best row's
    (`best.previous.weights.h5`, deleted when training ends). A NaN score is logged, never the best.

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
        self.best = self._agree_with_rows()

    def _best_row(self):
        """The row whose weights the best file should hold: the first with the best finite score."""
        best = None
        for row in self.rows:
            if self._better(float(row[self.metric]), None if best is None else float(best[self.metric])):
                best = row
        return best

    def _agree_with_rows(self):
        """Make `best.weights.h5` the best kept row's, falling back to the previous best file, or
        deleting it when neither is; returns the best score whose weights are on disk (None: none)."""
        row, best = self._best_row(), self.folder / BEST_FILE
        wanted = None if row is None else int(row["epoch"])
        for path in (best, self.folder / PREVIOUS_BEST_FILE):
            epoch = weights_epoch(path)
            if epoch is not None and epoch == wanted:
                if path != best:
                    os.replace(path, best)
                return float(row[self.metric])
            if epoch is not None and path == best:
                best.unlink()  # of an epoch trained again, whose row was dropped
        if best.exists():  # written before best files recorded their epoch: trusted as before
            return None if row is None else float(row[self.metric])
        return None

    def _better(self, value, than):
        if not math.isfinite(value):
            return False
        if than is None:
            return True
        return value > than if HIGHER_IS_BETTER[self.metric] else value < than

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        quality = {name: float(value) for name, value in self.measure(self.model).items()
                   if isinstance(value, (int, float))}
        if self._better(quality[self.metric], self.best):
            best = self.folder / BEST_FILE
            with held_signals():
                if best.exists():
                    with atomic_path(self.folder / PREVIOUS_BEST_FILE, suffix=".weights.h5") as tmp:
                        shutil.copyfile(best, tmp)
                with atomic_path(best, suffix=".weights.h5") as tmp:
                    self.model.save_weights(tmp)
                    with h5py.File(tmp, "a") as f:
                        f.attrs[EPOCH_ATTRIBUTE] = done
            self.best = quality[self.metric]
        self.rows.append({"epoch": done, **quality})
        write_quality(self.folder, self.rows)
        if self.writer is not None:
            with self.writer.as_default():
                for name, value in quality.items():
                    tf.summary.scalar(f"quality/{name}", value, step=done)
            self.writer.flush()

    def on_train_end(self, logs=None):
        (self.folder / PREVIOUS_BEST_FILE).unlink(missing_ok=True)
