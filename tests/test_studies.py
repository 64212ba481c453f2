"""The study YAMLs in experiments/ run end to end from the CLI, shrunk by --set overrides."""

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_config
from tfganaug.cli import main
from tfganaug.config import load_config

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def _gan_overrides(path, **settings):
    """--set arguments giving every GAN group of a study YAML the same tiny settings (so they still share GANs)."""
    groups = load_config(path).groups
    return [arg for i, group in enumerate(groups) if group.type == "gan"
            for key, value in settings.items() for arg in ("--set", f"groups.{i}.gan.{key}={value}")]


def _tiny_data(per_class):
    return ["--set", "seeds=[0]", "--set", f"data.samples_per_class={per_class}", "--set", "data.val_per_class=2",
            "--set", "data.test_per_class=4", "--set", "classifier.epochs=1"]


@pytest.mark.slow
def test_fashion_mnist_study_runs_every_group(tmp_path, capsys):
    path = EXPERIMENTS / "acgan_fashion_mnist.yaml"
    argv = ["train", str(path), "--out", str(tmp_path / "run"), *_tiny_data(6),
            "--set", "classifier.hidden_units=[16]", "--set", "output.gan_metrics=false",
            *_gan_overrides(path, hidden_units="[8]", latent_dim=4, epochs=1, batch_size=16)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("training GAN") == 2  # one CGAN and one ACGAN, each shared by three labelings
    summary = json.loads((tmp_path / "run" / "results.json").read_text())["summary"]
    assert [row["group"] for row in summary] == [
        "no-GAN", "cgan-pseudo_label", "cgan-lsro", "cgan-all_in_one",
        "acgan-pseudo_label", "acgan-lsro", "acgan-all_in_one"]
    assert {row["train_size"] for row in summary[1:]} == {90}  # 60 real + 50%


@pytest.mark.slow
def test_dagan_sweep_runs_every_group_at_every_size(tmp_path, capsys):
    path = EXPERIMENTS / "dagan_lowdata.yaml"
    argv = ["train", str(path), "--out", str(tmp_path / "run"), *_tiny_data(4),
            "--set", "sweep.samples_per_class=[2,4]", "--set", "classifier.epochs=1",
            "--set", "output.gan_metrics=false",  # tested in test_cli; here: the sweep
            # MLP pairs: the sweep and the groups are under test here, the DCGAN pair in test_gans
            *_gan_overrides(path, network="mlp", base_filters="null", d_filters="null", hidden_units="[8]",
                            latent_dim=4, kimg="null", epochs=1, batch_size=16)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("training GAN") == 6  # gan, sgan, dagan (shared by DAGAN_aug) at each size
    table = (tmp_path / "run" / "sweep.md").read_text()
    assert "| group \\ samples_per_class | 2 | 4 |" in table
    for group in ("C", "C_aug", "vanilla_GAN", "semi_GAN", "DAGAN", "DAGAN_aug"):
        assert f"| {group} | " in table
    assert (tmp_path / "run" / "sweep_accuracy.png").stat().st_size > 10_000
    assert not (tmp_path / "run" / "samples_per_class=2" / "gan_metrics.json").exists()  # output.gan_metrics=false
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Accuracy against samples per class" in report and "## samples_per_class=4: Results" in report
    assert (tmp_path / "run" / "report.html").stat().st_size > 50_000  # the plots are embedded
    sizes = [json.loads((tmp_path / "run" / f"samples_per_class={n}" / "results.json").read_text())["summary"][0]["train_size"]
             for n in (2, 4)]
    assert sizes == [20, 40]


def test_dagan_c_aug_keeps_fashion_mnist_upright_and_centred():
    """C_aug and DAGAN_aug: small shifts and zooms, no flip or crop (every Fashion-MNIST shoe points one way)."""
    groups = {g.name: g for g in load_config(EXPERIMENTS / "dagan_lowdata.yaml").groups}
    augment = groups["C_aug"].augment
    assert augment.flip is None and augment.crop_padding == 0 and 0 < augment.translate <= 0.1 and 0 < augment.zoom <= 0.1
    assert groups["DAGAN_aug"].augment == augment and groups["DAGAN"].augment is None


def test_sweep_values_must_increase(tmp_path, npz_file):
    from tfganaug.errors import ConfigError

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, sweep={"samples_per_class": [6, 3]})))
    with pytest.raises(ConfigError, match=r"sweep\.samples_per_class.*distinct and increasing"):
        load_config(path)


def _cyclegan_overrides(path):
    """--set arguments shrinking every CycleGAN of a study YAML to a few filters and one epoch."""
    tiny = {"filters": 2, "downsamplings": 1, "residual_blocks": 0, "d_filters": 2, "d_layers": 1, "epochs": 1,
            "decay_epochs": 0, "batch_size": 4, "pool_size": 2}
    return [arg for i in range(len(load_config(path).cyclegans)) for key, value in tiny.items()
            for arg in ("--set", f"cyclegans.{i}.{key}={value}")]


def _tiny_tfds_study(path, tmp_path, num_examples, per_class, capsys):
    import tensorflow_datasets as tfds

    argv = ["train", str(path), "--out", str(tmp_path / "run"), "--set", "seeds=[0]",
            "--set", "data.image_size=[16,16]", "--set", f"data.samples_per_class={per_class}",
            "--set", "data.test_per_class=2", "--set", "data.val_per_class=1",
            # the loading path and the translation groups are under test here; MobileNetV2 is in test_classifiers
            "--set", "classifier.model=small_cnn", "--set", "classifier.input_size=null", "--set", "classifier.filters=[4]",
            "--set", "classifier.dense_units=8", "--set", "classifier.epochs=1", "--set", "classifier.batch_size=16",
            # mock_data replaces tfds.load, not the builder's is_prepared(): through load, as a download would
            "--set", "data.download=true", *_cyclegan_overrides(path)]
    with tfds.testing.mock_data(num_examples=num_examples):
        assert main(argv) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "results.json").read_text())["summary"]
    return printed, {row["group"]: row["train_size"] for row in summary}


@pytest.mark.slow
def test_cassava_study_runs_through_the_real_tfds_loader_on_mock_data(tmp_path, capsys):
    path = EXPERIMENTS / "cyclegan_cassava.yaml"
    printed, sizes = _tiny_tfds_study(path, tmp_path, 120, 4, capsys)
    assert printed.count("training CycleGAN") == 4  # healthy -> each disease
    assert sizes == {"non-transformed": 20, "naive": 20, "cyclegan": 20 + 4 * 100}


@pytest.mark.slow
def test_celeba_rare_study_runs_through_the_real_tfds_loader_on_mock_data(tmp_path, capsys):
    path = EXPERIMENTS / "cyclegan_celeba_rare.yaml"
    printed, sizes = _tiny_tfds_study(path, tmp_path, 1500, 8, capsys)
    assert printed.count("training CycleGAN") == 3
    # 8 classes x 8, the rare 011 with round(8 x 0.3906) = 3: trainA 59; trainAA doubles it; trainAB adds the
    # extra set (same counts); +cyc adds 158 translations to 011; +cyc+fill tops 011 up to 8 (5 = 2 + 2 + 1)
    assert sizes == {"trainA": 59, "trainAA": 118, "trainAB": 118, "trainA+cyc": 59 + 158, "trainA+cyc+fill": 64}


def test_the_two_regime_studies_differ_in_their_data_and_seeds_only():
    fashion, animal = (load_config(EXPERIMENTS / f"gan_regimes_{name}.yaml") for name in ("fashion", "animal"))
    for section in ("groups", "classifier", "runtime", "sweep", "output"):
        assert getattr(fashion, section) == getattr(animal, section), section
    assert fashion.data.model_copy(update={"source": "animal_mnist"}) == animal.data


@pytest.mark.slow
def test_the_regime_study_runs_every_group_on_a_long_tail(tmp_path, capsys):
    """Its long-tailed point, shrunk: head 8, ratio 4; every recipe on one shared GAN (Animal-MNIST's
    twin has the same groups: the test above)."""
    path = EXPERIMENTS / "gan_regimes_fashion.yaml"
    argv = ["train", str(path), "--out", str(tmp_path / "run"), *_tiny_data(8), "--set", "sweep=null",
            "--set", "data.imbalance_ratio=4", "--set", "output.gan_metrics=false",
            *_gan_overrides(path, network="mlp", base_filters="null", d_filters="null", hidden_units="[8]",
                            latent_dim=4, kimg="null", epochs=1, batch_size=16)]
    assert main(argv) == 0
    assert capsys.readouterr().out.count("training GAN") == 1
    summary = json.loads((tmp_path / "run" / "results.json").read_text())["summary"]
    # 8 * 4^(-i/9) for i = 0..9, rounded: 8, 7, 6, 5, 4, 4, 3, 3, 2, 2 = 44 real images; +100% or filled to 10 x 8.
    real, more, filled = 44, 88, 80
    assert {row["group"]: row["train_size"] for row in summary} == {
        "baseline": real, "aug": real, "rebal": real, "aug_rebal": real, "gan_pseudo": more, "gan_teacher": more,
        "gan_fill_rebal": filled, "gan_uncertain": more, "aug_rebal_gan_pseudo": more, "aug_rebal_gan_teacher": more,
        "aug_rebal_gan_fill": filled, "aug_rebal_gan_uncertain": more}
