"""Training one GAN or CycleGAN into its own folder, with everything a user inspects afterwards.

A GAN folder holds:

    gan.json            what was trained (GAN settings, image shape, classes, seed): enough to rebuild it
    gan.weights.h5      the final G, D and both optimizers' state
    losses.csv          g_loss and d_loss per epoch (and ada_p with adaptive augmentation)
    quality.csv         with `select`: the quality measures every few epochs; best.weights.h5 the best
    samples/            fixed-noise sample grids (one row per class) every `sample_every` epochs
    tensorboard/        the same losses and grids for TensorBoard
    backup/             a recent finished epoch while training runs (Keras `BackupAndRestore`, every
                        `backup_seconds`); a rerun after a crash or kill resumes there

The noise of a step is drawn from (seed, step) and the backup restores the step
counter, so a resumed run draws the same noise as one that was never interrupted.
"""

import csv
import json
import shutil
from pathlib import Path

import keras

from tfganaug.files import atomic_path, write_text
from tfganaug.layout import SPEC_FILE, WEIGHTS_FILE
from tfganaug.training.callbacks import SafeBackupAndRestore, StandingStatistics, StopOnNonFiniteLoss
from tfganaug.training.gan_folder import BEST_FILE, drop_rows_after
from tfganaug.training.grids import SampleGrids
from tfganaug.training.selection import BestCheckpoint


def _trim_csv(path, epochs_done):
    """Keep only rows of epochs already backed up, so a resumed run does not log an epoch twice."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) < epochs_done]
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        csv.writer(f).writerows(kept)


def _repair_backup(backup):
    """A kill while `BackupAndRestore` wrote its (non-atomic) metadata leaves it unreadable: fall back to
    the previous backup (double_checkpoint), or start over when there is none."""
    metadata = backup / "training_metadata.json"
    try:
        json.loads(metadata.read_text())
    except FileNotFoundError:
        return
    except ValueError:
        previous = backup / "training_metadata.json.bkp"
        if previous.exists() and (backup / "latest.weights.h5.bkp").exists():
            shutil.copyfile(previous, metadata)
            shutil.copyfile(backup / "latest.weights.h5.bkp", backup / "latest.weights.h5")
        else:
            shutil.rmtree(backup)


def backed_up_epochs(folder):
    """Epochs finished in the backup of an interrupted training in `folder` (0 when there is none)."""
    backup = Path(folder) / "backup"
    _repair_backup(backup)
    metadata = backup / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0


def _precision_advice(model):
    """What to say of a diverged model's precision: nothing in float32; under a mixed policy, that it
    trained in it and how to train in float32 instead."""
    policy = model.dtype_policy.name
    if policy == "float32":
        return ""
    return f" or train it in float32 (runtime.mixed_precision: off; it trained in {policy})"


def train_gan(model, dataset, *, epochs, folder, spec, seed, class_names=None, sample_every=5, verbose=2,
              steps_per_epoch=None, grids=None, extra_callbacks=(), jit_compile="auto", select=None,
              backup_seconds=0):
    """Fit `model` on `dataset` for `epochs`, resuming from `folder/backup` if a previous run was cut short.

    Args:
        model: a compiled GAN from `tfganaug.gans`.
        dataset: batches of (images in [-1, 1], int labels); or `dataset(first_epoch)` -> the batches from
            the first epoch this call trains (after a backup's), for an endless dataset whose epochs are
            keyed (`tfganaug.data.pipeline.gan_dataset`, with `steps_per_epoch`): a resumed run then
            trains on the data of an uninterrupted one.
        epochs: total epochs (already finished ones are not redone).
        folder: the GAN's folder (see the module docstring).
        spec: JSON-able description written to `gan.json` (what `tfganaug.training.gan_folder.load_trained_gan` rebuilds from).
        seed: seed of the grids' fixed noise (the model's own seed sets its training draws).
        class_names: names of the classes, for the sample grids.
        sample_every: epochs between sample grids (0: only the last epoch).
        verbose: Keras `fit` verbosity.
        steps_per_epoch: for endless datasets (`gan_dataset`, a CycleGAN's two zipped domains).
        grids: the sample-grid callback (default: `SampleGrids` of the classes, with TensorBoard images).
        extra_callbacks: more Keras callbacks for `fit`.
        jit_compile: XLA for the training step (True/False), or "auto" to keep the model's setting.
        select: None, or {"measure": model -> {measure: value}, "metric": the one to maximise or
            minimise, "every": epochs}: the model is measured that often (`quality.csv`) and the
            final weights are those of its best evaluation (see `tfganaug.training.selection`).
        backup_seconds: the least time between two backups (0: every epoch). Evaluated epochs of
            `select` are always backed up: the best weights are never of an epoch a resumed run redoes.

    Returns:
        The per-epoch losses of this call as a dict of lists.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # The precision it trains in, recorded because `runtime.mixed_precision: auto` depends on the machine.
    write_text(folder / SPEC_FILE, json.dumps({**spec, "precision": keras.mixed_precision.global_policy().name},
                                              indent=1))
    backup = folder / "backup"
    backed_up_epochs(folder)  # repairs a backup whose metadata a kill cut short
    backup_callback = SafeBackupAndRestore(backup, every_seconds=backup_seconds,
                                           also_every=select["every"] if select else 0)
    done = backup_callback.restore(model)
    if callable(dataset):
        dataset = dataset(done)
    _trim_csv(folder / "losses.csv", done)
    selection = []
    if select is not None:
        drop_rows_after(folder, done)
        # Before the backup: an epoch that is backed up has been evaluated.
        selection.append(BestCheckpoint(folder, select["measure"], select["metric"], select["every"], epochs,
                                        folder / "tensorboard" / "quality"))
    callbacks = [
        # Before the backup: a diverged epoch is never saved.
        StopOnNonFiniteLoss(f"The last backup (after epoch {{backed_up}}) is kept in {backup}; lower the learning "
                            f"rates (or try loss: hinge or wgan_gp){_precision_advice(model)}, then run the same "
                            "command again to resume from it", backed_up=lambda: backup_callback.saved_epoch),
        StandingStatistics(epochs, sample_every, select["every"] if select else 0),
        *selection,
        # Before the backup: a kill between the two leaves a row of an epoch not backed up, which the
        # resumed run trims and logs again; the other way round it left an epoch without a row.
        keras.callbacks.CSVLogger(str(folder / "losses.csv"), append=True),
        keras.callbacks.TensorBoard(str(folder / "tensorboard"), write_graph=False),
        # Written atomically with Ctrl-C held; an unloadable backup falls back to the one before.
        backup_callback,
        grids or SampleGrids(folder / "samples", class_names, sample_every, epochs, seed,
                             folder / "tensorboard" / "samples"),
        *extra_callbacks,
    ]
    if jit_compile != "auto":
        model.jit_compile = jit_compile
    try:
        history = model.fit(dataset, epochs=epochs, verbose=verbose, shuffle=False, callbacks=callbacks,
                            steps_per_epoch=steps_per_epoch)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep every finished epoch, not only the last timed backup
        backup_callback.save_on_interrupt()
        raise
    if selection and (folder / BEST_FILE).exists():
        model.load_weights(folder / BEST_FILE)
    with atomic_path(folder / WEIGHTS_FILE, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    shutil.rmtree(backup, ignore_errors=True)  # only now: a kill before the final weights resumes from it
    return history.history
