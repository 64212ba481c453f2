"""tf.distribute: two replicas train exactly what one device trains; a two-worker run agrees;
strategies, precision and XLA come from the config; bad settings give clear errors."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from tfganaug.training.classifier import fit_classifier
from tfganaug.cli import main
from tfganaug.config import RuntimeConfig
from tfganaug.distribute import call_in_batches, describe_strategy, make_strategy, runtime_scope, worker_folder
from tfganaug.errors import ConfigError, TrainingDiverged, UserError
from tfganaug.experiment import build_from_spec
from tfganaug.training.gan_folder import load_trained_gan
from tfganaug.networks.classifiers import build_small_cnn

from tests.conftest import tiny_config
from replicas import build_gan, gan_data  # see conftest.py

HERE = Path(__file__).parent
CASES = ["gan", "cgan", "acgan", "sgan", "dagan", "cgan-resnet", "cgan-features", "cyclegan", "classifier"]


def _run(args, env=None, timeout=600):
    return subprocess.run([sys.executable, str(HERE / "replicas.py"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def one_vs_two_devices(tmp_path_factory):
    """Every model trained on one CPU device and on two logical ones (one fresh process for all)."""
    out = tmp_path_factory.mktemp("replicas") / "report.json"
    done = _run(["equality", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("case", CASES)
def test_two_replicas_train_the_same_model_as_one_device(one_vs_two_devices, case):
    result = one_vs_two_devices[case]
    assert result["replicas"] == [1, 2]
    assert result["moved"] > 1e-3  # training did change the model ...
    assert result["weights"] < 1e-5  # ... and identically: summed gradients, global BN statistics, same noise
    assert result["losses"] < 1e-5  # logged losses are the global means, not one replica's


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _gan_weights(folder):
    """The weights of the finished GAN in `folder`, loaded as tfganaug loads it."""
    return load_trained_gan(folder, build_from_spec)[0].get_weights()


def test_two_workers_on_localhost_run_a_whole_experiment(tmp_path, npz_file):
    """`tfganaug train` on two worker processes (TF_CONFIG per worker): both finish the run with the
    same GAN and the same results, the chief in the run folder and worker 1 in `worker-1/`; the GAN
    is the one a single process trains (global-batch losses, the same noise)."""
    gan = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 2, "batch_size": 8}
    raw = tiny_config(npz_file, groups=[{"type": "gan", "gan": gan, "labeling": "pseudo_label"}],
                      runtime={"distribute": "multi_worker"}, output={"gan_metrics": False})
    config_path = tmp_path / "mw.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                      "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, "-m", "tfganaug.cli", "train", str(config_path),
                                       "--out", str(run)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=400)
        finally:
            for other in procs:
                if other.poll() is None and proc.returncode is None:
                    other.kill()
        assert proc.returncode == 0, out[-3000:]
        assert "training on multi_worker: 2 replicas on 2 workers" in out

    chief, other = (json.loads((folder / "results.json").read_text()) for folder in (run, run / "worker-1"))
    assert [r["group"] for r in chief["runs"]] == ["acgan-pseudo_label"]
    for mine, theirs in zip(chief["runs"], other["runs"]):  # every worker evaluated the whole test split
        assert mine["accuracy"] == theirs["accuracy"] and mine["confusion_matrix"] == theirs["confusion_matrix"]
        assert sum(map(sum, mine["confusion_matrix"])) == 12
    (gan_folder,) = (run / "gans").iterdir()
    other_folder = run / "worker-1" / "gans" / gan_folder.name
    assert (other_folder / "losses.csv").read_text() == (gan_folder / "losses.csv").read_text()

    # The same GAN on one device, in this process (it never joined a cluster).
    config_path.write_text(yaml.safe_dump({**raw, "runtime": {"distribute": "one_device"}}))
    assert main(["train", str(config_path), "--out", str(tmp_path / "single")]) == 0
    two_workers, other_gan = _gan_weights(gan_folder), _gan_weights(other_folder)
    one_device = _gan_weights(tmp_path / "single" / "gans" / gan_folder.name)
    assert len(two_workers) == len(other_gan) == len(one_device) > 0
    for mine, theirs, single in zip(two_workers, other_gan, one_device):
        np.testing.assert_array_equal(mine, theirs)  # kept in sync
        np.testing.assert_allclose(mine, single, atol=1e-5)


def test_call_in_batches_gives_what_one_call_gives():
    model = build_small_cnn((8, 8, 1), 3, filters=(4,), dense_units=4)
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 1)).astype("uint8")
    whole = np.asarray(model(images.astype("float32"), training=False))
    np.testing.assert_allclose(call_in_batches(model, images, batch_size=3), whole, rtol=1e-5, atol=1e-7)
    assert call_in_batches(model, images[:0]).shape == (0, 3)


def test_strategies_by_name():
    assert make_strategy("auto") is tf.distribute.get_strategy()  # one CPU: no wrapping at all
    one = make_strategy("one_device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy) and "CPU:0" in one.extended.worker_devices[0]
    mirrored = make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))
    # Logged in the config's words, not TensorFlow's class names.
    assert describe_strategy(one) == describe_strategy(make_strategy("auto")) == "one device"
    assert describe_strategy(mirrored) == f"mirrored: {mirrored.num_replicas_in_sync} replicas"


def test_bad_strategy_settings_say_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="TF_CONFIG environment variable is not set"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(UserError, match="cluster.worker"):
        make_strategy("multi_worker")
    with pytest.raises(UserError, match="runtime.tpu_address is not set"):
        make_strategy("tpu")
    with pytest.raises(UserError, match="choose one of auto, one_device"):
        make_strategy("gpus")


def test_config_rejects_an_unknown_strategy(tmp_path):
    from tfganaug.config import load_config

    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ngroups: [baseline]\nruntime: {distribute: gpus}\n")
    with pytest.raises(ConfigError, match=r"runtime\.distribute"):
        load_config(path)


def test_chief_writes_the_run_folder_other_workers_their_own(tmp_path):
    class Resolver:
        def __init__(self, task_type, task_id):
            self.task_type, self.task_id = task_type, task_id

        def cluster_spec(self):
            return tf.train.ClusterSpec({"worker": ["a:1", "b:1"]})

    class Strategy:
        def __init__(self, *task):
            self.cluster_resolver = Resolver(*task)

    assert worker_folder(tmp_path) == tmp_path
    assert worker_folder(tmp_path, Strategy("worker", 0)) == tmp_path
    assert worker_folder(tmp_path, Strategy("worker", 1)) == tmp_path / "worker-1"


def _tiny_gan():
    return build_gan("acgan"), gan_data()


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_a_gan_and_restores_the_policy(policy):
    with runtime_scope(RuntimeConfig(mixed_precision=policy)):
        assert keras.mixed_precision.global_policy().name == policy
        model, data = _tiny_gan()
        scaled = isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert scaled == (policy == "mixed_float16")  # loss scaling only where float16 needs it
        history = model.fit(data, epochs=1, verbose=0).history
        images = model.generate(labels=[0, 1], seed=0)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert images.dtype == np.float32 and images.shape == (2, 8, 8, 1)


def test_jit_compile_trains_a_gan_with_xla():
    model, data = _tiny_gan()
    before = [w.copy() for w in model.generator.get_weights()]
    model.jit_compile = True
    history = model.fit(data, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert any(not np.allclose(a, b) for a, b in zip(before, model.generator.get_weights()))


def test_a_diverging_classifier_stops_with_advice():
    model = build_small_cnn((8, 8, 1), 3, filters=(4,), dense_units=4)
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1)).astype("uint8")
    targets = np.eye(3, dtype="float32")[np.arange(16) % 3]
    with pytest.raises(TrainingDiverged, match=r"diverged in epoch \d+: loss = nan.*lower classifier.learning_rate"):
        fit_classifier(model, images, targets, epochs=20, batch_size=8, learning_rate=1e38, seed=0, verbose=0)


def test_yaml_off_means_no_mixed_precision(tmp_path):
    from tfganaug.config import load_config

    path = tmp_path / "run.yaml"
    path.write_text("name: x\ngroups: [baseline]\nruntime: {mixed_precision: off, jit_compile: false}\n")
    runtime = load_config(path).runtime
    assert runtime.mixed_precision == "off" and runtime.jit_compile is False
