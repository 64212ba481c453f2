from pathlib import Path

import pytest

from tests.conftest import tiny_config
from tfganaug.config import apply_override, load_config, validate
from tfganaug.errors import ConfigError

EXPERIMENTS = sorted(Path(__file__).parent.parent.joinpath("experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_shipped_experiments_validate(path):
    assert load_config(path).groups


def _error(raw):
    with pytest.raises(ConfigError) as info:
        validate(raw, source="exp.yaml")
    return str(info.value)


def test_unknown_key_names_file_path_and_allowed_keys(npz_file):
    raw = tiny_config(npz_file)
    raw["classifier"]["epochz"] = 3
    message = _error(raw)
    assert "exp.yaml" in message and "classifier.epochz: unknown key" in message
    assert "epochs" in message and "did you mean 'epochs'" in message


def test_unknown_key_inside_a_group(npz_file):
    raw = tiny_config(npz_file, groups=["baseline", {"type": "classical", "augment": {"flipp": "horizontal"}}])
    assert "groups.1.augment.flipp: unknown key" in _error(raw)


def test_wrong_type_names_the_key_and_value(npz_file):
    raw = tiny_config(npz_file)
    raw["classifier"]["epochs"] = "three"
    assert "classifier.epochs: Input should be a valid integer" in _error(raw)
    assert "'three'" in _error(raw)


@pytest.mark.parametrize("section,key,value,expected", [
    ("data", "source", "mnist", "unknown data source 'mnist'; allowed: animal_mnist, fashion_mnist, folder, npz, tfds:<name>"),
    ("classifier", "model", "resnet", "classifier.model: Input should be 'mlp', 'small_cnn', 'mobilenet_v2' or 'vgg16'"),
])
def test_unknown_names_list_what_is_allowed(npz_file, section, key, value, expected):
    raw = tiny_config(npz_file)
    raw[section][key] = value
    assert expected in _error(raw)


def test_unknown_group_type_lists_the_types(npz_file):
    message = _error(tiny_config(npz_file, groups=["baseline", "smote"]))
    assert "groups.1" in message and "'smote'" in message and "'oversample'" in message


def test_options_that_do_not_fit_the_model(npz_file):
    raw = tiny_config(npz_file)
    raw["classifier"]["hidden_units"] = [4]
    assert "option(s) ['hidden_units'] do not apply to model 'small_cnn'" in _error(raw)


def test_cross_section_checks(npz_file):
    assert "give these a distinct `name`: ['baseline']" in _error(tiny_config(npz_file, groups=["baseline", "baseline"]))
    assert "set data.extra_per_class" in _error(tiny_config(npz_file, groups=["more_real"]))


def test_folder_source_needs_path_and_size():
    assert "data.path is required for source 'folder'" in _error({"name": "x", "groups": ["baseline"], "data": {"source": "folder"}})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngroups: [baseline\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+, column \d+ is not valid YAML"):
        load_config(bad)


def test_yaml_is_read_with_the_safe_loader(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo hi']\ngroups: [baseline]\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


def test_overrides_reach_nested_keys_and_list_items(npz_file, tmp_path):
    import yaml

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, groups=["baseline", {"type": "duplicate"}])))
    config = load_config(path, ["classifier.epochs=3", "groups.1.copies=4", "groups.0.name=trainA", "seeds=[1, 2]"])
    assert config.classifier.epochs == 3 and config.groups[1].copies == 4
    assert config.groups[0].label == "trainA" and config.seeds == [1, 2]
    with pytest.raises(ConfigError, match="classifier.epochz: unknown key"):
        load_config(path, ["classifier.epochz=3"])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        apply_override({}, "classifier.epochs")
    with pytest.raises(ConfigError, match="needs a list index below 1"):
        apply_override({"groups": ["baseline"]}, "groups.5.name=x")


def test_a_sweep_over_any_key_path_is_checked_at_load(npz_file):
    raw = tiny_config(npz_file, groups=["baseline", "duplicate"], sweep={"groups.1.copies": [2, 3]})
    config = validate(raw)
    assert (config.sweep.key, config.sweep.values) == ("groups.1.copies", [2, 3])
    assert [point.groups[1].copies for point in map(config.sweep_point, config.sweep.values)] == [2, 3]
    assert "sweep: 'groups.1.copiez' is not a key path" in _error({**raw, "sweep": {"groups.1.copiez": [2, 3]}})
    assert "sweep groups.1.copies = 0 does not fit: groups.1.duplicate.copies" in _error(
        {**raw, "sweep": {"groups.1.copies": [0, 2]}})
    assert "sweep one setting" in _error({**raw, "sweep": {"groups.1.copies": [2, 3], "samples_per_class": [2, 4]}})
    assert "at least two distinct values" in _error({**raw, "sweep": {"groups.1.copies": [2, 2]}})
