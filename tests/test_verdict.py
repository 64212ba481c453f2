"""The verdict sentence from constructed results."""

from types import SimpleNamespace

from tests.conftest import make_imageset
from tests.test_results import CLASSES, runs
from tfganaug.experiment.runner import rare_classes
from tfganaug.reporting.results import summarize
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
    records = runs("base", "baseline", [40]) + runs("gan", "gan", [39])
    rows, statistics = summarize(records, CLASSES)
    line = verdict(rows, statistics, {"gan": {"recall": 0.01, "collapsed": ["all images"]}})
    assert line.endswith("its GAN: recall 0.01, near-identical images.")


def test_no_significant_difference_is_not_a_gain_and_one_seed_says_what_its_interval_covers():
    records = runs("base", "baseline", [40]) + runs("gan", "gan", [39])
    rows, statistics = summarize(records, CLASSES)
    line = verdict(rows, statistics, {})
    assert line.startswith("Verdict: GAN augmentation did not beat the baseline (base) here: its best group, gan, "
                           "+1.00 points of accuracy against base (95% CI ")
    assert "1 seed; with 1 seed the interval covers the test images only); no GAN metrics for it." in line


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
