"""Summaries over seeds: mean, std, the seeds' values or a bootstrap interval, comparisons with the
baseline and the best control (Holm-corrected), the table, and the verdict, on constructed runs."""

import csv
import io
import json

import numpy as np
import pytest

from tests.test_statistics import record
from tfganaug.reporting.results import explanation, markdown_table, summarize, write_results

CLASSES = ["c0", "c1"]
LABELS = np.repeat([0, 1], 100)  # 100 test images per class


def runs(group, kind, wrong_per_seed):
    """Records of `group`: on seed s, the first `wrong_per_seed[s]` images of each class are misclassified."""
    out = []
    for seed, wrong in enumerate(wrong_per_seed):
        predictions = LABELS.copy()
        for c in (0, 1):
            predictions[np.flatnonzero(LABELS == c)[:wrong]] = 1 - c
        out.append({**record(group, seed, LABELS, predictions, 2), "type": kind, "train_size": 10})
    return out


def test_two_seeds_show_their_values_instead_of_an_interval():
    rows, statistics = summarize(runs("g", "baseline", [50, 30]), CLASSES)
    (row,) = rows
    assert row["accuracy"] == pytest.approx((0.6, 0.1414213562))  # std with ddof=1
    assert row["ci"]["accuracy"] == (None, None) and row["seed_values"]["accuracy"] == pytest.approx([0.5, 0.7])
    assert row["vs_baseline"] == {} and statistics["baseline"] == "g" == statistics["best_control"]
    assert "| g | 2 | 10 | 60.00 ± 14.14 | seeds: 50.00, 70.00 | (baseline) | (best control) |" in markdown_table(
        rows, statistics)


def test_groups_are_compared_with_the_baseline_and_the_best_control():
    records = (runs("base", "baseline", [40, 40, 40]) + runs("over", "oversample", [30, 31, 29])
               + runs("dup", "duplicate", [39, 41, 40]) + runs("gan", "gan", [35, 36, 34]))
    rows, statistics = summarize(records, CLASSES)
    by = {r["group"]: r for r in rows}
    assert statistics["best_control"] == "over"  # the best non-GAN group, baseline included
    gan = by["gan"]
    assert gan["vs_baseline"]["accuracy"]["diff"] == pytest.approx(0.05)  # 60% -> 65%
    assert gan["vs_control"]["accuracy"]["diff"] == pytest.approx(-0.05)  # 70% -> 65%
    assert gan["vs_control"]["accuracy"]["significant"] and gan["vs_control"]["accuracy"]["high"] < 0
    assert "accuracy" not in by["over"]["vs_control"]  # only GAN and translation groups face the control
    low, high = gan["ci"]["accuracy"]
    assert 0 <= low < 0.65 < high <= 1
    # Holm over the three groups compared with the baseline: adjusted p never below the raw one.
    tests = [by[g]["vs_baseline"]["accuracy"] for g in ("over", "dup", "gan")]
    assert all(t["p_holm"] >= t["p"] for t in tests) and max(t["p_holm"] for t in tests) > 0.5  # dup: no change
    table = markdown_table(rows, statistics)
    assert "| (baseline) |" in table and "| (best control) |" in table
    assert "| -5.00 (95% CI " in table


def test_a_baseline_with_a_rebalancing_loss_is_a_control_not_the_baseline():
    rebalanced = [{**r, "loss": {"type": "logit_adjustment", "tau": 1.0}} for r in runs("la", "baseline", [30] * 3)]
    plain = [{**r, "loss": {"type": "cross_entropy"}} for r in runs("base", "baseline", [40] * 3)]
    rows, statistics = summarize(rebalanced + plain + runs("gan", "gan", [35, 36, 34]), CLASSES)
    assert statistics["baseline"] == "base" and statistics["best_control"] == "la"
    assert {r["group"]: r for r in rows}["la"]["vs_baseline"]["accuracy"]["diff"] == pytest.approx(0.1)


def test_the_headline_metric_and_the_rare_class_recall_are_selectable():
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [35, 36, 34])
    rows, statistics = summarize(records, CLASSES, metric="balanced_accuracy", rare_classes=["c1"])
    assert statistics["compared"] == ["balanced_accuracy", "rare_recall"]
    gan = rows[1]
    assert gan["rare_recall"][0] == pytest.approx(1 - 35 / 100)  # mean over seeds of c1's recall
    assert gan["vs_baseline"]["rare_recall"]["diff"] == pytest.approx(0.05)
    assert markdown_table(rows, statistics).startswith("| group | seeds | train images | balanced acc. |")


def test_results_files_open_with_the_verdict_and_keep_per_image_arrays_out_of_results_json(tmp_path):
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [30, 30, 30])
    write_results(tmp_path, records, CLASSES, "e", notes=["Warning: GAN a collapsed."],
                  gan_quality={"gan": {"gan_train": 0.5, "recall": 0.25, "collapsed": []}})
    text = (tmp_path / "results.md").read_text()
    assert text.splitlines()[2].startswith("Verdict: Better than the baseline (base): GAN augmentation's best group")
    assert text.index("Verdict") < text.index("Warning") < text.index("| group")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["verdict"].startswith("Verdict:") and saved["statistics"]["best_control"] == "base"
    assert all("test_predictions" not in r and "confusion_matrix" in r for r in saved["runs"])
    assert "gan,gan,3,10," in (tmp_path / "results.csv").read_text()
    # Per-class accuracy in a table of its own under the comparison, whose header has no class column.
    comparison, per_class = text.split("## Per-class test accuracy (%)")
    assert "| c0 |" not in comparison
    assert "| group | c0 | c1 |" in per_class and "| gan | 70.00 ± 0.00 | 70.00 ± 0.00 |" in per_class


def test_the_explanation_under_every_table_names_the_interval_docs_statistics_md_describes():
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "statistics.md").read_text()
    rows, statistics = summarize(runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [35, 36, 34]), CLASSES)
    text = explanation(statistics)
    formula = "difference ± √( (t · S)² + (1.96 · I)² )"
    assert formula in docs and formula in text
    assert "Half the CI's width is the smallest difference the comparison can detect" in text
    assert "half-width" in docs and "smallest difference" in docs
    assert "percentile" not in text and "jointly" not in text  # what the code no longer computes


def test_every_comparison_in_results_csv_states_what_it_resolved(tmp_path):
    """Half-width (the smallest difference it can detect), outcome and seeds needed beside each p-value."""
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [35, 36, 34])
    rows, _, _ = write_results(tmp_path, records, CLASSES, "e")
    gan = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))[1]
    test = rows[1]["vs_baseline"]["accuracy"]
    assert float(gan["accuracy_vs_baseline_half"]) == pytest.approx(test["half"], abs=1e-6)
    assert test["half"] == pytest.approx((test["high"] - test["low"]) / 2)  # the interval, uncut here
    assert gan["accuracy_vs_baseline_outcome"] == test["outcome"] == "better"
    assert gan["accuracy_vs_baseline_seeds_needed"] == str(test["seeds_needed"] or "")
