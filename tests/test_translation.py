"""Translation groups: the plan fills exactly the counts asked; a tiny CycleGAN run end to end."""

import json

import pytest
import yaml

from tests.conftest import tiny_config
from tfganaug.cli import main
from tfganaug.config import Translation
from tfganaug.errors import ConfigError
from tfganaug.synthesis.translation import translation_plan

NAMES = ("000", "001", "010", "011")


def _t(model, source, target, count):
    t = Translation.model_validate({"model": model, "from": source, "to": target, "count": count})
    return t.model, t.from_, t.to, t.count


def test_plan_fills_exactly_the_counts_asked():
    counts = [402, 402, 402, 157]
    # rm315: 315 more images of the rare class from one model
    assert translation_plan([_t("C", "001", "011", 315)], counts, NAMES) == [("C", 1, 3, 315)]
    # fill to the others' count (402 - 157 = 245), evenly from three models: 82 + 82 + 81
    plan = translation_plan([_t("A", "000", "011", "fill"), _t("B", "001", "011", "fill"),
                             _t("C", "010", "011", "fill")], counts, NAMES)
    assert [row[3] for row in plan] == [82, 82, 81] and sum(row[3] for row in plan) == 245
    # a fixed count into the same class is taken off what fill adds
    plan = translation_plan([_t("A", "000", "011", 45), _t("B", "001", "011", "fill")], counts, NAMES)
    assert plan == [("A", 0, 3, 45), ("B", 1, 3, 200)]
    with pytest.raises(ConfigError, match="translations.to: unknown class '111'"):
        translation_plan([_t("A", "000", "111", 3)], counts, NAMES)


@pytest.mark.slow
def test_translation_group_trains_a_cyclegan_and_adds_labelled_images(tmp_path, npz_file, capsys):
    cyclegan = {"name": "m", "domain_a": ["c0"], "domain_b": ["c1", "c2"], "filters": 4, "downsamplings": 1,
                "residual_blocks": 1, "d_filters": 4, "d_layers": 1, "epochs": 2, "decay_epochs": 1,
                "batch_size": 4, "pool_size": 4, "sample_every": 1}
    raw = tiny_config(npz_file, cyclegans=[cyclegan], groups=["baseline", {
        "type": "translation", "name": "trainA+cyc+fill",
        "translations": [{"model": "m", "from": "c0", "to": "c1", "count": "fill"},
                         {"model": "m", "from": "c2", "to": "c0", "count": 2}]}])
    raw["data"]["rare"] = {"c1": 0.5}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().out.count("training CycleGAN m") == 1
    sizes = {r["group"]: r["train_size"] for r in json.loads((tmp_path / "run" / "results.json").read_text())["summary"]}
    assert sizes == {"baseline": 15, "trainA+cyc+fill": 15 + 3 + 2}  # c1: 3 -> 6 (fill), c0 +2
    (folder,) = (tmp_path / "run" / "gans").glob("cyclegan-m-*")
    assert sorted(p.name for p in (folder / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    assert len((folder / "losses.csv").read_text().splitlines()) == 3
    assert "cyclegan-m" in (tmp_path / "run" / "report.md").read_text()
    assert not (tmp_path / "run" / "gan_metrics.json").exists()  # GAN metrics are for GAN groups

    # inspect-features: a middle layer and the last layers of the A->B generator, one row per input image
    assert main(["inspect-features", str(tmp_path / "run"), "--gan", "m", "--images", "3",
                 "--out", str(tmp_path / "maps")]) == 0
    maps = sorted((tmp_path / "maps").glob("generator_ab_*.png"))
    assert len(maps) == 2 and all(p.stat().st_size > 5000 for p in maps)  # middle is also one of the last two here
    capsys.readouterr()
    assert main(["inspect-features", str(tmp_path / "run"), "--layers", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "--layers: unknown layer 'nope'; use middle, last or one of" in capsys.readouterr().err

    raw["groups"][1]["translations"][1]["from"] = "c1"  # c1 and c2 are both in domain B
    raw["groups"][1]["translations"][1]["to"] = "c2"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(tmp_path / "run2")]) == 2
    assert "must sit in opposite domains" in capsys.readouterr().err
