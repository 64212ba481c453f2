"""What `tfganaug train` prints: no TensorFlow start-up lines unless -v, a line per run with the time left."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import tfganaug
from tests.conftest import tiny_config
from tfganaug.console import STARTUP_NOISE

REPO = Path(tfganaug.__file__).resolve().parent.parent
# TensorFlow 2.21's start-up lines (each printed twice) and its first device query's.
STARTUP = ("absl::InitializeLog", "oneDNN custom operations", "Could not find cuda drivers", "cuInit")
KERAS_EPOCH = re.compile(r"\d+/\d+ - \d+s - .*accuracy: ")  # "3/3 - 7s - 2s/step - accuracy: 0.1667 - loss: ..."


def _train(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it
    done = subprocess.run([sys.executable, "-m", "tfganaug.cli", "train", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_train_is_quiet_and_prints_each_run_with_the_time_left(tmp_path, npz_file):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, seeds=[0, 1])))
    quiet = _train(path, "--out", tmp_path / "quiet")
    printed = quiet.stdout + quiet.stderr
    assert not [marker for marker in STARTUP if marker in printed], quiet.stderr
    assert "WARNING" not in printed and not KERAS_EPOCH.search(printed)  # nor Keras's lines per epoch
    assert re.search(r"\n\[1/2\] baseline seed 0: accuracy .*% \(\d+\.\ds\), about \d+ s left\n", quiet.stdout)
    assert re.search(r"\n\[2/2\] baseline seed 1: accuracy .*% \(\d+\.\ds\)\n", quiet.stdout)  # nothing left
    # -v shows what was hidden: TensorFlow's start-up lines, and Keras's line per epoch.
    loud = _train(path, "--out", tmp_path / "loud", "--set", "seeds=[0]", "-v")
    assert any(marker in loud.stderr for marker in STARTUP) and KERAS_EPOCH.search(loud.stdout)


def test_only_start_up_lines_count_as_noise():
    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "I0000 00:00:1796173275.883577    7299 port.cc:153] oneDNN custom operations are on.",
             "I0000 00:00:1796173275.889311    7299 cudart_stub.cc:31] Could not find cuda drivers on your machine",
             "E0000 00:00:1796173285.121677    7299 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error"]
    kept = ["E0000 00:00:1796173285.121677    7299 op_kernel.cc:1830] OP_REQUIRES failed at conv_ops.cc",
            "UserWarning: something a user should see", "Traceback (most recent call last):"]
    assert all(STARTUP_NOISE.search(line) for line in noise)
    assert not any(STARTUP_NOISE.search(line) for line in kept)


@pytest.mark.slow
def test_a_run_says_the_gan_still_to_train_in_its_time_left_and_while_it_trains(tmp_path, npz_file, monkeypatch):
    """The line after the baseline counts the GAN's estimate (fabricated here: an hour), and the GAN's
    training writes progress lines (here every step, instead of every minute) at verbose 0."""
    import functools

    import tfganaug.experiment.models as models
    import tfganaug.experiment.runner as runner
    from tfganaug.config import load_config
    from tfganaug.experiment import train
    from tfganaug.training.callbacks import ProgressLines

    gan = {"model": "cgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 6,
           "sample_every": 0}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, groups=["baseline", {"type": "gan", "gan": gan}],
                                               output={"gan_metrics": False})))
    asked = []
    monkeypatch.setattr(runner, "run_model_seconds", lambda config, splits, trained: asked.append(trained(config.groups[1], 0))
                        or [0, 3600])
    monkeypatch.setattr(models, "ProgressLines", functools.partial(ProgressLines, every_seconds=0))
    lines, config = [], load_config(path)
    train(config, tmp_path / "run", log=lines.append, verbose=0)
    text = "\n".join(map(str, lines))
    assert asked == [False] and re.search(r"\[1/2\] baseline seed 0: .*, about 6\d min left\n", text)
    assert re.search(r"\n  GAN cgan \(seed 0\): epoch 1/1, step 1/\d+, about .* left of it\n(.*\n)*\[2/2\] cgan", text)
    # A rerun would count this GAN as trained (0 s to come), not a seed whose GAN it has not trained.
    assert models.RunModels(config, tmp_path / "run").trained(config.groups[1], 0)
    assert not models.RunModels(config, tmp_path / "run").trained(config.groups[1], 1)


def test_progress_lines_count_every_step_of_an_execution():
    """Keras calls `on_train_batch_end` once per execution (`steps_per_execution`), with its last step: 4
    steps done in 40 s is 10 s a step, so the 4 steps left of 8 take about 40 s."""
    import itertools

    from tfganaug.training.callbacks import ProgressLines

    ticks, lines = itertools.count(0, 40), []
    progress = ProgressLines("classifier", lines.append, every_seconds=0, clock=lambda: next(ticks))
    progress.params = {"epochs": 1, "steps": 8}
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    progress.on_train_batch_end(3)
    assert lines == ["  classifier: epoch 1/1, step 4/8, about 40 s left of it"]
