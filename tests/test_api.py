"""The Python API (`tfganaug.api`): the same config rules, plan, table and generators as the CLI."""

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

import tfganaug
from tests.conftest import make_imageset, tiny_config, write_npz
from tfganaug.cli import main
from tfganaug.config import load_config
from tfganaug.errors import ConfigError, DataError, UserError
from tfganaug.experiment import estimate, make_splits
from tfganaug.experiment.progress import Progress

GAN = {"model": "cgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 2, "batch_size": 6,
       "sample_every": 0}


def _config_file(root, **sections):
    raw = tiny_config(write_npz(root / "tiny.npz"), groups=["baseline", {"type": "gan", "gan": GAN}],
                      output={"gan_metrics": False}, **sections)
    path = root / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny config (a baseline and a GAN group) run by the CLI and by the API."""
    root = tmp_path_factory.mktemp("api")
    path = _config_file(root)
    assert main(["train", str(path), "--out", str(root / "cli")]) == 0
    results = tfganaug.Experiment.from_yaml(path).run(out=root / "api", log=lambda *_: None)
    return root, results


@pytest.mark.slow
def test_the_api_returns_the_table_the_cli_writes(runs):
    root, results = runs
    assert results == tfganaug.Results(root / "api")
    # The CLI's run of the same config gives the same table, verdict and per-group numbers.
    cli = tfganaug.Results(root / "cli")
    assert cli.records == results.records and cli.verdict == results.verdict and cli.table == results.table
    saved = json.loads((root / "api" / "results.json").read_text())
    assert results.verdict == saved["verdict"] and [r["group"] for r in results.records] == ["baseline", "cgan-pseudo_label"]
    for record, row in zip(results.records, saved["summary"]):
        assert (record["accuracy_mean"], record["accuracy_std"]) == tuple(row["accuracy"])
        assert record["acc_c1_mean"] == row["per_class_accuracy"]["c1"][0] and record["seeds"] == 1
    # Named and valued as the columns of results.csv (which rounds to 6 decimals).
    for record, row in zip(results.records, csv.DictReader((root / "api" / "results.csv").open())):
        assert list(record) == list(row)
        for key, value in row.items():
            if value and key not in ("group", "type"):
                assert str(record[key]) == value or float(record[key]) == pytest.approx(float(value), abs=1e-6)
    assert results.results_json.exists() and results.report_html.exists() and len(results.plots) == 2
    assert [p.parent.parent.parent.name for p in results.sample_grids] == ["gans"]
    # A notebook shows the verdict and the table.
    assert results.verdict in results._repr_markdown_() and "| cgan-pseudo_label | 1 | 27 |" in results._repr_markdown_()
    html = results._repr_html_()
    assert "<table>" in html and "<td>cgan-pseudo_label</td>" in html and "Verdict:" in html


@pytest.mark.slow
def test_a_generator_from_a_run_and_from_its_export_make_the_asked_classes(runs, tmp_path):
    root, _ = runs
    generator = tfganaug.load_generator(root / "api")
    assert generator.conditional and generator.class_names == ["c0", "c1", "c2"]
    images = generator(labels=["c0", "c2", "c2"], seed=3)
    assert images.shape == (3, 8, 8, 1) and images.dtype == np.uint8
    assert np.array_equal(images, generator(labels=[0, 2, 2], seed=3))  # names and indices alike
    assert not np.array_equal(images[1], images[2])  # each image its own noise
    with pytest.raises(UserError, match="no class 'c9'; classes: c0, c1, c2"):
        generator(labels=["c9"])
    with pytest.raises(UserError, match="give labels"):
        generator(count=2)
    assert main(["export", str(root / "api"), "--out", str(tmp_path), "--name", "tiny"]) == 0
    for path in (tmp_path / "tiny" / "1", tmp_path / "tiny"):  # the version folder, or its name folder
        exported = tfganaug.load_generator(path)
        assert exported.class_names == generator.class_names
        same = exported(labels=[0, 2, 2], seed=3).astype(int)
        assert np.abs(same - images).max() <= 1  # the same generator and noise, up to rounding


def test_a_generator_draws_fresh_noise_on_every_call_unless_given_a_seed():
    """Calling a loaded generator twice gives new images (as a user asking for more expects); a seed
    still repeats them."""
    from tests.replicas import tiny_gan
    from tfganaug.generator import Generator

    generator = Generator(tiny_gan("cgan"), ["c0", "c1", "c2"], (8, 8, 1), "tiny")
    first, second = generator(labels=[0, 1, 2, 2]), generator(labels=[0, 1, 2, 2])
    assert first.shape == (4, 8, 8, 1) and not np.array_equal(first, second)
    assert np.array_equal(generator(labels=[0, 1, 2, 2], seed=5), generator(labels=[0, 1, 2, 2], seed=5))
    unconditional = Generator(tiny_gan("gan"), ["c0", "c1", "c2"], (8, 8, 1), "tiny")
    assert not np.array_equal(unconditional(count=3), unconditional(count=3))


def test_a_non_chief_worker_gets_the_results_it_wrote_not_the_chiefs(tmp_path, npz_file, monkeypatch):
    """On a multi-worker run, worker 1 writes `worker-1/` and can finish before the chief has written
    the run folder: `run` returns worker 1's results, never reads the chief's half-made folder."""
    import tfganaug.experiment.runner as runner

    monkeypatch.setattr(runner, "worker_folder", lambda run_dir, strategy=None: run_dir / "worker-1")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, groups=["baseline"])))
    results = tfganaug.Experiment.from_yaml(path).run(out=tmp_path / "run", log=lambda *_: None)
    assert results.run_dir == tmp_path / "run" / "worker-1" and results.results_json.exists()
    assert not (tmp_path / "run" / "results.json").exists() and [r["group"] for r in results.records] == ["baseline"]


def test_overrides_follow_the_rules_of_set(tmp_path, npz_file):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, groups=["baseline", "duplicate"])))
    experiment = tfganaug.Experiment.from_yaml(path, overrides={"classifier.epochs": 3, "groups.1.copies": 4,
                                                                "output.metric": "macro_f1"})
    assert experiment.config.classifier.epochs == 3 and experiment.config.groups[1].copies == 4
    assert experiment.config == load_config(path, ["classifier.epochs=3", "groups.1.copies=4",
                                                   "output.metric=macro_f1"])
    assert tfganaug.Experiment.from_yaml(path, ["classifier.epochs=3"]).config.classifier.epochs == 3
    # A bad key: the same ConfigError as `--set`, naming the file, the key and the allowed keys.
    with pytest.raises(ConfigError) as from_api:
        tfganaug.Experiment.from_yaml(path, overrides={"classifier.epochz": 2})
    with pytest.raises(ConfigError) as from_cli:
        load_config(path, ["classifier.epochz=2"])
    assert str(from_api.value) == str(from_cli.value)
    assert str(path) in str(from_api.value) and "classifier.epochz: unknown key" in str(from_api.value)
    with pytest.raises(ConfigError, match=r"overrides\['classifier.epochs.x'\]: 'classifier.epochs' is a value"):
        tfganaug.Experiment.from_yaml(path, overrides={"classifier.epochs.x": 1})
    with pytest.raises(ConfigError, match=r"overrides\['groups.7'\]: 'groups.7' needs a list index below 2"):
        tfganaug.Experiment.from_yaml(path, overrides={"groups.7": "baseline"})


def test_a_dry_run_plans_first_times_each_setting_once_and_writes_nothing(tmp_path, npz_file, monkeypatch):
    acgan = {"type": "gan", "gan": {**GAN, "model": "acgan"}}
    raw = tiny_config(npz_file, groups=["baseline", {"type": "gan", "gan": GAN}, acgan],
                      sweep={"samples_per_class": [4, 6]})
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    timed, fits = [], []
    real, real_fit = estimate._time_classifier, estimate._time_fit
    monkeypatch.setattr(estimate, "_time_classifier", lambda *a: timed.append(a[1:]) or real(*a))
    monkeypatch.setattr(estimate, "_time_fit", lambda *a: fits.append(a) or real_fit(*a))
    shown = []
    dry = tfganaug.Experiment.from_yaml(path).dry_run(log=shown.append)
    # Both points' plans before any time; one classifier timing serves both points (same settings), and
    # one GAN timing both points and both GAN models (same network and sizes), which the line says.
    assert [i for i, text in enumerate(shown) if "= 3 classifier runs" in text] == [1, 3]
    assert "time of samples_per_class = 4" in shown[4] and "the whole sweep" in shown[-1]
    assert timed == [((8, 8, 1), 3)] and len(fits) == 1
    assert "GAN acgan (mlp)" in shown[5] and "(steps timed on GAN cgan (mlp): same network)" in shown[5]
    assert dry.text == "\n".join(shown) and dry.seconds > 0
    assert str(dry) == dry.text and repr(dry).startswith("DryRun(about ")
    unestimated = tfganaug.Experiment.from_yaml(path).dry_run(estimate=False, log=lambda *_: None)
    assert unestimated.seconds is None and "time on this machine" not in unestimated.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml", "tiny.npz"]
    # An error found once the data is read names the file, as the CLI's.
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: .*samples_per_class"):
        tfganaug.Experiment.from_yaml(path, {"sweep": None, "data.samples_per_class": 40}).dry_run(log=print)


def test_a_dry_run_fetches_what_the_run_would_and_says_so_first(tmp_path, monkeypatch):
    """With data.download: true the dry run downloads as the run does (here a fake keras.datasets
    download: no network), after a line naming it; without it, nothing is fetched and the error says how."""
    from tfganaug.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fashion_mnist, "KERAS_CACHE_DIR", tmp_path / "none2")
    train, test = make_imageset(10, 8, (28, 28)), make_imageset(10, 2, (28, 28), seed=1)
    fetched = []
    monkeypatch.setattr(fashion_mnist, "_download", lambda: fetched.append(1) or (
        (train.images[..., 0], train.labels), (test.images[..., 0], test.labels)))
    raw = tiny_config("unused", data={"source": "fashion_mnist", "download": True, "samples_per_class": 4,
                                      "val_per_class": 2})
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    shown = []
    tfganaug.Experiment.from_yaml(path).dry_run(estimate=False, log=shown.append)
    assert fetched == [1] and shown[0] == ("data.download: true: fetching fashion_mnist (through keras.datasets) "
                                           "first, as the run would (kept for the run)")
    assert "= 1 classifier runs" in shown[1] and "t-shirt" in shown[1]  # then the plan of the fetched data
    with pytest.raises(DataError, match="set data.download: true"):
        tfganaug.Experiment.from_yaml(path, {"data.download": False}).dry_run(estimate=False, log=shown.append)
    assert fetched == [1]


def test_cyclegans_of_the_same_networks_share_one_timing(tmp_path, npz_file, monkeypatch):
    first = {"name": "m", "domain_a": ["c0"], "domain_b": ["c1"], "filters": 4, "downsamplings": 1,
             "residual_blocks": 1, "d_filters": 4, "d_layers": 1, "epochs": 2, "decay_epochs": 1, "batch_size": 4,
             "pool_size": 4}
    second = {**first, "name": "n", "domain_a": ["c2"], "epochs": 3}  # other classes, longer: same steps
    groups = [{"type": "translation", "name": f"cyc-{m}", "translations": [{"model": m, "from": a, "to": "c1",
                                                                           "count": 2}]}
              for m, a in (("m", "c0"), ("n", "c2"))]
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, cyclegans=[first, second], groups=groups)))
    config = load_config(path)
    fits, real_fit = [], estimate._time_fit
    monkeypatch.setattr(estimate, "_time_fit", lambda *a: fits.append(a) or real_fit(*a))
    _, m, n = estimate.estimate_times(config, make_splits(config.data))
    assert len(fits) == 1 and (m.setup_seconds, m.step_seconds) == (n.setup_seconds, n.step_seconds)
    assert (m.timed_as, n.timed_as) == ("", "CycleGAN m") and n.steps == 3 * 2  # 6 images a domain, batch 4
    assert "(steps timed on CycleGAN m: same network)" in "\n".join(estimate.describe_times([m, n]))


def test_the_time_left_comes_from_each_groups_own_runs():
    now = [0.0]
    progress = Progress(["a", "b", "a", "a"], clock=lambda: now[0])
    now[0] = 10
    assert progress.finished("a") == 10 + 10 + 10  # b (not seen yet) at the mean of all finished runs
    now[0] = 40
    assert progress.finished("b") == 10 + 10  # each a at a's own 10 s, not at the mean of all (20)
    now[0] = 41
    assert progress.finished("a", trained=False) == 10  # loaded, not trained: teaches nothing
    now[0] = 61
    assert progress.describe("a") == ""  # nothing left
    assert Progress(["a", "b"], clock=lambda: 0).describe("a", trained=False) == ""  # nothing measured yet


def test_the_time_left_counts_the_models_still_to_train():
    """After the controls, the GAN group's runs still to come count its GANs' estimate (600 s each),
    not only the controls' pace; a GAN slower than its estimate makes its group's later runs slower."""
    now = [0.0]
    progress = Progress(["baseline", "baseline", "gan", "gan", "gan2"], clock=lambda: now[0])
    progress.expect_models([0, 0, 600, 600, 0])
    now[0] = 10
    assert progress.finished("baseline") == 10 + 610 + 610 + 10  # not 40: the two GANs are still to train
    now[0] = 20
    assert progress.finished("baseline") == 610 + 610 + 10
    now[0] = 20 + 730  # its GAN took 720 s, not 600, and its classifier 10 s
    assert progress.finished("gan") == (130 + 600) + 50  # gan2 (unseen): the mean of 10, 10 and 730 - 600
    loaded = Progress(["gan", "gan"], clock=lambda: now[0])
    loaded.expect_models([600, 600])
    assert loaded.finished("gan", trained=False) is None and loaded.models == [600]  # its GAN was not trained


def test_gan_classes_train_with_plain_keras_compile_and_fit():
    import keras

    from tfganaug.gans import ACGAN
    from tfganaug.networks import build_mlp_discriminator, build_mlp_generator

    keras.utils.set_random_seed(0)
    generator = build_mlp_generator(4, (8, 8, 1), num_classes=3, hidden_units=(8,))
    discriminator = build_mlp_discriminator((8, 8, 1), ACGAN.discriminator_outputs(3), hidden_units=(8,))
    gan = ACGAN(generator, discriminator, latent_dim=4, num_classes=3, seed=0)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    before = [w.copy() for w in generator.get_weights()]
    images = np.random.default_rng(0).uniform(-1, 1, (12, 8, 8, 1)).astype(np.float32)
    history = gan.fit(images, np.arange(12) % 3, batch_size=4, epochs=2, verbose=0)
    assert all(np.isfinite(history.history[k]).all() for k in ("d_loss", "g_loss"))
    assert any(not np.array_equal(a, b) for a, b in zip(before, generator.get_weights()))
    assert gan.generate(labels=[0, 1, 2], seed=0).shape == (3, 8, 8, 1)


def test_import_tfganaug_does_not_import_tensorflow():
    code = "import sys, tfganaug; tfganaug.Experiment; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
