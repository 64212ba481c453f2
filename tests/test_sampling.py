import numpy as np
import pytest

from tests.conftest import make_imageset
from tfganaug.data.sampling import split_pool, train_counts
from tfganaug.errors import ConfigError


def _ids(imageset):
    # Images are random per example, so their bytes identify them.
    return {img.tobytes() for img in imageset.images}


def test_exact_per_class_counts_and_no_overlap():
    pool = make_imageset(3, 30, shape=(6, 6, 1))
    test = make_imageset(3, 5, seed=9)
    splits = split_pool(pool, test, samples_per_class=10, val_per_class=4, extra_per_class=6, seed=1)
    assert splits.train.counts().tolist() == [10, 10, 10]
    assert splits.val.counts().tolist() == [4, 4, 4]
    assert splits.extra.counts().tolist() == [6, 6, 6]
    assert not (_ids(splits.train) & _ids(splits.val)) and not (_ids(splits.train) & _ids(splits.extra))
    assert not (_ids(splits.val) & _ids(splits.extra))
    assert splits.test is test


def test_three_way_split_is_one_to_one_to_one_with_a_rare_class():
    pool = make_imageset(3, 30, shape=(6, 6, 1))
    splits = split_pool(pool, pool, samples_per_class=9, rare={"c1": 1 / 3}, val_per_class="same",
                        extra_per_class="same", seed=0)
    for part in (splits.train, splits.extra, splits.val):
        assert part.counts().tolist() == [9, 3, 9]
    assert len(_ids(splits.train) | _ids(splits.extra) | _ids(splits.val)) == 63


def test_all_that_is_left_with_same():
    assert train_counts(("a", "b"), np.array([30, 10]), None, None, "same", "same") == [10, 3]
    assert train_counts(("a", "b"), np.array([30, 10]), None, None, 4, 0) == [26, 6]


def test_per_class_map_by_name_or_index_and_rare_fraction():
    counts = train_counts(("a", "b", "c"), np.array([50, 50, 50]), {"a": 5, 2: 7}, {"b": 0.5}, 0, 0)
    assert counts == [5, 25, 7]


def test_sampling_is_deterministic_for_a_seed_and_differs_across_seeds():
    pool = make_imageset(2, 40)
    a = split_pool(pool, pool, samples_per_class=5, seed=3)
    b = split_pool(pool, pool, samples_per_class=5, seed=3)
    c = split_pool(pool, pool, samples_per_class=5, seed=4)
    assert np.array_equal(a.train.images, b.train.images)
    assert not np.array_equal(a.train.images, c.train.images)


def test_asking_for_more_than_exists_names_the_key_and_class():
    pool = make_imageset(2, 10)
    with pytest.raises(ConfigError, match=r"data.samples_per_class: class 'c0' needs 8 train \+ 4 val"):
        split_pool(pool, pool, samples_per_class=8, val_per_class=4)


def test_unknown_class_names_the_key_and_lists_classes():
    pool = make_imageset(2, 10)
    with pytest.raises(ConfigError, match=r"data.rare: unknown class 'dog'.*'c0', 'c1'"):
        split_pool(pool, pool, samples_per_class=4, rare={"dog": 0.5})


def test_test_per_class_caps_the_test_set():
    pool = make_imageset(3, 10)
    splits = split_pool(pool, make_imageset(3, 8, seed=2), samples_per_class=4, test_per_class=5)
    assert splits.test.counts().tolist() == [5, 5, 5]


def test_an_imbalance_ratio_gives_cao_et_al_s_exponential_profile_and_leaves_the_test_split_alone():
    from tfganaug.config import validate
    from tfganaug.experiment import make_splits

    data = {"source": "fashion_mnist", "samples_per_class": 500, "imbalance_ratio": 100, "val_per_class": 10}
    config = validate({"name": "lt", "data": data, "groups": ["baseline"]})
    splits = make_splits(config.data)
    # 500 * 100^(-i/9), i = 0..9: 500, 299.74, 179.69, 107.72, 64.58, 38.71, 23.21, 13.91, 8.34, 5, rounded.
    assert splits.train.counts().tolist() == [500, 300, 180, 108, 65, 39, 23, 14, 8, 5]
    assert splits.val.counts().tolist() == [10] * 10 and splits.test.counts().tolist() == [1000] * 10
    assert "imbalance_ratio" not in validate({"name": "b", "groups": ["baseline"]}).data.key_dump()  # old run keys stay


@pytest.mark.parametrize("data,words", [
    ({"samples_per_class": 500, "imbalance_ratio": 10, "rare": {0: 0.5}}, "data.imbalance_ratio .* or data.rare"),
    ({"samples_per_class": 500, "imbalance_ratio": 0.5}, "imbalance_ratio.*greater than or equal to 1"),
    ({"samples_per_class": {0: 500}, "imbalance_ratio": 10}, "needs data.samples_per_class as one number"),
])
def test_a_long_tail_that_cannot_be_drawn_is_refused_by_name(data, words):
    from tfganaug.config import validate

    with pytest.raises(ConfigError, match=words):
        validate({"name": "lt", "data": data, "groups": ["baseline"]})
