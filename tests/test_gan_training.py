"""Training a GAN into its folder: artifacts written, a cut-short run resumes exactly, a finished one reloads."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfganaug.config import GANTraining
from tfganaug.errors import UserError
from tfganaug.experiment import build_gan_from_spec
from tfganaug.gan_training import WEIGHTS_FILE, choose_gan, load_trained_gan, train_gan, trained_gans

CLASSES = ["a", "b", "c"]


def _spec(model="acgan"):
    gan = GANTraining(model=model, network="mlp", latent_dim=4, hidden_units=[8], epochs=3, batch_size=8)
    return {"gan": gan.model_dump(mode="json"), "image_shape": [8, 8, 1], "num_classes": 3,
            "class_names": CLASSES, "seed": 5}


def _data():
    # No shuffling: the only randomness left is the GAN's noise, which train_gan seeds per epoch.
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (24, 8, 8, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((images, (np.arange(24) % 3).astype("int32"))).batch(8)


def _train(folder, spec, epochs=3, **kwargs):
    keras.utils.set_random_seed(spec["seed"])
    model = build_gan_from_spec(spec)
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
    reloaded, spec = load_trained_gan(folder, build_gan_from_spec)
    np.testing.assert_allclose(reloaded.generate(labels=[0, 1, 2], seed=1), model.generate(labels=[0, 1, 2], seed=1),
                               atol=1e-6)


class _Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")


def test_cut_short_training_resumes_to_the_same_weights(tmp_path):
    spec = _spec()
    straight = _train(tmp_path / "straight", spec)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "resumed", spec, extra_callbacks=[_Crash()])
    assert (tmp_path / "resumed" / "backup").exists() and not (tmp_path / "resumed" / WEIGHTS_FILE).exists()
    resumed = _train(tmp_path / "resumed", spec)  # a fresh process would do exactly this
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with (tmp_path / "resumed" / "losses.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]  # no epoch logged twice


def test_choose_gan_names_the_choices(tmp_path):
    with pytest.raises(UserError, match="no trained GAN"):
        choose_gan(tmp_path)
    for name in ("acgan-1", "cgan-2"):
        (tmp_path / "gans" / name).mkdir(parents=True)
        (tmp_path / "gans" / name / WEIGHTS_FILE).write_text("")
    assert list(trained_gans(tmp_path)) == ["acgan-1", "cgan-2"]
    assert choose_gan(tmp_path, "cgan").name == "cgan-2"
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
    with pytest.raises(TrainingDiverged, match=r"diverged in epoch 2: .*nan.*The last good epoch \(1\) is kept"):
        _train(folder, _spec(), extra_callbacks=[_Poison()])
    assert json.loads((folder / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert not (folder / WEIGHTS_FILE).exists()
    resumed = _train(folder, _spec())  # the same command again resumes from epoch 1, finite
    assert all(np.all(np.isfinite(w)) for w in resumed.get_weights())
