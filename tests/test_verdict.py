"""The verdict sentence from constructed results."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from tests.conftest import make_imageset, tiny_config
from tests.test_results import CLASSES, runs
from tests.test_statistics import record
from tfganaug.config import validate
from tfganaug.errors import ConfigError
from tfganaug.experiment.runner import rare_classes
from tfganaug.reporting.resolution import complete
from tfganaug.reporting.results import explanation, markdown_table, summarize
from tfganaug.reporting.verdict import verdict

QUALITY = {"gan": {"gan_train": 0.351, "real_accuracy": 0.702, "recall": 0.12, "collapsed": ["c1"]}}


def test_a_gan_group_that_loses_to_oversampling_is_called_so_with_its_interval_and_gan_quality():
    records = (runs("base", "baseline", [40, 40, 40]) + runs("over", "oversample", [30, 31, 29])
               + runs("gan", "gan", [35, 36, 34]))
    rows, statistics = summarize(records, CLASSES, rare_classes=["c1"])
    test = rows[2]["vs_control"]["accuracy"]
    lines = verdict(rows, statistics, QUALITY).splitlines()
    assert lines[0] == "Verdict: Worse than over: GAN augmentation's best group, gan, -5.00 points of accuracy."
    assert lines[1].startswith(f"- Difference -5.00 points (95% CI {100 * test['low']:.2f} to {100 * test['high']:.2f}, "
                               f"p {test['p_holm']:.3f}, 3 seeds): differences smaller than ±{100 * test['half']:.2f} "
                               "points cannot be told from none here")
    assert lines[2] == ("- Its GAN: GAN-train 35.1% (0.50x a real-trained classifier's 70.2%), recall 0.12, "
                        "near-identical images in c1.")
    assert lines[3].startswith("- On the rare class (c1): -5.00 points of recall against over (95% CI ")
    assert lines[3].endswith(": worse.") and len(lines) == 4


def test_an_unconditional_gans_collapse_is_said():
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [39, 40, 41])
    rows, statistics = summarize(records, CLASSES)
    line = verdict(rows, statistics, {"gan": {"recall": 0.01, "collapsed": ["all images"]}})
    assert line.endswith("\n- Its GAN: recall 0.01, near-identical images.")


def test_no_significant_difference_is_not_a_gain():
    records = runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [39, 40, 41])
    rows, statistics = summarize(records, CLASSES)
    line = verdict(rows, statistics, {})
    assert line.startswith("Verdict: Inconclusive against the baseline (base): GAN augmentation's best group, gan, "
                           "+0.00 points of accuracy, but anything from ")
    assert line.endswith("\n- No GAN metrics for it.")


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
    assert line.startswith("Verdict: Not tested against the baseline (base): GAN augmentation's best group, gan, "
                           f"+30.00 points of accuracy, from {seeds} seed{s}: too few to test.")
    assert (f"- With {seeds} seed{s} the interval (95% CI ") in line and ("covers the test images only, not the "
            "variation between training runs: 3 or more seeds (e.g. seeds: [0, 1, 2]) would test the difference.") in line
    assert "Better" not in line and "seeds would narrow" not in line and "not tested (too few seeds)." in line


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
    assert line.startswith("Verdict: Better than the baseline (base)") and "rare" not in line
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
    assert line.endswith("\n- Its GAN's metrics mean nothing: the classifier trained on the real images, which they "
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



def test_a_gan_group_without_images_is_compared_with_no_control_and_is_not_the_verdicts():
    """fill on balanced classes trains on the real images alone: ranked first by luck, it is no GAN result,
    and it leaves the other GAN groups' Holm family."""
    records = (runs("base", "baseline", [40, 40, 40]) + runs("fill", "gan", [30, 30, 30])
               + runs("gan", "gan", [39, 40, 41]))
    rows, statistics = summarize(records, CLASSES)
    assert verdict(rows, statistics, {}).startswith("Verdict: Better than the baseline (base): GAN augmentation's "
                                                    "best group, fill, +10.00 points")
    rows, statistics = summarize(records, CLASSES, no_images=["fill"])
    assert rows[1]["vs_control"] == {} and rows[1]["vs_baseline"]["accuracy"]["diff"] == pytest.approx(0.1)
    alone = summarize(runs("base", "baseline", [40, 40, 40]) + runs("gan", "gan", [39, 40, 41]), CLASSES)[0]
    assert rows[2]["vs_control"]["accuracy"]["p_holm"] == alone[1]["vs_control"]["accuracy"]["p_holm"]
    assert statistics["no_images"] == ["fill"]
    assert verdict(rows, statistics, {}).startswith("Verdict: Inconclusive against the baseline (base): GAN "
                                                    "augmentation's best group, gan,")
    rows, statistics = summarize(records, CLASSES, no_images=["fill", "gan"])
    assert verdict(rows, statistics, {}).startswith("Verdict: no GAN or translation group ran")


def test_a_control_that_trains_as_another_is_not_the_best_control_by_luck():
    """rebal (a re-balancing loss on balanced classes: cross-entropy) scores 2 points above the baseline
    it trains as: the GAN group is compared with the baseline, not with the luckier copy."""
    records = (runs("base", "baseline", [40, 40, 40]) + runs("rebal", "baseline", [38, 38, 38])
               + runs("gan", "gan", [39, 40, 41]))
    assert summarize(records, CLASSES)[1]["best_control"] == "rebal"
    rows, statistics = summarize(records, CLASSES, same_as={"rebal": "base"})
    assert statistics["best_control"] == "base" and statistics["same_as"] == {"rebal": "base"}
    assert rows[2]["vs_control"]["accuracy"]["diff"] == pytest.approx(0.0)


def test_idle_groups_finds_copies_of_controls_and_groups_without_images(npz_file):
    """On balanced classes: rebal trains as baseline, aug_rebal as aug, a class-weight group as the baseline,
    fill and a translation that fills c1 add no image; on a rare c1 none of them is idle. LDAM keeps a margin:
    not a copy."""
    from tfganaug.experiment import make_splits
    from tfganaug.experiment.idle import idle_groups

    aug = {"flip": None, "translate": 0.05}
    gan = {"model": "cgan", "epochs": 1}
    groups = ["baseline", {"name": "rebal", "type": "baseline", "loss": {"type": "logit_adjustment"}},
              {"name": "aug", "type": "classical", "augment": aug},
              {"name": "aug_rebal", "type": "classical", "augment": aug, "loss": {"type": "balanced_softmax"}},
              {"name": "ldam", "type": "baseline", "loss": {"type": "ldam_drw"}}, "class_weight",
              {"name": "fill", "type": "gan", "gan": gan, "synthesize": {"fill": True}},
              {"name": "more", "type": "gan", "gan": gan, "synthesize": {"ratio": 1.0}}]
    cyclegan = {"name": "m", "domain_a": ["c0"], "domain_b": ["c1", "c2"]}
    groups += [{"type": "translation", "name": "to_c1", "translations": [{"model": "m", "from": "c0", "to": "c1",
                                                                          "count": "fill"}]}]
    config = validate(tiny_config(npz_file, groups=groups, cyclegans=[cyclegan]))
    idle = idle_groups(config.groups, make_splits(config.data))
    assert idle.same_as == {"rebal": "baseline", "aug_rebal": "aug", "class_weight": "baseline"}
    assert idle.no_images == ["fill", "to_c1"]
    assert idle.notes[0].startswith("Warning: control class_weight (class_weight) does nothing here")
    assert idle.notes[1].startswith("Warning: gan group fill adds no image here (every class of the training split")
    assert idle.notes[2].startswith("Warning: translation group to_c1 adds no image here")
    assert idle.notes[-1] == ("Note: every class of the training split has 6 images, so the re-balancing loss of rebal "
                             "(logit_adjustment), aug_rebal (balanced_softmax) is plain cross-entropy here (a uniform "
                             "prior; every class weighs 1).")
    rare = tiny_config(npz_file, groups=groups, cyclegans=[cyclegan])
    rare["data"]["rare"] = {1: 0.5}  # c1 rare: the translation fills it
    config = validate(rare)
    idle = idle_groups(config.groups, make_splits(config.data))
    assert (idle.same_as, idle.no_images, idle.notes) == ({}, [], [])


# ---------------------------------------------------------------- what a comparison resolved (margin, seeds)

PER_CLASS = 500
MANY = np.repeat([0, 1], PER_CLASS)  # 1,000 test images: the image term of a 1-image change is tiny


def _runs(group, kind, wrong, last=False):
    """Records of `group` on MANY: on seed s, wrong[s] = (wrong of c0, wrong of c1), the first images of
    each class (the last ones with `last`: other images than the first ones, same count)."""
    out = []
    for seed, counts in enumerate(wrong):
        predictions = MANY.copy()
        for c, w in enumerate(counts):
            members = np.flatnonzero(MANY == c)
            predictions[members[len(members) - w:] if last else members[:w]] = 1 - c
        out.append({**record(group, seed, MANY, predictions, 2), "type": kind, "train_size": 10})
    return out


CONTROL = _runs("base", "baseline", [(100, 100)] * 3)


def _resolved(gan, margin=1.0):
    rows, statistics = summarize(CONTROL + gan, CLASSES, margin=margin)
    return rows[1]["vs_control"]["accuracy"], verdict(rows, statistics, {}).splitlines()


def test_a_narrow_interval_inside_the_margin_is_a_tie():
    """d_s = -0.1, 0, +0.1 points: t(2) * 0.1 / sqrt(3) = 0.25 points, the images' part ~0 (one image)."""
    test, lines = _resolved(_runs("gan", "gan", [(101, 100), (100, 100), (99, 100)]))
    assert test["half"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.001 / np.sqrt(3), rel=1e-3)
    assert test["outcome"] == "tie" and -0.01 < test["low"] < test["high"] < 0.01
    assert lines[0] == ("Verdict: Tie with the baseline (base): GAN augmentation's best group, gan, is within ±1 point "
                        "of it (+0.00 points of accuracy).")
    assert lines[1].startswith("- Difference +0.00 points (95% CI -0.25 to 0.25, p 1.000, 3 seeds): differences "
                               "smaller than ±0.25 points cannot be told from none here")
    assert not any("seeds would" in line for line in lines)


def test_a_wide_interval_is_inconclusive_with_the_seeds_that_would_resolve_the_margin():
    """d_s = +1, 0, -1 points: s = 1 point. By hand, n with t(n - 1) * s / sqrt(n) <= sqrt(1 - image^2):
    n = 6: 2.571 / 2.449 = 1.050 > 1; n = 7: 2.447 / 2.646 = 0.925: 7 seeds (the image part, 0.06
    points, changes nothing)."""
    test, lines = _resolved(_runs("gan", "gan", [(90, 100), (100, 100), (110, 100)]))
    assert test["outcome"] == "inconclusive" and test["spread"] == pytest.approx(0.01)
    assert test["image_half"] < 0.001 and test["seeds_needed"] == 7
    assert lines[0] == ("Verdict: Inconclusive against the baseline (base): GAN augmentation's best group, gan, "
                        "+0.00 points of accuracy, but anything from -2.48 to +2.48 fits these runs.")
    assert lines[2] == ("- About 7 seeds would narrow it to ±1 point, judging by how much the 3 seeds' differences "
                        "vary (std 1.00 points).")
    # The margin is the config's: at +-3 points the same runs are a tie.
    test, lines = _resolved(_runs("gan", "gan", [(90, 100), (100, 100), (110, 100)]), margin=3.0)
    assert test["outcome"] == "tie" and lines[0].startswith("Verdict: Tie with the baseline (base)")
    assert "within ±3 points of it" in lines[0]


def test_when_the_test_images_alone_exceed_the_margin_no_seed_count_is_offered():
    """The GAN group misses as many images as the control on every seed, but other ones: no spread
    between seeds, all the width is which 400 images were drawn."""
    test, lines = _resolved(_runs("gan", "gan", [(100, 100)] * 3, last=True))
    assert test["spread"] == 0 and test["image_half"] > 0.01 and test["seeds_needed"] is None
    assert test["outcome"] == "inconclusive"
    assert lines[2] == (f"- No number of seeds can narrow it to ±1 point: the test images alone make it "
                        f"±{100 * test['image_half']:.2f} points wide. More test images would (data.test_per_class), "
                        "or a new split per seed (data.resplit_per_seed: true).")


def test_the_margin_is_a_config_key_checked_when_read():
    raw = tiny_config("tiny.npz")
    assert validate(raw).statistics.equivalence_margin == 1.0
    assert validate({**raw, "statistics": {"equivalence_margin": 2.5}}).statistics.equivalence_margin == 2.5
    with pytest.raises(ConfigError, match="statistics.equivalence_margin"):
        validate({**raw, "statistics": {"equivalence_margin": 0}})
    with pytest.raises(ConfigError, match="statistics.margin"):
        validate({**raw, "statistics": {"margin": 2}})


def test_an_older_results_json_is_completed_from_its_interval_and_seed_values():
    """results.json of earlier versions holds no half / spread / image_half: `complete` recovers them."""
    rows, statistics = summarize(CONTROL + _runs("gan", "gan", [(95, 100), (100, 100), (108, 100)]), CLASSES)
    test = rows[1]["vs_control"]["accuracy"]
    old = {k: v for k, v in test.items() if k not in ("half", "spread", "image_half")}
    complete(old, "accuracy", rows[1], rows[0])
    for key in ("half", "spread", "image_half"):
        assert old[key] == pytest.approx(test[key], rel=1e-6, abs=1e-9), key
