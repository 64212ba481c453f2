"""Keras callbacks shared by GAN and classifier training, and holding Ctrl-C while a checkpoint is written."""

import contextlib
import json
import os
import shutil
import signal
import threading
import time

import keras
import numpy as np

from tfganaug.errors import TrainingDiverged, UserError
from tfganaug.files import atomic_path, write_text

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held_signals():
    """Hold SIGINT and SIGTERM while the block runs, then deliver them: a Ctrl-C lands before or
    after a checkpoint write, never in the middle of it. (Signals reach only the main thread's
    handlers; elsewhere the block runs as it is.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    # A handler installed from C (an embedding program's) reads as None and could not be put back: such
    # a signal is left to it.
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in HELD_SIGNALS
                if signal.getsignal(s) is not None}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            signal.raise_signal(received[0])  # what the signal would have done: KeyboardInterrupt for Ctrl-C


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with `TrainingDiverged` when an epoch's logged loss is NaN or infinite.

    For GANs it must come before `BackupAndRestore` in the callback list: it raises
    at the end of the bad epoch before the backup is written, so a bad epoch is
    never backed up. (An epoch's logged value is a mean over its batches, so
    one bad batch is enough to show.)

    Args:
        advice: what was kept and what to change, appended to the message;
            `{backed_up}` in it is replaced by what `backed_up()` returns.
        backed_up: the epoch of the last backup (a GAN's backups need not be every epoch).
    """

    def __init__(self, advice, backed_up=None):
        super().__init__()
        self.advice, self.backed_up = advice, backed_up

    def on_epoch_end(self, epoch, logs=None):
        bad = {k: float(v) for k, v in (logs or {}).items() if not np.isfinite(float(v))}
        if bad:
            raise TrainingDiverged(
                f"{type(self.model).__name__} diverged in epoch {epoch + 1}: "
                + ", ".join(f"{k} = {v}" for k, v in bad.items()) + ". "
                + self.advice.format(backed_up=self.backed_up() if self.backed_up else None))


class StandingStatistics(keras.callbacks.Callback):
    """At the end of every epoch whose images are looked at (a sample grid, a `select` evaluation, the
    last epoch), before anything samples, re-estimates the moving average generator's batch-norm
    statistics for its own weights (`refresh_ema_statistics`). A model without `ema` is left alone.

    Args:
        epochs: the epochs of the fit.
        every: the periods (in epochs) of the callbacks that sample; 0 or None for none.
    """

    def __init__(self, epochs, *every):
        super().__init__()
        self.epochs, self.every = epochs, [e for e in every if e]

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        refresh = getattr(self.model, "refresh_ema_statistics", None)
        if refresh is not None and (done == self.epochs or any(done % e == 0 for e in self.every)):
            refresh(seed=done)


def duration(seconds):
    """Seconds as a rounded "40 s", "12 min" or "1.5 h" (every time-left line of tfganaug)."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressLines(keras.callbacks.Callback):
    """A line at least every `every_seconds` while a model trains: its epoch and step, and about how long
    it has left at its pace so far. Keras writes nothing while an epoch runs unless its live bar shows
    (verbose 1, a terminal); a GAN epoch can take minutes, and a log file would stay silent meanwhile.

    Args:
        what: the model, as the line names it ("GAN cgan (seed 0)").
        log: where the lines go.
        every_seconds: the longest silence.
        clock: seconds of a monotonic clock (for tests).
    """

    def __init__(self, what, log=print, every_seconds=60, clock=time.monotonic):
        super().__init__()
        self.what, self.log, self.every_seconds, self.clock = what, log, every_seconds, clock

    def on_train_begin(self, logs=None):
        self.started = self.last = self.clock()
        self.steps_done, self.epoch = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_steps = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        # Keras calls this once per execution of `steps_per_execution` steps, `batch` its last step.
        self.steps_done += batch + 1 - self.epoch_steps
        self.epoch_steps = batch + 1
        now = self.clock()
        if now - self.last < self.every_seconds:
            return
        self.last = now
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        line = f"  {self.what}: epoch {self.epoch + 1}/{epochs}"
        if steps:
            line += f", step {batch + 1}/{steps}"
            left = (now - self.started) / self.steps_done * ((epochs - self.epoch) * steps - batch - 1)
            line += f", about {duration(left)} left of it"
        self.log(line)


def _state_variables(model):
    """Every variable `model.save_weights` writes: the model's own and those of the optimizers it holds."""
    found, seen = [], set()
    optimizers = [value for value in vars(model).values() if isinstance(value, keras.optimizers.Optimizer)]
    for variable in list(model.variables) + [v for optimizer in optimizers for v in optimizer.variables]:
        if id(variable) not in seen:
            seen.add(id(variable))
            found.append(variable)
    return found


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's `BackupAndRestore` (double checkpoint) whose backup is never half-written, which falls
    back to the previous backup when the latest cannot be loaded, and which backs up every few
    seconds instead of every epoch.

    Keras writes the weights file in place, then the metadata: a Ctrl-C in between, or inside
    the weights write, left either a valid HDF5 file with arrays missing (every rerun failed) or
    weights one epoch ahead of the metadata. Here each file is written to a temporary name and
    renamed, with SIGINT and SIGTERM held (`held_signals`) until the pair is complete.

    A backup (a copy of the previous one and a `save_weights` of G, D, the moving average and both
    optimizers) takes ~0.1 s on CPU: for a small GAN whose epochs last a second that was 15-25% of
    its training. So an epoch is backed up only when `every_seconds` have passed since the last
    backup (or since training began), or when it is a multiple of `also_every`. The backup is not
    deleted at the end of training (Keras does, before the caller has written the final weights):
    the caller deletes it once they are written.

    Args:
        backup_dir: the backup folder.
        log: where the fall-back warning goes.
        every_seconds: the least time between two backups (0: every epoch); a kill loses at most
            this much training, plus the epoch in progress.
        also_every: back up every `also_every` epochs whatever the time (0: no such epochs).
    """

    def __init__(self, backup_dir, log=print, every_seconds=0, also_every=0):
        super().__init__(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)
        self.log, self.every_seconds, self.also_every = log, every_seconds, also_every
        self.saved_epoch, self._saved_at = 0, None
        self._unsaved = None  # (epoch, values of every variable) of a finished epoch not backed up yet

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch, self._last_batch_seen = epoch + 1, 0
        due = time.monotonic() - self._saved_at >= self.every_seconds
        if due or (self.also_every and self._current_epoch % self.also_every == 0):
            self._save_model()
        else:  # kept in memory (far cheaper than a file) for `save_on_interrupt`
            # Copied: a numpy view can share the variable's buffer, which an XLA step updates in place.
            self._unsaved = (self._current_epoch, [np.array(v.numpy(), copy=True) for v in _state_variables(self.model)])

    def save_on_interrupt(self):
        """Back up the last finished epoch that is not backed up yet: called when Ctrl-C (or SIGTERM) stops
        training, so an interrupt loses only the epoch in progress, whatever `every_seconds` is. The model's
        variables are set back to that epoch's end first (they hold part of the next epoch's steps)."""
        if self._unsaved is None:
            return
        self._current_epoch, values = self._unsaved
        for variable, value in zip(_state_variables(self.model), values):
            variable.assign(value)
        self._save_model()

    def _save_model(self):
        self._unsaved = None
        with held_signals():
            os.makedirs(self.backup_dir, exist_ok=True)
            for latest, previous in ((self._weights_path, self._prev_weights_path),
                                     (self._training_metadata_path, self._prev_training_metadata_path)):
                if os.path.exists(latest):
                    with atomic_path(previous) as tmp:
                        shutil.copyfile(latest, tmp)
            with atomic_path(self._weights_path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
            write_text(self._training_metadata_path,
                       json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        self.saved_epoch, self._saved_at = self._current_epoch, time.monotonic()

    def restore(self, model):
        """Load the backup (or the one before it) into `model` now, before `fit`; return the epochs it holds.

        The caller then trims its logs to that epoch: a fall-back to the previous backup, found only
        while loading, must not leave rows of the epochs the resumed run trains again."""
        self.set_model(model)
        self.on_train_begin()
        self._restored = True
        return self.saved_epoch

    def on_train_begin(self, logs=None):
        if getattr(self, "_restored", False):  # done by `restore`; fit starts at the epoch it set
            return
        try:
            self._load_model()
        except (OSError, ValueError) as exc:
            previous = (self._prev_weights_path, self._prev_training_metadata_path)
            if not all(os.path.exists(p) for p in previous):
                raise UserError(f"the backup {self._weights_path} cannot be loaded ({exc}) and there is no "
                                f"previous one; delete {self.backup_dir} to train this model from the start") from None
            self.log(f"the backup {self._weights_path} cannot be loaded ({str(exc).splitlines()[0]}); "
                     "resuming from the one before it")
            for path in (self._weights_path, self._training_metadata_path):
                if os.path.exists(path):
                    os.replace(path, f"{path}.corrupt")  # kept aside for a look, never loaded again
            for latest, prev in zip((self._weights_path, self._training_metadata_path), previous):
                shutil.copyfile(prev, latest)
            self._load_model()
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as f:
                self.saved_epoch = json.load(f)["epoch"]
        self._saved_at = time.monotonic()
