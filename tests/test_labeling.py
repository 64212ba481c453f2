import numpy as np
import pytest

from tfganaug.data.pixels import to_uint8
from tfganaug.synthesis.labeling import synthesis_counts, targets


def test_ratio_is_spread_uniformly_and_fill_tops_up():
    assert synthesis_counts([10, 10, 10], ratio=0.5).tolist() == [5, 5, 5]
    assert synthesis_counts([10, 2, 5], ratio=0.5).tolist() == [3, 3, 2]  # round(8.5) = 8 -> 3, 3, 2
    assert synthesis_counts([10, 2, 5], fill=True).tolist() == [0, 8, 5]


def test_pseudo_label_all_in_one_and_lsro_targets():
    real, fake = [0, 2], [1, 1, 0]
    pseudo = targets(real, fake, 3, "pseudo_label")
    assert pseudo.shape == (5, 3) and pseudo.argmax(1).tolist() == [0, 2, 1, 1, 0]
    aio = targets(real, fake, 3, "all_in_one")
    assert aio.shape == (5, 4)
    assert aio[:2].argmax(1).tolist() == [0, 2] and np.all(aio[2:, 3] == 1) and np.all(aio[2:, :3] == 0)
    lsro = targets(real, fake, 3, "lsro")
    assert lsro.shape == (5, 3)
    np.testing.assert_allclose(lsro[2:], 1 / 3)
    np.testing.assert_array_equal(lsro[:2], np.eye(3)[[0, 2]])


def test_lsro_cross_entropy_is_the_studys_formula():
    # CE with a uniform row = -(1/K) sum_k log p(k)
    p = np.array([0.5, 0.3, 0.2])
    row = targets([], [0], 3, "lsro")[0]
    assert -(row * np.log(p)).sum() == pytest.approx(-np.log(p).mean())


def test_to_uint8_maps_the_tanh_range():
    assert to_uint8(np.array([-1.0, 0.0, 1.0, 2.0])).tolist() == [0, 128, 255, 255]
