"""Training a GAN into its folder: artifacts written, a cut-short run resumes exactly, a finished one reloads."""

import csv
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfganaug.config import GANTraining
from tfganaug.errors import UserError
from tfganaug.experiment import build_from_spec
from tfganaug.layout import SPEC_FILE, WEIGHTS_FILE
from tfganaug.training.gan_fit import train_gan
from tfganaug.training.gan_folder import choose_gan, load_trained_gan, trained_gans

CLASSES = ["a", "b", "c"]


RESNET_EMA_ADA = {"model": "cgan", "network": "resnet", "base_filters": 4, "d_filters": [4, 4], "loss": "hinge",
                  "ema": {"decay": 0.9}, "diffaugment": ["translation"], "ada_target": 0.6}
# The discriminator's feature branch on VGG-16's package weights, joining after the first 16 images.
MLP_FEATURES = {"model": "cgan", "loss": "hinge", "diffaugment": ["translation"],
                "features": {"trunk": "vgg16", "depths": [0, 1], "input_size": 16, "channels": 4, "head_filters": 4,
                             "start_kimg": 0.016}}


def _spec(model="acgan", **options):
    gan = GANTraining(**{"model": model, "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 3,
                         "batch_size": 8, **options})
    return {"gan": gan.model_dump(mode="json"), "image_shape": [8, 8, 1], "num_classes": 3,
            "class_names": CLASSES, "seed": 5}


def _data():
    # No shuffling: the only randomness left is the GAN's noise, which train_gan seeds per epoch.
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (24, 8, 8, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((images, (np.arange(24) % 3).astype("int32"))).batch(8)


def _train(folder, spec, epochs=3, **kwargs):
    keras.utils.set_random_seed(spec["seed"])
    model = build_from_spec(spec)
    train_gan(model, _data(), epochs=epochs, folder=folder, spec=spec, class_names=CLASSES, seed=spec["seed"],
              sample_every=2, verbose=0, **kwargs)
    return model


def test_train_gan_writes_losses_grids_tensorboard_and_weights(tmp_path):
    folder = tmp_path / "gans" / "acgan-x"
    model = _train(folder, _spec())
    with (folder / "losses.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert all(np.isfinite(float(r["g_loss"])) and np.isfinite(float(r["d_loss"])) for r in rows)
    assert sorted(p.name for p in (folder / "samples").iterdir()) == ["epoch_0002.png", "epoch_0003.png"]
    assert keras.utils.load_img(folder / "samples" / "epoch_0003.png").size[0] > 100
    assert list((folder / "tensorboard").rglob("events.out.tfevents.*"))
    assert not (folder / "backup").exists()  # removed once training finished
    assert json.loads((folder / "gan.json").read_text())["class_names"] == CLASSES
    reloaded, spec = load_trained_gan(folder, build_from_spec)
    np.testing.assert_allclose(reloaded.generate(labels=[0, 1, 2], seed=1), model.generate(labels=[0, 1, 2], seed=1),
                               atol=1e-6)


class _Killed(Exception):
    """A kill -9 as a test can make one: training stops and nothing of tfganaug runs after it."""


class _Crash(keras.callbacks.Callback):
    """Stops training at the start of epoch `at` (0-based) with `error`; with `batch`, after that
    many steps of the epoch instead (its weights have moved past the last finished epoch)."""

    def __init__(self, at=2, error=KeyboardInterrupt, batch=None):
        super().__init__()
        self.at, self.error, self.batch, self.epoch = at, error, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if epoch == self.at and self.batch is None:
            raise self.error("simulated kill")

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.at and batch + 1 == self.batch:
            raise self.error("simulated kill")


@pytest.mark.parametrize("options", [{}, RESNET_EMA_ADA, MLP_FEATURES],
                         ids=["acgan-mlp", "cgan-resnet-ema-ada", "cgan-mlp-features"])
def test_cut_short_training_resumes_to_the_same_weights(tmp_path, options):
    # With the second: the moving average, spectral norm's vectors and ada_p come back too; with the
    # third, the feature branch's heads, their optimizer slots and its warm-up.
    spec = _spec(**({**options, "hidden_units": None} if options.get("network") == "resnet" else options))
    straight = _train(tmp_path / "straight", spec)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "resumed", spec, extra_callbacks=[_Crash()])
    assert (tmp_path / "resumed" / "backup").exists() and not (tmp_path / "resumed" / WEIGHTS_FILE).exists()
    resumed = _train(tmp_path / "resumed", spec)  # a fresh process would do exactly this
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with (tmp_path / "resumed" / "losses.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]  # no epoch logged twice


class _Clock(keras.callbacks.Callback):
    """A clock for the backup policy that moves one second at the start of every epoch."""

    def __init__(self):
        super().__init__()
        self.now = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.now += 1.0


@pytest.mark.parametrize("seconds, select_every, backed_up", [(2.5, 0, 3), (100, 2, 4), (100, 0, 0)],
                         ids=["every-2.5-seconds", "evaluated-epochs", "none-yet"])
def test_backups_are_every_few_seconds_and_a_resume_from_one_ends_the_same(tmp_path, monkeypatch, seconds,
                                                                           select_every, backed_up):
    """Epochs last one (fake) second and the run is killed at the start of epoch 5 (0-based 4): the
    backup holds the last epoch due by time (or evaluated), and resuming from it ends as a straight run."""
    from types import SimpleNamespace

    from tfganaug.training import callbacks

    clock = _Clock()
    monkeypatch.setattr(callbacks, "time", SimpleNamespace(monotonic=lambda: clock.now))
    select = {"measure": lambda model: {"kid": 1.0}, "metric": "kid", "every": select_every} if select_every else None
    spec = _spec()
    straight = _train(tmp_path / "straight", spec, epochs=6, select=select)
    with pytest.raises(_Killed):
        _train(tmp_path / "resumed", spec, epochs=6, select=select, backup_seconds=seconds,
               extra_callbacks=[clock, _Crash(at=4, error=_Killed)])
    metadata = tmp_path / "resumed" / "backup" / "training_metadata.json"
    assert (json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0) == backed_up
    clock.now = 0.0
    resumed = _train(tmp_path / "resumed", spec, epochs=6, select=select, backup_seconds=seconds,
                     extra_callbacks=[clock])
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with (tmp_path / "resumed" / "losses.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(6))
    assert not (tmp_path / "resumed" / "backup").exists()


def test_a_ctrl_c_between_timed_backups_backs_up_the_last_finished_epoch(tmp_path):
    """Ctrl-C in the middle of epoch 4 (0-based 3) of a run whose first timed backup is 100 s away:
    epochs 1-3 are backed up on the interrupt itself, and the rerun ends as a straight run."""
    spec = _spec()
    straight = _train(tmp_path / "straight", spec, epochs=5)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "resumed", spec, epochs=5, backup_seconds=100, extra_callbacks=[_Crash(at=3, batch=2)])
    metadata = tmp_path / "resumed" / "backup" / "training_metadata.json"
    assert json.loads(metadata.read_text())["epoch"] == 3
    resumed = _train(tmp_path / "resumed", spec, epochs=5, backup_seconds=100)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def _train_shuffled(folder, spec, epochs, **kwargs):
    """`_train` through the real, shuffled `gan_dataset` (30 images, 3 steps of 8 per epoch, 6 dropped)."""
    from tfganaug.data.pipeline import gan_dataset, gan_steps

    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (30, 8, 8, 1)).astype("uint8"), np.arange(30) % 3
    keras.utils.set_random_seed(spec["seed"])
    model = build_from_spec(spec)
    train_gan(model, lambda first: gan_dataset(images, labels, 8, spec["seed"], first), epochs=epochs, folder=folder,
              spec=spec, class_names=CLASSES, seed=spec["seed"], sample_every=2, verbose=0,
              steps_per_epoch=gan_steps(30, 8), **kwargs)
    return model


@pytest.mark.parametrize("stop", ["ctrl-c-mid-epoch", "kill-after-a-backup"])
def test_a_resumed_run_on_shuffled_data_ends_with_the_uninterrupted_runs_weights(tmp_path, stop):
    """A CGAN with EMA, ADA and LeCam on the real shuffled dataset, stopped in epoch 4 (0-based 3) by a
    Ctrl-C in its middle (the backup is written on the interrupt) or by a kill after epoch 3's backup,
    then run again: every weight equals an uninterrupted run's, bit for bit (each epoch's order is drawn
    from (seed, epoch); tf.data's own reshuffle restarted its sequence on resume)."""
    spec = _spec(**{**RESNET_EMA_ADA, "hidden_units": None, "lecam": 0.3})
    straight = _train_shuffled(tmp_path / "straight", spec, epochs=5)
    crash = (_Crash(at=3, batch=2), KeyboardInterrupt, 100) if stop.startswith("ctrl-c") else (
        _Crash(at=3, error=_Killed), _Killed, 0)
    with pytest.raises(crash[1]):
        _train_shuffled(tmp_path / "resumed", spec, epochs=5, backup_seconds=crash[2], extra_callbacks=[crash[0]])
    assert json.loads((tmp_path / "resumed" / "backup" / "training_metadata.json").read_text())["epoch"] == 3
    resumed = _train_shuffled(tmp_path / "resumed", spec, epochs=5, backup_seconds=crash[2])
    assert len(straight.weights) == len(resumed.weights) and straight.ada_p is not None and straight.lecam_real is not None
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a, b, err_msg=a.path)


def test_a_ctrl_c_during_the_backup_write_is_held_until_the_backup_is_complete(tmp_path, monkeypatch):
    """SIGINT arrives just after the weights of epoch 2's backup are written, before its metadata:
    the pair is completed first, then training stops; the rerun ends with the uninterrupted weights."""
    import os
    import signal

    spec = _spec()
    straight = _train(tmp_path / "straight", spec)
    original, saves = keras.Model.save_weights, []

    def save_then_ctrl_c(model, filepath, *args, **kwargs):
        original(model, filepath, *args, **kwargs)
        if "backup" in str(filepath):
            saves.append(filepath)
            if len(saves) == 2:
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(keras.Model, "save_weights", save_then_ctrl_c)
    # Ctrl-C as in a terminal: a process started in the background (nohup, CI) inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _train(tmp_path / "resumed", spec)
    finally:
        signal.signal(signal.SIGINT, previous)
        monkeypatch.undo()
    backup = tmp_path / "resumed" / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert sorted(p.name for p in backup.iterdir()) == ["latest.weights.h5", "latest.weights.h5.bkp",
                                                        "training_metadata.json", "training_metadata.json.bkp"]
    resumed = _train(tmp_path / "resumed", spec)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_backup_with_arrays_missing_falls_back_to_the_one_before(tmp_path, capsys):
    import h5py

    spec = _spec()
    straight = _train(tmp_path / "straight", spec)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "resumed", spec, extra_callbacks=[_Crash()])  # backups of epochs 1 and 2
    backup = tmp_path / "resumed" / "backup"
    with h5py.File(backup / "latest.weights.h5", "w") as f:
        f.create_group("layers")  # a valid HDF5 file that holds none of the arrays
    resumed = _train(tmp_path / "resumed", spec)  # resumes after epoch 1
    assert "cannot be loaded" in capsys.readouterr().out and (backup.parent / WEIGHTS_FILE).exists()
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with (tmp_path / "resumed" / "losses.csv").open() as f:  # epoch 2's row, trained again, logged once
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]


def test_choose_gan_names_the_choices(tmp_path):
    with pytest.raises(UserError, match="no trained GAN"):
        choose_gan(tmp_path)
    specs = {"acgan-1": {"gan": {"model": "acgan"}}, "cgan-2": {"gan": {"model": "cgan"}},
             "cyclegan-t-shirt-3": {"cyclegan": {"name": "t-shirt"}}}
    for name, spec in specs.items():
        (tmp_path / "gans" / name).mkdir(parents=True)
        (tmp_path / "gans" / name / WEIGHTS_FILE).write_text("")
        (tmp_path / "gans" / name / SPEC_FILE).write_text(json.dumps(spec))
    assert list(trained_gans(tmp_path)) == ["acgan-1", "cgan-2"]
    assert list(trained_gans(tmp_path, "cyclegan")) == ["cyclegan-t-shirt-3"]
    assert choose_gan(tmp_path, "cgan").name == "cgan-2"
    # A CycleGAN's name may contain "-": it is read from gan.json, not cut out of the folder name.
    assert choose_gan(tmp_path, "t-shirt", kind="all").name == "cyclegan-t-shirt-3"
    assert choose_gan(tmp_path, "cyclegan-t-shirt", kind="all").name == "cyclegan-t-shirt-3"
    with pytest.raises(UserError, match="choose one with --gan, one of: acgan-1, cgan-2"):
        choose_gan(tmp_path)
    with pytest.raises(UserError, match="no GAN named 'dagan'"):
        choose_gan(tmp_path, "dagan")


class _Poison(keras.callbacks.Callback):
    """Turns the generator's weights into NaN during epoch 2 (0-based 1), as a diverging GAN would."""

    def on_train_batch_end(self, batch, logs=None):
        if self.params and self._epoch == 1:
            for w in self.model.generator.weights:
                w.assign(np.full(w.shape, np.nan, dtype=w.dtype))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def test_nan_losses_stop_training_and_keep_the_last_good_epoch(tmp_path):
    from tfganaug.errors import TrainingDiverged

    folder = tmp_path / "gan"
    with pytest.raises(TrainingDiverged, match=r"diverged in epoch 2: .*nan.*The last backup \(after epoch 1\) is kept"):
        _train(folder, _spec(), extra_callbacks=[_Poison()])
    assert json.loads((folder / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert not (folder / WEIGHTS_FILE).exists()
    resumed = _train(folder, _spec())  # the same command again resumes from epoch 1, finite
    assert all(np.all(np.isfinite(w)) for w in resumed.get_weights())


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGKILL", "SIGINT"])
def test_a_run_killed_during_gan_training_resumes_with_the_same_command(tmp_path, stop):
    """SIGKILL or Ctrl-C in the middle of GAN training; the same command resumes from the last backed-up epoch."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from tests.conftest import tiny_config, write_npz

    epochs = 40
    gan = {"model": "acgan", "network": "mlp", "latent_dim": 16, "hidden_units": [256, 256], "epochs": epochs,
           "batch_size": 4, "sample_every": 0}
    raw = tiny_config(write_npz(tmp_path / "d.npz", per_class=40), groups=[{"type": "gan", "gan": gan}])
    raw["data"]["samples_per_class"] = 30
    raw["runtime"] = {"backup_seconds": 0.5}  # backups every few epochs, not every epoch
    (tmp_path / "k.yaml").write_text(yaml.safe_dump(raw))
    command = [sys.executable, "-m", "tfganaug.cli", "train", str(tmp_path / "k.yaml"), "--out", str(tmp_path / "run")]
    # SIGINT reset to its default in the child: started from a background process (CI), it would inherit it ignored.
    # Its output goes to a file (a pipe nobody reads could fill and block it), shown if the test fails.
    output = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while time.time() < deadline and first.poll() is None:
        backups = list((tmp_path / "run" / "gans").glob("acgan-*/backup/training_metadata.json"))
        try:
            if backups and json.loads(backups[0].read_text())["epoch"] >= 2:
                break
        except ValueError:  # caught while being written
            pass
        time.sleep(0.05)
    assert first.poll() is None, "the GAN finished before it could be killed: make it slower"
    first.send_signal(getattr(signal, stop))
    stopped = first.wait(timeout=120)
    output.close()
    assert stopped == (130 if stop == "SIGINT" else -signal.SIGKILL), (tmp_path / "first.log").read_text()[-3000:]
    killed_at = json.loads(backups[0].read_text())["epoch"]
    assert 2 <= killed_at < epochs

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    resumed = re.search(r"resuming GAN acgan from its backup after epoch (\d+)", second.stdout)
    assert resumed and int(resumed.group(1)) >= killed_at  # nothing older than the last backup was lost
    folder = backups[0].parent.parent
    with (folder / "losses.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(epochs))
    assert (folder / WEIGHTS_FILE).exists() and not (folder / "backup").exists()
    # The same GAN never interrupted (on main before epoch-keyed shuffles: weights up to 0.62 apart).
    straight = subprocess.run(command[:-1] + [str(tmp_path / "straight")], capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert _h5_arrays(folder / WEIGHTS_FILE).keys() == _h5_arrays(tmp_path / "straight" / "gans" / folder.name /
                                                                   WEIGHTS_FILE).keys()
    for name, array in _h5_arrays(tmp_path / "straight" / "gans" / folder.name / WEIGHTS_FILE).items():
        np.testing.assert_array_equal(array, _h5_arrays(folder / WEIGHTS_FILE)[name], err_msg=name)


def _h5_arrays(path):
    """{dataset path: array} of every array in a weights file."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_an_unreadable_backup_falls_back_to_the_previous_one(tmp_path):
    from tfganaug.training.gan_fit import backed_up_epochs

    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text('{"epo')  # killed mid-write
    (backup / "training_metadata.json.bkp").write_text('{"epoch": 3, "batch": 0}')
    (backup / "latest.weights.h5").write_text("half")
    (backup / "latest.weights.h5.bkp").write_text("previous")
    assert backed_up_epochs(tmp_path) == 3 and (backup / "latest.weights.h5").read_text() == "previous"
    (backup / "training_metadata.json").write_text("")
    (backup / "latest.weights.h5.bkp").unlink()
    assert backed_up_epochs(tmp_path) == 0 and not backup.exists()  # nothing to fall back to: start over


def test_runtime_backup_seconds_reaches_gan_training_except_under_multi_worker(tmp_path, npz_file):
    """Workers would each decide by their own clocks and resume from different epochs: they back up every epoch."""
    from tests.conftest import tiny_config
    from tfganaug.config import validate
    from tfganaug.experiment.models import RunModels

    for distribute, expected in (("auto", 7.5), ("multi_worker", 0)):
        config = validate(tiny_config(npz_file, runtime={"distribute": distribute, "backup_seconds": 7.5}))
        assert RunModels(config, tmp_path / distribute).backup_seconds == expected


def test_a_progress_line_comes_at_least_every_minute_while_a_gan_trains():
    """On a fake clock that moves 25 s per step (no real waiting): a line at the first step a minute or
    more after the last, naming the epoch and step and the time left at the pace so far."""
    import itertools

    from tests.replicas import tiny_gan
    from tfganaug.training.callbacks import ProgressLines

    ticks, lines = itertools.count(0, 25), []
    model = tiny_gan("cgan")
    data = tf.data.Dataset.from_tensor_slices((np.zeros((16, 8, 8, 1), "float32"), np.arange(16) % 3)).batch(4)
    model.fit(data, epochs=2, verbose=0, shuffle=False, callbacks=[ProgressLines("GAN cgan (seed 0)", lines.append,
                                                                  clock=lambda: next(ticks))])
    # Steps end at 25, 50, 75 (a line: 25 s a step, 5 steps left), ..., 150 (a line: 2 steps left), 175, 200.
    assert lines == ["  GAN cgan (seed 0): epoch 1/2, step 3/4, about 2 min left of it",
                     "  GAN cgan (seed 0): epoch 2/2, step 2/4, about 50 s left of it"]


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_gans_train_with_the_fused_adam_and_end_where_kerass_adam_ends(policy):
    """Every GAN of a run trains with `FusedAdam` (Keras's Adam update as one fused op per variable): 2 epochs
    of a tiny ACGAN end with the weights of the same GAN trained with Keras's Adam, to float32 rounding in
    float32 and to bfloat16's (8 significant bits: a rounding difference moves bf16 products) under
    mixed_bfloat16; a wrong update would move them by about the learning rate, 1e-2, per step."""
    from tfganaug.experiment.builders import build_gan
    from tfganaug.training.optimizers import FusedAdam

    settings = GANTraining(model="acgan", network="mlp", latent_dim=4, hidden_units=[8], batch_size=8,
                           g_learning_rate=1e-2, d_learning_rate=1e-2, beta_1=0.5)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        weights = {}
        for optimizer in ("fused", "keras"):
            keras.utils.set_random_seed(0)
            gan = build_gan(settings, (8, 8, 1), 3, seed=0)
            if optimizer == "fused":
                assert (type(gan.g_optimizer), type(gan.d_optimizer)) == (FusedAdam, FusedAdam)
            else:
                gan.compile(g_optimizer=keras.optimizers.Adam(1e-2, 0.5), d_optimizer=keras.optimizers.Adam(1e-2, 0.5))
            gan.fit(_data(), epochs=2, verbose=0)
            weights[optimizer] = gan.generator.get_weights() + gan.discriminator.get_weights()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert any(not np.allclose(w, 0) for w in weights["fused"])
    for fused, plain in zip(weights["fused"], weights["keras"]):
        np.testing.assert_allclose(fused, plain, atol=1e-5 if policy == "float32" else 1e-3)
