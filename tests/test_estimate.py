"""`--dry-run`'s time estimate: the steps it counts, its warning, and the real run it predicts."""

import re
import time

import yaml

from tests.conftest import tiny_config
from tfganaug.cli import main
from tfganaug.config import load_config
from tfganaug.experiment import estimate, estimate_times, make_splits, train

GAN = {"model": "cgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 12, "batch_size": 4}


def _config(tmp_path, npz_file):
    raw = tiny_config(npz_file, seeds=[0, 1], groups=["baseline", "duplicate", {"type": "gan", "gan": GAN}])
    raw["classifier"]["epochs"] = 6
    raw["output"] = {"gan_metrics": False}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_steps_are_counted_over_groups_epochs_and_seeds(tmp_path, npz_file):
    config = load_config(_config(tmp_path, npz_file))
    classifier, gan = estimate_times(config, make_splits(config.data))
    # 18 training images (6 per class), batch 8: baseline 3 steps, duplicate (36 images) 5, gan (18 + 9) 4;
    # 6 epochs, 2 seeds. The GAN: 18 // 4 = 4 steps an epoch, 12 epochs, 2 seeds (shared by nothing else).
    assert (classifier.runs, classifier.steps) == (6, (3 + 5 + 4) * 6 * 2)
    assert (gan.what, gan.runs, gan.steps) == ("GAN cgan (mlp)", 2, 4 * 12 * 2)
    assert 0 < gan.step_seconds < gan.setup_seconds  # the first step traces


def test_a_model_over_an_hour_is_flagged_with_what_to_lower(tmp_path, npz_file, capsys, monkeypatch):
    monkeypatch.setattr(estimate, "LONG_RUN_SECONDS", 0.001)
    assert main(["train", str(_config(tmp_path, npz_file)), "--dry-run", "--set", "groups=[baseline]"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"classifier small_cnn +2 runs x \(\d+\.\d s set-up \+ 18 steps x \d+ ms\)", printed)
    assert "total about" in printed
    assert "WARNING: one run of classifier small_cnn takes about" in printed and "lower classifier.epochs" in printed


def test_the_estimate_is_within_a_factor_of_three_of_the_real_run(tmp_path, npz_file):
    config = load_config(_config(tmp_path, npz_file))
    times = estimate_times(config, make_splits(config.data))
    started = time.perf_counter()
    train(config, tmp_path / "run", log=lambda *_: None, verbose=0)
    real = time.perf_counter() - started
    estimated = sum(t.seconds for t in times)
    print(f"estimated {estimated:.1f} s, real {real:.1f} s")
    assert real / 3 < estimated < real * 3, (estimated, real, times)


def test_each_run_counts_the_models_it_trains_first_from_the_estimate(tmp_path, npz_file):
    """Fabricated times: the first run of each (model, seed) trains it; a group sharing the GAN's
    settings (sample_every aside) and the controls train nothing."""
    cyclegan = {"name": "m", "domain_a": ["c0"], "domain_b": ["c1"], "filters": 4, "downsamplings": 1,
                "residual_blocks": 1, "d_filters": 4, "d_layers": 1, "epochs": 2, "decay_epochs": 1}
    raw = tiny_config(npz_file, seeds=[0, 1], cyclegans=[cyclegan], groups=[
        "baseline", {"type": "gan", "gan": GAN}, {"type": "gan", "name": "again", "gan": {**GAN, "sample_every": 3}},
        {"type": "translation", "translations": [{"model": "m", "from": "c0", "to": "c1", "count": 2}]}])
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    times = [estimate.ModelTime("classifier", 8, 80, 1.0, 0.1, ""),
             estimate.ModelTime("GAN cgan (mlp)", 2, 200, 10.0, 1.0, ""),  # 110 s a seed
             estimate.ModelTime("CycleGAN m", 2, 100, 5.0, 0.5, "")]  # 30 s a seed
    assert estimate.run_model_seconds(config, None, times) == [0, 0, 110, 110, 0, 0, 30, 30]
    # A model an earlier command trained (the GAN of seed 0) counts 0; nothing to train: nothing timed.
    gan_of_seed_0 = lambda group, seed: group.type == "gan" and seed == 0  # noqa: E731
    assert estimate.run_model_seconds(config, None, times, trained=gan_of_seed_0) == [0, 0, 0, 110, 0, 0, 30, 30]
    assert estimate.run_model_seconds(config, None, trained=lambda group, seed: True) == [0] * 8
    assert estimate.run_model_seconds(load_config(path, ["groups=[baseline]"]), None) == []


def test_the_step_timer_counts_the_steps_of_each_execution(monkeypatch):
    """Keras calls the batch hooks once per execution of `steps_per_execution` steps, with its last step's
    index: executions of 4 steps taking 2 s (the first: trace and 4 steps), then 0.4 s and 0.4 s give
    0.1 s per step and a set-up of 2 s minus the first execution's 3 later steps."""
    import types

    clock = iter([0.0, 2.0, 2.0, 2.4, 2.4, 2.8])
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: next(clock))
    timer = estimate.StepTimer(0.0)
    timer.set_model(types.SimpleNamespace(stop_training=False))
    for last in (3, 7, 11):
        timer.on_train_batch_begin(last - 3)
        timer.on_train_batch_end(last)
    setup, step = timer.result()
    assert abs(step - 0.1) < 1e-9 and abs(setup - 1.7) < 1e-9


def test_models_are_timed_in_the_precision_the_run_trains_in(tmp_path, npz_file, monkeypatch):
    """`runtime.mixed_precision` sets the policy of the models the dry run times (the run trains in it: `auto`
    is bfloat16 on a CPU with bfloat16 arithmetic), and the policy before comes back after."""
    import keras

    seen = []

    class Recording(estimate.StepTimer):
        def on_train_begin(self, logs=None):  # the Dense layers' dtypes of the classifier / GAN network timed
            network = self.model.layers[-1]
            seen.append({layer.compute_dtype for layer in network.layers if isinstance(layer, keras.layers.Dense)})

    monkeypatch.setattr(estimate, "StepTimer", Recording)
    config = load_config(_config(tmp_path, npz_file))
    config = config.model_copy(update={"runtime": config.runtime.model_copy(update={"mixed_precision": "mixed_bfloat16"})})
    estimate_times(config, make_splits(config.data))
    assert keras.mixed_precision.global_policy().name == "float32"
    assert len(seen) == 2 and all("bfloat16" in dtypes for dtypes in seen)
