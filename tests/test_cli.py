"""End to end through the CLI entry point on tiny data, plus the results files."""

import csv
import json

import numpy as np
import pytest
import yaml

from tests.conftest import tiny_config
from tfganaug.cli import main
from tfganaug.data.npz import load_npz


@pytest.fixture
def config_file(tmp_path, npz_file):
    raw = tiny_config(npz_file, seeds=[0, 1], groups=[
        "baseline", "duplicate", "more_real", {"type": "classical", "augment": {"crop_padding": 1}},
        "class_weight", "oversample"])
    raw["data"].update(samples_per_class=4, extra_per_class=2, rare={"c1": 0.5})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_train_runs_every_control_group_and_writes_results(config_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(config_file), "--out", str(out), "--set", "classifier.epochs=2"]) == 0
    printed = capsys.readouterr().out
    assert "[12/12] oversample seed 1" in printed and "| group | seeds |" in printed
    results = json.loads((out / "results.json").read_text())
    assert [row["group"] for row in results["summary"]] == [
        "baseline", "duplicate", "more_real", "classical", "class_weight", "oversample"]
    sizes = {row["group"]: row["train_size"] for row in results["summary"]}
    # 3 classes, 4 per class with c1 rare (2): 10 images; extra = 2 per class (c1: 'same' not used) -> +6
    assert sizes == {"baseline": 10, "duplicate": 20, "more_real": 16, "classical": 10,
                     "class_weight": 10, "oversample": 12}
    for run in results["runs"]:
        assert 0 <= run["accuracy"] <= 1 and len(run["history"]["loss"]) == 2
        assert set(run["per_class_accuracy"]) == {"c0", "c1", "c2"}
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 6 and float(rows[0]["accuracy_mean"]) == pytest.approx(results["summary"][0]["accuracy"][0], abs=1e-6)
    assert "| baseline | 2 | 10 |" in (out / "results.md").read_text()
    for name in ("per_class_accuracy.png", "training_curves.png", "config.resolved.yaml"):
        assert (out / name).stat().st_size > 0
    assert not list(out.glob(".*"))  # no temporary files left behind

    # A rerun with the same settings trains nothing; a changed setting retrains.
    assert main(["train", str(config_file), "--out", str(out), "--set", "classifier.epochs=2"]) == 0
    assert capsys.readouterr().out.count("(already done)") == 12
    main(["train", str(config_file), "--out", str(out), "--set", "classifier.epochs=1", "--set", "groups=[baseline]",
          "--overwrite"])
    assert "(already done)" not in capsys.readouterr().out


def test_dry_run_prints_the_plan_without_training(config_file, tmp_path, capsys):
    assert main(["train", str(config_file), "--dry-run", "--out", str(tmp_path / "nothing")]) == 0
    printed = capsys.readouterr().out
    assert "6 groups x 2 seeds = 12 classifier runs" in printed
    assert "train     10 images  (c0=4, c1=2, c2=4)" in printed
    assert "group duplicate" in printed and not (tmp_path / "nothing").exists()


def test_the_dry_run_warns_when_patience_waits_fewer_steps_than_batch_norm_needs():
    """patience 3 on 10 images at batch 8: 2 steps an epoch, 6 steps of waiting < 100: warned, with the
    patience that waits 100 steps (50); patience 50 or none says nothing. The smallest group is named."""
    from tfganaug.config.schema import ClassifierConfig
    from tfganaug.experiment.planning import patience_warning

    sizes = {"group baseline": 10, "group gan": 20}
    (line,) = patience_warning(ClassifierConfig(batch_size=8, patience=3), sizes)
    assert line.startswith("Warning: classifier.patience 3 waits only 6 steps for group baseline (10 images, 2 steps "
                           "an epoch at batch 8)")
    assert line.endswith("Set classifier.patience to at least 50, or remove it (the best epoch is kept either way).")
    assert patience_warning(ClassifierConfig(batch_size=8, patience=50), sizes) == []
    assert patience_warning(ClassifierConfig(batch_size=8), sizes) == []


def test_the_dry_run_says_how_each_group_trains(config_file, capsys):
    """Each group line names its augmentation, mixing, labels, filter and loss (nothing for the baseline)."""
    groups = ('[baseline, {name: mix, type: classical, augment: {flip: null, translate: 0.05, mixup: {alpha: 0.3}}, '
              'loss: {type: logit_adjustment}}, {name: onlymix, type: classical, augment: {flip: null, translate: 0, '
              'cutmix: {alpha: 1.0}}}, {name: g, type: gan, gan: {model: cgan, epochs: 1}, '
              'synthesize: {ratio: 1.0}, labeling: teacher, filter: {keep_fraction: 0.5, by: entropy}}]')
    assert main(["train", str(config_file), "--dry-run", "--no-estimate", "--set", f"groups={groups}"]) == 0
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  group ")}
    assert lines["baseline"].endswith("training images")
    assert lines["mix"].endswith("training images, augment translate 0.05, mixup alpha 0.3, loss logit_adjustment")
    assert lines["onlymix"].endswith("training images, cutmix alpha 1")  # no empty "augment" before it
    assert lines["g"].endswith("training images, labels teacher, filter by entropy keep 0.5")

def test_the_dry_run_shows_the_patience_warning(config_file, capsys):
    assert main(["train", str(config_file), "--dry-run", "--set", "classifier.patience=2"]) == 0
    assert "Warning: classifier.patience 2 waits only" in capsys.readouterr().out
    # GAN groups alone train on more images than the real-trained classifier that labels and measures them.
    gan = "[{type: gan, gan: {model: cgan, epochs: 1}, synthesize: {ratio: 1.0}}]"
    assert main(["train", str(config_file), "--dry-run", "--no-estimate", "--set", "classifier.patience=2",
                 "--set", f"groups={gan}"]) == 0
    assert "waits only 4 steps for the real-trained classifier (10 images, 2 steps an epoch" in capsys.readouterr().out

def test_user_errors_exit_2_with_a_message_and_no_traceback(config_file, capsys):
    assert main(["train", str(config_file), "--set", "classifier.epochz=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "classifier.epochz: unknown key" in err and "Traceback" not in err
    assert main(["train", str(config_file), "--dry-run", "--set", "data.samples_per_class=500"]) == 2
    err = capsys.readouterr().err
    assert str(config_file) in err and "data.samples_per_class: class 'c0' needs 500" in err


@pytest.mark.parametrize("args, message", [
    (["--per-class", "abc"], "argument --per-class: must be an integer of at least 1, got 'abc'"),
    (["--per-class", "0"], "argument --per-class: must be an integer of at least 1, got '0'"),
    (["--seed", "-1"], "argument --seed: must be an integer of at least 0, got '-1'"),
])
def test_bad_numbers_on_the_command_line_are_named(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(tmp_path), "--out", str(tmp_path / "out"), *args])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_quickstart_on_fashion_mnist_dry_run(capsys):
    assert main(["train", "experiments/quickstart.yaml", "--dry-run", "--no-estimate", "--set", "data.source=fashion_mnist"]) == 0
    assert "shirt" in capsys.readouterr().out


def test_datasets_lists_sources(capsys):
    assert main(["datasets"]) == 0
    printed = capsys.readouterr().out
    assert "animal_mnist       yes" in printed and "tfds:cassava" in printed


def test_datasets_on_a_fresh_machine_prints_no_absl_warnings(tmp_path):
    """With an empty home (no ~/tensorflow_datasets), tfds warns about each study data set's variant
    folder that does not exist; `datasets` shows none of that, only its table."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import tfganaug

    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("TFDS_DATA_DIR", None)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(tfganaug.__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "tfganaug.cli", "datasets"], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tfds:cassava" in done.stdout and "WARNING:absl" not in done.stdout + done.stderr, done.stderr


def test_a_misspelt_tfds_name_is_answered_with_the_closest_names_in_a_few_lines(capsys):
    assert main(["train", "experiments/quickstart.yaml", "--dry-run", "--no-estimate",
                 "--set", "data.source=tfds:mnistt"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) <= 5, error
    assert "TensorFlow Datasets has no data set 'mnistt'; did you mean tfds:mnist" in error


@pytest.mark.slow
def test_gan_groups_share_one_trained_gan_and_label_as_asked(tmp_path, npz_file, capsys):
    gan = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}
    raw = tiny_config(npz_file, groups=[
        {"type": "gan", "gan": gan, "labeling": "pseudo_label"},
        {"type": "gan", "gan": gan, "labeling": "lsro", "synthesize": {"fill": True}},
        {"type": "gan", "gan": gan, "labeling": "all_in_one", "augment": {"flip": "horizontal"}},
        {"type": "gan", "gan": {**gan, "model": "gan"}, "labeling": "all_in_one"},
    ])
    raw["data"]["rare"] = {"c2": 0.5}
    path = tmp_path / "gan.yaml"
    path.write_text(yaml.safe_dump(raw))
    exported = tmp_path / "exported"
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--set", "output.export_gans=true",
                 "--set", f"output.export_root={exported}"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("training GAN acgan") == 1 and printed.count("training GAN gan") == 1
    summary = json.loads((tmp_path / "run" / "results.json").read_text())["summary"]
    sizes = {row["group"]: row["train_size"] for row in summary}
    # 6 + 6 + 3 real images: +50% = 8 (3, 3, 2); fill tops c2 up by 3
    assert sizes == {"acgan-pseudo_label": 23, "acgan-lsro": 18, "acgan-all_in_one+classical": 23,
                     "gan-all_in_one": 23}
    gan_folders = sorted((tmp_path / "run" / "gans").iterdir())
    assert [p.name.split("-")[0] for p in gan_folders] == ["acgan", "gan"]
    assert all((p / "gan.weights.h5").exists() and (p / "samples" / "epoch_0001.png").exists() for p in gan_folders)

    # GAN metrics, written at the end of the run: every GAN, overall and per class; GAN-train/test if conditional
    metrics = json.loads((tmp_path / "run" / "gan_metrics.json").read_text())
    acgan, gan = (metrics[p.name] for p in gan_folders)
    assert acgan["overall"]["n_real"] == 12 and acgan["overall"]["n_fake"] == 12  # the test split: 4 per class
    assert set(acgan["per_class"]) == {"c0", "c1", "c2"} and np.isfinite(acgan["overall"]["fid"])
    assert 0 <= acgan["gan_train"] <= 1 and 0 <= acgan["gan_test"] <= 1
    assert "gan_train" not in gan and gan["per_class"] == {}
    assert main(["evaluate-gan", str(tmp_path / "run"), "--gan", "acgan", "--per-class", "5"]) == 0
    metrics = json.loads((tmp_path / "run" / "gan_metrics.json").read_text())
    assert metrics[gan_folders[0].name]["overall"]["n_fake"] == 15 and gan_folders[1].name in metrics

    # export: at the end of the run as the YAML asked, and by command
    assert sorted(p.name for p in exported.iterdir()) == ["tiny-acgan-seed0", "tiny-gan-seed0"]
    assert (exported / "tiny-acgan-seed0" / "1" / "saved_model.pb").exists()
    assert main(["export", str(tmp_path / "run"), "--gan", "acgan", "--out", str(exported)]) == 0
    assert (exported / "run-acgan" / "1" / "saved_model.pb").exists()
    assert main(["export", str(tmp_path / "run"), "--gan", "acgan", "--name", "a/b", "--out", str(exported)]) == 2
    assert "--name 'a/b': use letters" in capsys.readouterr().err
    # evaluate-gan on an exported generator
    out_file = tmp_path / "exported_metrics.json"
    assert main(["evaluate-gan", str(exported / "tiny-acgan-seed0" / "1"), "--data", str(path),
                 "--out", str(out_file)]) == 0
    (entry,) = json.loads(out_file.read_text()).values()
    assert entry["overall"]["n_fake"] == 12 and entry["model"] == "acgan" and 0 <= entry["gan_train"] <= 1
    assert main(["evaluate-gan", str(exported / "tiny-acgan-seed0" / "1")]) == 2
    assert "give the experiment YAML of its data with --data" in capsys.readouterr().err

    # generate: PNG folders per class + an npz that is itself a valid data source
    out = tmp_path / "generated"
    assert main(["generate", str(tmp_path / "run"), "--gan", "acgan", "--per-class", "3", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["c0", "c1", "c2", "generated.npz"]
    assert all(len(list((out / c).glob("*.png"))) == 3 for c in ("c0", "c1", "c2"))
    generated = load_npz(out / "generated.npz").pool.concat(load_npz(out / "generated.npz").test)
    assert sorted(generated.counts()) == [3, 3, 3] and generated.images.shape[1:] == (8, 8, 1)
    assert main(["generate", str(tmp_path / "run"), "--gan", "gan", "--count", "4", "--out", str(tmp_path / "u")]) == 0
    assert len(list((tmp_path / "u" / "unlabelled").glob("*.png"))) == 4
    capsys.readouterr()
    for argv, message in [
        (["--per-class", "3", "--out", str(tmp_path / "x")], "several GANs; choose one with --gan, one of: acgan-"),
        (["--gan", "gan", "--per-class", "3", "--out", str(tmp_path / "x")], "unconditional (its images have no class): give --count"),
        (["--gan", "acgan", "--per-class", "3", "--out", str(out)], "already exists; choose a new --out"),
    ]:
        assert main(["generate", str(tmp_path / "run"), *argv]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["evaluate-gan", str(tmp_path / "u")]) == 2
    assert "no trained GAN here" in capsys.readouterr().err

    # inspect-features on an MLP generator: its dense layers, each activation vector folded into a grid
    assert main(["inspect-features", str(tmp_path / "run"), "--gan", "acgan", "--images", "2",
                 "--out", str(tmp_path / "maps")]) == 0
    (grid,) = (tmp_path / "maps").glob("generator*_dense*.png")  # two dense layers: middle and last are one
    assert grid.stat().st_size > 3000


def test_gan_group_config_errors(npz_file):
    from tfganaug.config import validate
    from tfganaug.errors import ConfigError

    with pytest.raises(ConfigError, match="unconditional 'gan' makes images without a class"):
        validate(tiny_config(npz_file, groups=[{"type": "gan", "gan": {"model": "gan"}}]))
    with pytest.raises(ConfigError, match="only loss 'bce' applies"):
        validate(tiny_config(npz_file, groups=[{"type": "gan", "gan": {"model": "dagan", "loss": "hinge"}}]))
    with pytest.raises(ConfigError, match="exactly one of synthesize.ratio"):
        validate(tiny_config(npz_file, groups=[{"type": "gan", "synthesize": {"ratio": 0.5, "fill": True}}]))


@pytest.mark.slow
def test_same_seed_and_config_give_the_same_results(tmp_path, npz_file):
    gan = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 2, "batch_size": 8}
    raw = tiny_config(npz_file, groups=["baseline", {"type": "classical", "augment": {"flip": "horizontal"}},
                                        {"type": "gan", "gan": gan}])
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(raw))
    runs = []
    for out in ("first", "second"):
        assert main(["train", str(path), "--out", str(tmp_path / out), "--set", "classifier.epochs=2"]) == 0
        runs.append(json.loads((tmp_path / out / "results.json").read_text())["runs"])
    for a, b in zip(*runs):
        assert a["history"] == b["history"] and a["confusion_matrix"] == b["confusion_matrix"], a["group"]
    first, second = ([p.read_text() for p in sorted((tmp_path / out / "gans").glob("acgan-*/losses.csv"))]
                     for out in ("first", "second"))
    assert first == second and len(first) == 1


@pytest.mark.slow
def test_a_data_efficient_gan_group_end_to_end(tmp_path, npz_file, capsys):
    """network: resnet with a moving average, adaptive augmentation, LeCam, two D steps, a kimg budget,
    truncated noise and the best checkpoint by GAN-train on the validation split."""
    gan = {"model": "cgan", "network": "resnet", "latent_dim": 4, "base_filters": 4, "d_filters": [4, 4],
           "loss": "hinge", "batch_size": 4, "d_steps": 2, "kimg": 0.04, "lecam": 0.1, "ema": {"decay": 0.9},
           "diffaugment": ["translation"], "ada_target": 0.6, "select": {"every": 1, "metric": "gan_train"}}
    raw = tiny_config(npz_file, groups=["baseline", {"type": "gan", "gan": gan,
                                                     "synthesize": {"ratio": 0.5, "truncation": 1.0}}])
    path = tmp_path / "gan.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "training GAN cgan (resnet, 3 epochs) on 18 images" in printed  # 40 images / 16 per epoch
    (folder,) = (tmp_path / "run" / "gans").iterdir()
    with (folder / "quality.csv").open() as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2", "3"]
    with (folder / "losses.csv").open() as f:
        assert "ada_p" in next(csv.DictReader(f))
    metrics = json.loads((tmp_path / "run" / "gan_metrics.json").read_text())
    assert "spread" in next(iter(metrics.values()))["overall"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "GAN quality during training" in report and "spread" in report


def test_dry_run_of_an_unprepared_tfds_study_says_what_to_do_about_the_data(tmp_path, capsys, monkeypatch):
    import tensorflow_datasets as tfds

    # With data.download: false, no download (no network wait) and never a module error: what to run and where.
    args = ["train", "experiments/cyclegan_cassava.yaml", "--dry-run", "--set", f"data.data_dir={tmp_path}"]
    assert main([*args, "--set", "data.download=false"]) == 2
    err = capsys.readouterr().err
    assert "'tfds:cassava' is not prepared in" in err and "data.data_dir" in err and "tfds build cassava" in err
    assert "module" not in err.lower() and "Traceback" not in err
    # With the study's data.download: true the dry run fetches as the run would (here: no network).
    def offline(*args, **kwargs):
        raise ConnectionError("no network here")

    monkeypatch.setattr(tfds, "load", offline)
    assert main(args) == 2
    printed = capsys.readouterr()
    assert "data.download: true: fetching tfds:cassava (" in printed.out
    assert "no network here" in printed.err and "tfds build cassava" in printed.err and "Traceback" not in printed.err


def test_a_sweep_over_a_nested_key_runs_each_point_in_its_own_folder(tmp_path, npz_file, capsys):
    raw = tiny_config(npz_file, groups=["baseline", "duplicate"], sweep={"groups.1.copies": [2, 3]})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    for copies in (2, 3):
        summary = json.loads((tmp_path / "run" / f"groups.1.copies={copies}" / "results.json").read_text())["summary"]
        assert {row["group"]: row["train_size"] for row in summary} == {"baseline": 18, "duplicate": 18 * copies}
    table = (tmp_path / "run" / "sweep.md").read_text()
    assert "| group \\ groups.1.copies | 2 | 3 |" in table and (tmp_path / "run" / "sweep_accuracy.png").exists()
    assert "groups.1.copies=2" in (tmp_path / "run" / "report.md").read_text()


def test_a_run_says_when_its_gan_metrics_mean_nothing_and_a_control_does_nothing(tmp_path, npz_file, capsys):
    """A classifier that cannot learn (a learning rate of 1e-9) reads the GAN metrics; oversampling on
    balanced classes: both are said in the log, results.json and results.md, and the verdict."""
    gan = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}
    raw = tiny_config(npz_file, groups=["baseline", "oversample", {"type": "gan", "gan": gan},
                                        {"name": "fill", "type": "gan", "gan": gan, "synthesize": {"fill": True}}])
    raw["classifier"]["learning_rate"] = 1e-9
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    idle = "Warning: control oversample (oversample) does nothing here: every class of the training split has 6 images"
    chance = "Warning: the GAN metrics of acgan-"
    assert idle in printed and chance in printed and "(metrics meaningless: see the warning): FID" in printed
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    (entry,) = json.loads((tmp_path / "run" / "gan_metrics.json").read_text()).values()
    assert entry["near_chance"] is True and entry["real_accuracy"] < 0.5
    assert any(n.startswith(idle) for n in results["notes"]) and any(n.startswith(chance) for n in results["notes"])
    assert ("\n- Its GAN's metrics mean nothing: the classifier trained on the real images, which they are read in, "
            "is at chance.\n") in results["verdict"]
    assert idle in (tmp_path / "run" / "results.md").read_text()
    # The copy of the baseline is not the best control; the group without images is compared with no control.
    statistics = results["statistics"]
    assert statistics["same_as"] == {"oversample": "baseline"} and statistics["best_control"] == "baseline"
    assert statistics["no_images"] == ["fill"] and results["summary"][3]["vs_control"] == {}


def test_ctrl_c_while_tensorflow_loads_ends_like_any_ctrl_c(monkeypatch, capsys):
    def interrupted_import():
        raise KeyboardInterrupt  # Ctrl-C in the seconds TensorFlow takes to import

    monkeypatch.setattr("tfganaug.cli.quiet_tensorflow", interrupted_import)
    try:
        code = main(["train", "experiments/quickstart.yaml"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while TensorFlow loads escaped main() as a traceback")
    assert code == 130
    assert "interrupted; finished runs are kept" in capsys.readouterr().err
