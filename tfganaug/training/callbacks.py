"""Keras callbacks shared by GAN and classifier training."""

import keras
import numpy as np

from tfganaug.errors import TrainingDiverged


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with `TrainingDiverged` when an epoch's logged loss is NaN or infinite.

    For GANs it must come before `BackupAndRestore` in the callback list: it raises
    at the end of the bad epoch before the backup is written, so the backup keeps
    the last good epoch. (An epoch's logged value is a mean over its batches, so
    one bad batch is enough to show.)

    Args:
        advice: what was kept and what to change, appended to the message;
            `{last_good}` in it is replaced by the last good epoch's number.
    """

    def __init__(self, advice):
        super().__init__()
        self.advice = advice

    def on_epoch_end(self, epoch, logs=None):
        bad = {k: float(v) for k, v in (logs or {}).items() if not np.isfinite(float(v))}
        if bad:
            raise TrainingDiverged(
                f"{type(self.model).__name__} diverged in epoch {epoch + 1}: "
                + ", ".join(f"{k} = {v}" for k, v in bad.items()) + ". " + self.advice.format(last_good=epoch))
