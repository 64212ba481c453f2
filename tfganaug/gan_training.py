"""Training one GAN into its own folder, with everything a user inspects afterwards.

A GAN folder holds:

    gan.json            what was trained (GAN settings, image shape, classes, seed): enough to rebuild it
    gan.weights.h5      the final G, D and both optimizers' state
    losses.csv          g_loss and d_loss per epoch
    samples/            fixed-noise sample grids (one row per class) every `sample_every` epochs
    tensorboard/        the same losses and grids for TensorBoard
    backup/             the last finished epoch while training runs (Keras `BackupAndRestore`);
                        a rerun after a crash or kill resumes there, losing at most one epoch

The noise of a step is drawn from (seed, step) and the backup restores the step
counter, so a resumed run draws the same noise as one that was never interrupted.
"""

import csv
import hashlib
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfganaug.callbacks import StopOnNonFiniteLoss
from tfganaug.errors import UserError
from tfganaug.files import atomic_path, write_text
from tfganaug.plots import image_mosaic, save_sample_grid

SPEC_FILE = "gan.json"
WEIGHTS_FILE = "gan.weights.h5"
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
            mosaic = image_mosaic((images + 1.0) / 2.0, rows)
            with self.writer.as_default():
                tf.summary.image("samples", mosaic[None], step=epoch)
            self.writer.flush()


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


def settings_key(*parts):
    """A short stable hash of JSON-able settings: names a trained model's folder and cache entries."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def backed_up_epochs(folder):
    """Epochs finished in the backup of an interrupted training in `folder` (0 when there is none)."""
    backup = Path(folder) / "backup"
    _repair_backup(backup)
    metadata = backup / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0


def train_gan(model, dataset, *, epochs, folder, spec, seed, class_names=None, sample_every=5, verbose=2,
              steps_per_epoch=None, grids=None, extra_callbacks=(), jit_compile="auto"):
    """Fit `model` on `dataset` for `epochs`, resuming from `folder/backup` if a previous run was cut short.

    Args:
        model: a compiled GAN from `tfganaug.gans`.
        dataset: batches of (images in [-1, 1], int labels).
        epochs: total epochs (already finished ones are not redone).
        folder: the GAN's folder (see the module docstring).
        spec: JSON-able description written to `gan.json` (what `load_trained_gan` rebuilds from).
        seed: seed of the grids' fixed noise (the model's own seed sets its training draws).
        class_names: names of the classes, for the sample grids.
        sample_every: epochs between sample grids (0: only the last epoch).
        verbose: Keras `fit` verbosity.
        steps_per_epoch: for endless datasets (a CycleGAN's two zipped domains).
        grids: the sample-grid callback (default: `SampleGrids` of the classes, with TensorBoard images).
        extra_callbacks: more Keras callbacks for `fit`.
        jit_compile: XLA for the training step (True/False), or "auto" to keep the model's setting.

    Returns:
        The per-epoch losses of this call as a dict of lists.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / SPEC_FILE, json.dumps(spec, indent=1))
    backup = folder / "backup"
    _trim_csv(folder / "losses.csv", backed_up_epochs(folder))
    callbacks = [
        # Before the backup: a diverged epoch is never saved.
        StopOnNonFiniteLoss(f"The last good epoch ({{last_good}}) is kept in {backup}; lower the learning rates (or "
                            "try loss: hinge or wgan_gp), then run the same command again to resume from it"),
        # double_checkpoint: a kill while the backup is being written falls back to the one before.
        keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True),
        keras.callbacks.CSVLogger(str(folder / "losses.csv"), append=True),
        keras.callbacks.TensorBoard(str(folder / "tensorboard"), write_graph=False),
        grids or SampleGrids(folder / "samples", class_names, sample_every, epochs, seed,
                             folder / "tensorboard" / "samples"),
        *extra_callbacks,
    ]
    if jit_compile != "auto":
        model.jit_compile = jit_compile
    history = model.fit(dataset, epochs=epochs, verbose=verbose, shuffle=False, callbacks=callbacks,
                        steps_per_epoch=steps_per_epoch)
    with atomic_path(folder / WEIGHTS_FILE, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    return history.history


def trained_gans(run_dir, kind="gan"):
    """Folders of the finished models of a run, by name: `<model>-<key>` for GANs ("gan"),
    `cyclegan-<name>-<key>` for CycleGANs ("cyclegan"), or both ("all")."""
    gans = Path(run_dir) / "gans"
    found = {p.name: p for p in sorted(gans.glob("*")) if (p / WEIGHTS_FILE).exists()} if gans.is_dir() else {}
    return {n: p for n, p in found.items() if kind == "all" or n.startswith("cyclegan-") == (kind == "cyclegan")}


def choose_gan(run_dir, name=None, kind="gan"):
    """The folder of one finished model of a run (`kind` as in `trained_gans`): the only one, or the
    one named by its folder name, its GAN model ("acgan") or its CycleGAN name ("tshirt_shirt")."""
    found = trained_gans(run_dir, kind)
    if not found:
        raise UserError(f"{run_dir}: no trained GAN here (expected gans/<name>/{WEIGHTS_FILE}); "
                        f"give the folder of a run whose groups include a `type: gan` group")
    if name is not None:
        matches = [p for n, p in found.items()
                   if name in (n, n.split("-")[0]) or (n.startswith("cyclegan-") and n.split("-")[1] == name)]
        if len(matches) == 1:
            return matches[0]
    elif len(found) == 1:
        return next(iter(found.values()))
    why = f"no GAN named {name!r}" if name is not None and not matches else "several GANs"
    raise UserError(f"{run_dir}: {why}; choose one with --gan, one of: {', '.join(found)}")


def load_trained_gan(folder, build):
    """Rebuild a finished GAN from its folder.

    Args:
        folder: a GAN folder written by `train_gan`.
        build: `build(spec)` -> an untrained compiled model of the same architecture.

    Returns:
        (model with the trained weights, spec dict).
    """
    folder = Path(folder)
    spec = json.loads((folder / SPEC_FILE).read_text())
    model = build(spec)
    model.load_weights(folder / WEIGHTS_FILE)
    return model, spec
