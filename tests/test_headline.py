"""The headline metric of `output.metric: auto`: balanced accuracy on unbalanced classes, said in words."""

import json

import yaml

import tfganaug
from tests.conftest import tiny_config
from tfganaug.evaluation.headline import headline_metric

NAMES = ["cat", "dog", "fox"]


def test_unbalanced_training_classes_rank_by_balanced_accuracy_and_say_why():
    assert headline_metric("auto", [40, 200, 200], [100, 100, 100], NAMES) == (
        "balanced_accuracy", "classes are unbalanced (cat 40 vs dog 200 training images): ranked by balanced "
                             "accuracy; accuracy favours the large classes")


def test_an_unbalanced_test_split_is_enough():
    metric, why = headline_metric("auto", [50, 50, 50], [30, 90, 60], NAMES)
    assert metric == "balanced_accuracy" and "(cat 30 vs dog 90 test images)" in why


def test_balanced_data_keeps_accuracy_and_explicit_settings_are_kept():
    # 1.4x is within the tolerance: splits of a folder are rarely exactly equal.
    assert headline_metric("auto", [50, 50, 50], [100, 140, 100], NAMES) == (
        "accuracy", "classes are balanced: ranked by accuracy")
    assert headline_metric("accuracy", [40, 200, 200], [30, 90, 60], NAMES) == ("accuracy", "")
    assert headline_metric("macro_f1", [50, 50, 50], [50, 50, 50], NAMES) == ("macro_f1", "")


def _run(tmp_path, npz_file, name, **sections):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tiny_config(npz_file, **sections)))
    results = tfganaug.Experiment.from_yaml(path).run(out=tmp_path / name, log=lambda *_: None)
    return json.loads(results.results_json.read_text())


def test_a_run_on_unbalanced_classes_without_output_metric_ranks_by_balanced_accuracy(tmp_path, npz_file):
    """c0 made rare (3 of 6 training images): the table, intervals and verdict rank by balanced accuracy,
    and the margin of `statistics` is the run's."""
    data = {"source": "npz", "path": str(npz_file), "samples_per_class": 6, "val_per_class": 2, "rare": {0: 0.5}}
    saved = _run(tmp_path, npz_file, "auto", data=data, statistics={"equivalence_margin": 2.5})
    statistics = saved["statistics"]
    assert statistics["metric"] == "balanced_accuracy" and statistics["equivalence_margin"] == 2.5
    assert statistics["metric_reason"].startswith("classes are unbalanced (c0 3 vs c1 6 training images)")
    assert saved["verdict"].endswith(f"- Metric: {statistics['metric_reason']}.")
    assert "accuracy" in saved["summary"][0]  # accuracy stays beside it
    explicit = _run(tmp_path, npz_file, "explicit", data=data, output={"metric": "accuracy"})
    assert explicit["statistics"]["metric"] == "accuracy" and explicit["statistics"]["metric_reason"] == ""


def test_the_dry_run_says_the_metric_and_the_seeds_an_earlier_run_needs(tmp_path, npz_file):
    """An earlier run in the run folder (fabricated: d_s = +1, 0, -1 points, 7 seeds for +-1 point by
    hand, tests/test_verdict.py) gives the dry run its seeds; at +-3 points 3 seeds are enough."""
    from tests.test_verdict import CONTROL, _runs
    from tfganaug.reporting.results import write_results

    write_results(tmp_path / "earlier", CONTROL + _runs("gan", "gan", [(90, 100), (100, 100), (110, 100)]),
                  ["c0", "c1"], "tiny")
    path = tmp_path / "exp.yaml"
    for margin, seeds in ((1.0, 7), (3.0, 3)):
        path.write_text(yaml.safe_dump(tiny_config(npz_file, statistics={"equivalence_margin": margin})))
        shown = []
        tfganaug.Experiment.from_yaml(path).dry_run(estimate=False, log=shown.append, out=tmp_path / "earlier")
        text = "\n".join(shown)
        assert "headline metric: accuracy: classes are balanced: ranked by accuracy" in text
        assert "earlier run: gan against base, 3 seeds: +0.00 ± 2.48 points of accuracy" in text
        assert f"seeds for ±{margin:g} (statistics.equivalence_margin): about {seeds}" in text
    shown = []
    tfganaug.Experiment.from_yaml(path).dry_run(estimate=False, log=shown.append, out=tmp_path / "none")
    assert "earlier run" not in "\n".join(shown)
