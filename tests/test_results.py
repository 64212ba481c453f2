"""Summaries over seeds: mean, std, interval and the paired comparison with the baseline, by hand."""

import pytest

from tfganaug.reporting.results import markdown_table, summarize


def _records(group, kind, accuracies):
    return [{"group": group, "type": kind, "seed": s, "train_size": 5, "accuracy": a, "balanced_accuracy": a,
             "macro_f1": a, "per_class_accuracy": {"x": a}} for s, a in enumerate(accuracies)]


def test_summary_mean_std_and_interval_hand_computed():
    (row,) = summarize(_records("g", "baseline", [0.5, 0.7]), ["x"])
    assert row["accuracy"] == pytest.approx((0.6, 0.1414213562))  # std with ddof=1
    # t(0.975, df=1) = 12.7062: half-width 12.7062 * 0.141421 / sqrt(2) = 1.27062
    assert row["ci"]["accuracy"] == pytest.approx((0.6 - 1.270620, 0.6 + 1.270620), abs=1e-5)
    assert row["vs_baseline"] == {} and row["baseline"] == "g"
    assert "| g | 2 | 5 | 60.00 ± 14.14 | -67.06 – 187.06 | (baseline) |" in markdown_table([row], ["x"])


def test_groups_are_compared_with_the_baseline_seed_by_seed():
    records = (_records("dup", "duplicate", [0.62, 0.71, 0.80]) + _records("base", "baseline", [0.60, 0.70, 0.80])
               + _records("gan", "gan", [0.70, 0.79, 0.91]))
    rows = {row["group"]: row for row in summarize(records, ["x"])}
    dup, gan = rows["dup"]["vs_baseline"]["accuracy"], rows["gan"]["vs_baseline"]["accuracy"]
    # dup: differences 0.02, 0.01, 0.00: mean 0.01, sd 0.01, t = 1.732, df 2 -> p = 0.2254
    assert dup["diff"] == pytest.approx(0.01) and dup["p"] == pytest.approx(0.2254, abs=1e-4)
    assert not dup["significant"]
    # gan: differences 0.10, 0.09, 0.11: mean 0.10, sd 0.01, t = 17.32 -> p = 0.00332
    assert gan["diff"] == pytest.approx(0.10) and gan["p"] == pytest.approx(0.00332, abs=1e-5) and gan["significant"]
    table = markdown_table(list(rows.values()), ["x"])
    assert "| +1.00 (p 0.225) |" in table and "| +10.00 (p 0.003)* |" in table


def test_a_single_seed_gives_no_interval_and_no_significance():
    rows = summarize(_records("base", "baseline", [0.6]) + _records("gan", "gan", [0.9]), ["x"])
    assert rows[0]["ci"]["accuracy"] == (None, None)
    assert rows[1]["vs_baseline"]["accuracy"]["p"] is None
    assert "| n/a | +30.00 (p n/a) |" in markdown_table(rows, ["x"])


def test_results_md_shows_the_warnings_about_the_gans_above_the_table(tmp_path):
    from tfganaug.reporting.results import write_results

    write_results(tmp_path, _records("g", "baseline", [0.5]), ["x"], "e", notes=["Warning: GAN a collapsed."])
    text = (tmp_path / "results.md").read_text()
    assert "Warning: GAN a collapsed." in text and text.index("Warning") < text.index("| group")
