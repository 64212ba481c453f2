"""The verdict sentence from constructed results."""

from types import SimpleNamespace

import pytest

from tests.conftest import make_imageset
from tests.test_results import CLASSES, runs
from tfganaug.experiment.runner import rare_classes
from tfganaug.reporting.results import explanation, markdown_table, summarize
from tfganaug.reporting.verdict import verdict

QUALITY = {"gan": {"gan_train": 0.351, "real_accuracy": 0.702, "recall": 0.12, "collapsed": ["c1"]}}


def test_a_gan_group_that_loses_to_oversampling_is_called_so_with_its_interval_and_gan_quality():
    records = (runs("base", "baseline", [40, 40, 40]) + runs("over", "oversample", [30, 31, 29])
               + runs("gan", "gan", [35, 36, 34]))
    rows, statistics = summarize(records, CLASSES, rare_classes=["c1"])
    test = rows[2]["vs_control"]["accuracy"]
    line = verdict(rows, statistics, QUALITY)
    assert line.startswith("Verdict: GAN augmentation did worse than over here: its best group, gan, -5.00 points "
                           f"of accuracy against over (95% CI {100 * test['low']:.2f} to {100 * test['high']:.2f}, "
                           f"p {test['p_holm']:.3f}, 3 seeds); its GAN: GAN-train 35.1% (0.50x a real-trained "
                           "classifier's 70.2%), recall 0.12, "
                           "near-identical images in c1.")
    assert " On the rare class: -5.00 points of recall of c1 against over (95% CI " in line


def test_an_unconditional_gans_collapse_is_said():
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [39, 40, 41])
    rows, statistics = summarize(records, CLASSES)
    line = verdict(rows, statistics, {"gan": {"recall": 0.01, "collapsed": ["all images"]}})
    assert line.endswith("its GAN: recall 0.01, near-identical images.")


def test_no_significant_difference_is_not_a_gain():
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [39, 40, 41])
    rows, statistics = summarize(records, CLASSES)
    line = verdict(rows, statistics, {})
    assert line.startswith("Verdict: GAN augmentation did not beat the baseline (base) here: its best group, gan, "
                           "+0.00 points of accuracy against base (95% CI ")
    assert "3 seeds); no GAN metrics for it." in line


@pytest.mark.parametrize("seeds", [1, 2])
def test_with_fewer_than_three_seeds_nothing_is_beaten_and_the_verdict_says_what_would_test_it(seeds):
    """100 vs 70 wrong of 200: a difference the test images alone call certain, but one or two training
    runs say nothing of the variation between runs: no star, no "beat"."""
    records = runs("base", "baseline", [100] * seeds) + runs("gan", "gan", [70] * seeds)
    rows, statistics = summarize(records, CLASSES, rare_classes=["c1"])
    test = rows[1]["vs_control"]["accuracy"]
    assert test["p"] < 0.01 and test["low"] > 0 and not test["significant"]
    assert "*" not in markdown_table(rows, statistics)
    line = verdict(rows, statistics, {})
    s = "s" if seeds > 1 else ""
    assert line.startswith("Verdict: GAN augmentation was not tested (too few seeds) against the baseline (base) here")
    assert (f"{seeds} seed{s}; with {seeds} seed{s} the interval covers the test images only, not the variation "
            "between training runs: 3 or more seeds (e.g. seeds: [0, 1, 2]) would test the difference)") in line
    assert "beat" not in line and "not a significant difference" not in line


def test_a_run_without_gan_groups_names_its_best_group():
    rows, statistics = summarize(runs("base", "baseline", [40]) + runs("over", "oversample", [30]), CLASSES)
    assert verdict(rows, statistics, {}) == "Verdict: no GAN or translation group ran; the best group is over (70.00% accuracy)."


def test_balanced_data_has_no_rare_class_and_its_verdict_no_rare_class_sentence():
    no_rare = SimpleNamespace(rare=None)
    assert rare_classes(no_rare, make_imageset(3, per_class=5)) == []
    assert rare_classes(no_rare, make_imageset(3, counts=[5, 2, 2])) == ["c1", "c2"]
    assert rare_classes(SimpleNamespace(rare={"c0": 0.5}), make_imageset(3, per_class=5)) == ["c0"]
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [35, 36, 34])
    rows, statistics = summarize(records, CLASSES, rare_classes=rare_classes(no_rare, make_imageset(3, per_class=5)))
    line = verdict(rows, statistics, QUALITY)
    assert line.startswith("Verdict: GAN augmentation beat the baseline (base) here") and "rare" not in line
    assert statistics["compared"] == ["accuracy"]


def test_without_a_control_group_the_verdict_says_so_instead_of_comparing_a_group_with_itself():
    records = runs("gan", "gan", [35, 36, 34]) + runs("gan_big", "gan", [30, 31, 29])
    rows, statistics = summarize(records, CLASSES)
    assert statistics["best_control"] is None and all(row["vs_control"] == {} for row in rows)
    assert verdict(rows, statistics, QUALITY) == (
        "Verdict: no control group ran (add `baseline`, and `classical` or `oversample`, to groups), so nothing here "
        "says whether GAN augmentation helps; its best group, gan_big, reached 70.00% accuracy.")
    assert "vs best control (none: no control group ran)" in explanation(statistics)


def test_gan_metrics_read_by_a_classifier_at_chance_are_called_meaningless():
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [35, 36, 34])
    rows, statistics = summarize(records, CLASSES)
    line = verdict(rows, statistics, {"gan": {**QUALITY["gan"], "real_accuracy": 0.5, "gan_train": 0.5,
                                              "near_chance": True}})
    assert line.endswith("; its GAN's metrics mean nothing: the classifier trained on the real images, which they "
                         "are read in, is at chance.")
    assert "1.00x" not in line


def test_near_chance_is_chance_plus_a_tenth_of_the_way_or_the_binomial_margin():
    from tfganaug.evaluation.chance import chance_warnings, near_chance

    # 3 classes, 24 test images: margin max(0.1 * 2/3, 1.645 * sqrt(2/9 / 24)) = 0.158 above 1/3.
    assert near_chance(0.333, 3, 24) and near_chance(0.49, 3, 24) and not near_chance(0.50, 3, 24)
    # 10 classes, 10,000 test images: the binomial margin (0.005) is below a tenth of the way (0.09).
    assert near_chance(0.189, 10, 10_000) and not near_chance(0.191, 10, 10_000)
    entry = {"features": "classifier-x", "real_accuracy": 1 / 3, "num_classes": 3, "near_chance": True,
             "gan_train": 1 / 3}
    (warning,) = chance_warnings({"acgan-1": entry, "acgan-2": {**entry, "near_chance": False}})
    assert warning.startswith("Warning: the GAN metrics of acgan-1 mean nothing: FID, KID, precision and recall "
                              "(read in its features) and GAN-train and GAN-test are read against a classifier "
                              "trained on the real images that is at chance (33.3% on 3 classes)")


def test_a_control_that_does_nothing_on_balanced_classes_is_said_to():
    from tfganaug.synthesis.controls import idle_control_note

    for kind in ("oversample", "class_weight"):
        note = idle_control_note("ctrl", kind, [6, 6, 6])
        assert note.startswith(f"Warning: control ctrl ({kind}) does nothing here: every class of the training split "
                               "has 6 images") and "trains as the baseline does" in note
        assert idle_control_note("ctrl", kind, [6, 3, 6]) is None
    assert idle_control_note("dup", "duplicate", [6, 6, 6]) is None and idle_control_note("b", "baseline", [6, 6]) is None
