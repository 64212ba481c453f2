"""`tfganaug merge`: run folders of one experiment made apart (a seed each) give the results of one run of
every seed; folders that are not one experiment's, overlap, are unfinished or of another precision are
refused with a message naming the difference, and nothing is written."""

import json
import re
import shutil

import pytest
import yaml

from tests.conftest import tiny_config, without_timings, write_npz
from tfganaug.cli import main
from tfganaug.config import validate
from tfganaug.errors import UserError
from tfganaug.experiment.merge import merged_config

pytestmark = pytest.mark.slow
GAN = {"model": "acgan", "network": "mlp", "latent_dim": 4, "hidden_units": [8], "epochs": 1, "batch_size": 8}


def _results(run, name="results.json"):
    return json.loads((run / name).read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"serial": one run of seeds 0 and 1, "a": seed 0 alone, "b": seed 1 alone}: a baseline and an ACGAN group."""
    folder = tmp_path_factory.mktemp("merge")
    raw = tiny_config(write_npz(folder / "tiny.npz"), seeds=[0, 1], runtime={"mixed_precision": "off"},
                      groups=["baseline", {"type": "gan", "gan": GAN, "labeling": "pseudo_label"}])
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(folder / "serial")]) == 0
    for name, seed in (("a", 0), ("b", 1)):
        assert main(["train", str(path), "--out", str(folder / name), "--set", f"seeds=[{seed}]"]) == 0
    return {name: folder / name for name in ("serial", "a", "b")}


def test_two_one_seed_folders_merge_into_the_results_of_one_two_seed_run(runs, tmp_path):
    out = tmp_path / "merged"
    assert main(["merge", str(runs["a"]), str(runs["b"]), "--out", str(out)]) == 0
    mine, theirs = _results(out), _results(runs["serial"])
    assert [(r["group"], r["seed"]) for r in mine["runs"]] == [("baseline", 0), ("baseline", 1),
                                                                ("acgan-pseudo_label", 0), ("acgan-pseudo_label", 1)]
    assert mine["summary"][1]["vs_baseline"]["accuracy"]["n"] == 2  # the paired test saw both seeds
    assert without_timings(mine) == without_timings(theirs)
    assert _results(out, "gan_metrics.json") == _results(runs["serial"], "gan_metrics.json")
    for name in ("config.resolved.yaml", "results.csv", "results.md"):
        assert (out / name).read_text() == (runs["serial"] / name).read_text(), name
    assert (out / "report.html").exists() and (out / "per_class_accuracy.png").exists()
    assert not list(out.rglob("*.weights.h5"))  # no weights are needed, none copied
    # ... but each GAN's last sample grid is, for the report.
    grids = [p.relative_to(out) for p in sorted(out.glob("gans/*/samples/*.png"))]
    assert len(grids) == 2 and all((runs["a"] / g).exists() or (runs["b"] / g).exists() for g in grids)
    assert all(f"]({g.as_posix()})" in (out / "report.md").read_text() for g in grids)


def _piece(runs, tmp_path, name="b"):
    """A copy of the piece `name` to spoil."""
    return shutil.copytree(runs[name], tmp_path / f"copy-{name}")


def _refused(runs, tmp_path, capsys, *pieces):
    out = tmp_path / "merged"
    assert main(["merge", *map(str, pieces), "--out", str(out)]) == 2
    assert not out.exists()  # nothing written, not even the folder
    return capsys.readouterr().err


def test_a_folder_of_another_config_is_refused_naming_the_key_and_both_values(runs, tmp_path, capsys):
    other = _piece(runs, tmp_path)
    config = other / "config.resolved.yaml"
    config.write_text(config.read_text().replace("samples_per_class: 6", "samples_per_class: 5"))
    err = _refused(runs, tmp_path, capsys, runs["a"], other)
    assert f"{config}: data.samples_per_class is 5, {runs['a']} has 6" in err


def test_other_groups_and_a_sweep_point_short_of_a_seed_are_named(tmp_path):
    config = lambda **sections: validate(tiny_config(tmp_path / "tiny.npz", **sections))  # noqa: E731
    a, b = tmp_path / "a", tmp_path / "b"
    with pytest.raises(UserError, match=re.escape(f"{b / 'config.resolved.yaml'}: groups has 2 entries (baseline, "
                                                  f"duplicate), {a} has 1 (baseline)")):
        merged_config([a, b], [config(seeds=[0]), config(seeds=[1], groups=["baseline", "duplicate"])])
    # Seed 0 ran points 4 and 8, seed 1 points 4 and 6: one run of both seeds needs each at every point.
    with pytest.raises(UserError, match=re.escape("no folder has seed 0 of samples_per_class=6")):
        merged_config([a, b], [config(seeds=[0], sweep={"samples_per_class": [4, 8]}),
                               config(seeds=[1], sweep={"samples_per_class": [4, 6]})])


def test_an_existing_out_folder_is_refused_and_left_as_it_was(runs, tmp_path, capsys):
    out = tmp_path / "merged"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["merge", str(runs["a"]), str(runs["b"]), "--out", str(out)]) == 2
    assert f"--out {out} exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_seed_in_two_folders_is_refused(runs, tmp_path, capsys):
    err = _refused(runs, tmp_path, capsys, runs["a"], runs["b"], _piece(runs, tmp_path, "a"))
    assert f"seed 0 is in both {runs['a']} and {tmp_path / 'copy-a'}" in err


def test_an_unfinished_folder_is_refused(runs, tmp_path, capsys):
    other = _piece(runs, tmp_path)
    (other / "runs" / "acgan-pseudo_label__seed1.json").unlink()
    err = _refused(runs, tmp_path, capsys, runs["a"], other)
    assert f"{other} is not finished: {other / 'runs' / 'acgan-pseudo_label__seed1.json'} is not found" in err


def test_runs_trained_in_another_precision_are_refused(runs, tmp_path, capsys):
    other = _piece(runs, tmp_path)
    for path in (other / "runs").glob("*.json"):
        path.write_text(path.read_text().replace('"precision": "float32"', '"precision": "mixed_bfloat16"'))
    err = _refused(runs, tmp_path, capsys, runs["a"], other)
    assert "was trained in mixed_bfloat16" in err and "in float32" in err


def test_pieces_read_with_other_metrics_merge_and_set_says_how_the_merged_run_is_read(runs, tmp_path, capsys):
    # A piece made before output.metric's default changed holds the old one: how results are read, not
    # what was trained, so it merges; --set chooses the reading, and nothing else.
    other = _piece(runs, tmp_path)
    config = other / "config.resolved.yaml"
    assert "metric: auto" in config.read_text()
    config.write_text(config.read_text().replace("metric: auto", "metric: accuracy"))
    out = tmp_path / "merged"
    assert main(["merge", str(runs["a"]), str(other), "--out", str(out), "--set", "output.metric=macro_f1",
                 "--set", "statistics.equivalence_margin=2"]) == 0
    merged = _results(out)
    assert merged["statistics"]["metric"] == "macro_f1" and merged["statistics"]["equivalence_margin"] == 2
    assert [(r["group"], r["seed"]) for r in merged["runs"]][:2] == [("baseline", 0), ("baseline", 1)]
    capsys.readouterr()
    err = _refused(runs, tmp_path / "again", capsys, runs["a"], runs["b"], "--set", "classifier.epochs=3")
    assert "merge --set classifier.epochs=3: merge may change only how the results are read" in err


def _sweep(tmp_path, npz_file, out, copies, seeds):
    """A sweep of the copies of a duplicate group, trained into `tmp_path/out`."""
    raw = tiny_config(npz_file, groups=["baseline", "duplicate"], sweep={"groups.1.copies": copies}, seeds=seeds,
                      output={"gan_metrics": False}, runtime={"mixed_precision": "off"})
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--out", str(tmp_path / out)]) == 0
    return tmp_path / out


def _assert_same_sweep(mine, theirs, points):
    for point in points:
        assert without_timings(_results(mine / point)) == without_timings(_results(theirs / point)), point
    assert (mine / "sweep.md").read_text() == (theirs / "sweep.md").read_text()


def test_a_sweep_run_a_seed_at_a_time_merges_into_the_two_seed_sweep(tmp_path, npz_file):
    serial = _sweep(tmp_path, npz_file, "serial", [2, 3], [0, 1])
    pieces = [_sweep(tmp_path, npz_file, f"seed{seed}", [2, 3], [seed]) for seed in (0, 1)]
    assert main(["merge", *map(str, pieces), "--out", str(tmp_path / "merged")]) == 0
    _assert_same_sweep(tmp_path / "merged", serial, ["groups.1.copies=2", "groups.1.copies=3"])


def test_sweep_points_run_apart_merge_into_the_whole_sweep(tmp_path, npz_file):
    serial = _sweep(tmp_path, npz_file, "serial", [2, 3, 4, 5], [0])
    pieces = [_sweep(tmp_path, npz_file, name, copies, [0]) for name, copies in (("high", [4, 5]), ("low", [2, 3]))]
    assert main(["merge", *map(str, pieces), "--out", str(tmp_path / "merged")]) == 0
    _assert_same_sweep(tmp_path / "merged", serial, [f"groups.1.copies={n}" for n in (2, 3, 4, 5)])
