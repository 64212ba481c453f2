"""The synthetic-image filter: only images the scoring classifier agrees with, the asked counts met
by generating more, and a clear account of a class the GAN cannot deliver."""

import json

import numpy as np
import pytest

from tests.conftest import tiny_config
from tests.test_groups import TINY_GAN
from tfganaug.reporting.results import filter_notes
from tfganaug.synthesis.generate import synthesize

K = 3


class StubGAN:
    """Images whose first pixel is the asked class and whose second is a seeded draw u in [-1, 1]."""

    conditional = True

    def generate(self, labels, seed, truncation=None):
        u = np.random.default_rng(seed).uniform(-1, 1, len(labels))
        images = np.zeros((len(labels), 2, 1, 1), np.float32)
        images[:, 0, 0, 0], images[:, 1, 0, 0] = np.asarray(labels) / K, u
        return images


def score(images):
    """The class it was made for gets (u + 1) / 2, the others share the rest; class 2 is never recognised."""
    labels = np.rint(images[:, 0, 0, 0] * K).astype(int)
    own = (images[:, 1, 0, 0] + 1) / 2
    own[labels == 2] = 0.0
    probabilities = np.repeat(((1 - own) / (K - 1))[:, None], K, axis=1)
    probabilities[np.arange(len(labels)), labels] = own
    return probabilities


def _with_labels(signed, labels):
    out = signed.copy()
    out[:, 0, 0, 0] = np.asarray(labels) / K
    return out


def test_min_confidence_keeps_only_agreed_images_and_generates_until_each_count_is_met():
    images, labels, report = synthesize(StubGAN(), [200, 100, 5], seed=1, score=score, min_confidence=0.8)
    # Classes 0 and 1 are accepted a fifth of the time (u >= 0.6): more rounds meet their counts.
    assert report["asked"] == [200, 100, 5] and report["kept"][:2] == [200, 100]
    assert report["generated"][0] > 200 * 3 and np.bincount(labels, minlength=K).tolist() == report["kept"]
    probabilities = score(_with_labels(images.astype(np.float32) / 127.5 - 1, labels))
    own = probabilities[np.arange(len(labels)), labels]
    assert own.min() >= 0.8 - 1 / 127.5 and (probabilities.argmax(axis=1) == labels).all()
    # Class 2 is never recognised: it is kept short after max_rounds times its count, and said so.
    assert report["kept"][2] == 0 and report["generated"][2] == 10 * 5
    assert 0.15 < report["accepted"][0] / report["generated"][0] < 0.25 and report["accepted"][2] == 0
    notes = filter_notes([{"group": "g", "synthesis": report}], ["a", "b", "c"])
    rate = round(100 * report["accepted"][0] / report["generated"][0])
    assert notes[0].startswith(f"Filter of g: generated images that passed, per class: a {rate}%, ")
    assert notes[1].startswith("Warning: the filter of g kept 0 of the 5 'c' images asked for (0 of 50 generated passed)")
    assert len(notes) == 2


def test_keep_fraction_keeps_the_best_of_each_class_in_one_round():
    images, labels, report = synthesize(StubGAN(), [10, 8, 4], seed=3, score=score, keep_fraction=0.5)
    assert report == {"asked": [10, 8, 4], "generated": [20, 16, 8], "accepted": [10, 8, 4], "kept": [10, 8, 4]}
    # The kept class-0 images are the 10 best of the 20 drawn: their u values are the top half.
    asked = np.repeat(np.arange(K), [20, 16, 8])
    drawn = StubGAN().generate(asked, 3 * 1000)[:, 1, 0, 0][asked == 0]
    kept_u = images[labels == 0][:, 1, 0, 0].astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(np.sort(kept_u), np.sort(drawn)[-10:], atol=1 / 127.5)


def test_without_a_scorer_every_image_is_kept_as_before():
    images, labels, report = synthesize(StubGAN(), [3, 2, 1], seed=2)
    assert report is None and labels.tolist() == [0, 0, 0, 1, 1, 2]


def test_a_filtered_gan_group_records_its_acceptance_in_the_run_and_the_results(npz_file, tmp_path):
    from tfganaug.config import validate
    from tfganaug.experiment import run_experiment

    group = {"type": "gan", "name": "filtered", "gan": TINY_GAN, "filter": {"keep_fraction": 0.5}}
    config = validate(tiny_config(npz_file, groups=["baseline", group]))
    run_experiment(config, tmp_path / "run", log=lambda *_: None, verbose=0)
    record = json.loads((tmp_path / "run" / "runs" / "filtered__seed0.json").read_text())
    assert record["synthesis"] == {"asked": [3, 3, 3], "generated": [6, 6, 6], "accepted": [3, 3, 3], "kept": [3, 3, 3]}
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["notes"][0] == "Filter of filtered: generated images that passed, per class: c0 50%, c1 50%, c2 50%."
    assert "Filter of filtered" in (tmp_path / "run" / "results.md").read_text()


@pytest.mark.parametrize("bad,words", [
    ({"filter": {}}, "exactly one of filter.min_confidence"),
    ({"filter": {"keep_fraction": 0.5}, "min_confidence": 0.5, "gan": {**TINY_GAN, "model": "acgan"}}, "not both"),
    ({"filter": {"keep_fraction": 0.5}, "gan": {**TINY_GAN, "model": "gan"}, "labeling": "lsro"}, "unconditional"),
])
def test_bad_filter_settings_are_refused_with_the_rule(npz_file, bad, words):
    from tfganaug.config import validate
    from tfganaug.errors import ConfigError

    with pytest.raises(ConfigError, match=words):
        validate(tiny_config(npz_file, groups=[{"type": "gan", "gan": TINY_GAN, **bad}]))


@pytest.mark.parametrize("rule", [{"min_confidence": 0.5}, {"keep_fraction": 0.5}])
def test_a_filter_asked_for_no_image_gives_an_empty_set(rule):
    """Every count 0 (`fill: true` on balanced classes): an empty set and report, not a crash."""
    images, labels, report = synthesize(StubGAN(), [0, 0, 0], seed=1, score=score, **rule)
    assert images.shape == (0, 2, 1, 1) and images.dtype == np.uint8 and labels.shape == (0,)
    assert report == {"asked": [0, 0, 0], "generated": [0, 0, 0], "accepted": [0, 0, 0], "kept": [0, 0, 0]}


class IndexGAN:
    """Image i of a call is one pixel of value i (uint8), whatever its class."""

    conditional = True

    def generate(self, labels, seed, truncation=None):
        return (np.arange(len(labels), dtype=np.float32) / 127.5 - 1.0).reshape(-1, 1, 1, 1)


# The scorer's probabilities of the four images drawn for class 0 (count 2, keep_fraction 0.5), by hand:
#   image  probabilities        p(0)  entropy (nats)            loss -log p(0)
#   0      [0.9, 0.05, 0.05]    0.9   0.394                     0.105
#   1      [0.5, 0.5, 0.0]      0.5   0.693                     0.693
#   2      [0.4, 0.3, 0.3]      0.4   1.089                     0.916
#   3      [0.1, 0.9, 0.0]      0.1   0.325                     2.303
TABLE = np.array([[0.9, 0.05, 0.05], [0.5, 0.5, 0.0], [0.4, 0.3, 0.3], [0.1, 0.9, 0.0]])


@pytest.mark.parametrize("by,kept", [("confidence", [0, 1]), ("entropy", [1, 2]), ("loss", [2, 3])])
def test_keep_fraction_by_entropy_or_loss_keeps_the_images_the_scorer_is_least_sure_of(by, kept):
    def table_score(images):
        return TABLE[np.rint((images[:, 0, 0, 0] + 1) * 127.5).astype(int)]

    images, labels, report = synthesize(IndexGAN(), [2, 0, 0], seed=0, score=table_score, keep_fraction=0.5, by=by)
    assert sorted(images[:, 0, 0, 0].tolist()) == kept and labels.tolist() == [0, 0]
    assert report == {"asked": [2, 0, 0], "generated": [4, 0, 0], "accepted": [2, 0, 0], "kept": [2, 0, 0]}


def test_ranking_by_uncertainty_with_a_confidence_threshold_is_refused_by_name(npz_file):
    from tfganaug.config import validate
    from tfganaug.errors import ConfigError

    group = {"type": "gan", "gan": TINY_GAN, "filter": {"min_confidence": 0.5, "by": "entropy"}}
    with pytest.raises(ConfigError, match="filter.by: entropy .* needs filter.keep_fraction"):
        validate(tiny_config(npz_file, groups=[group]))
