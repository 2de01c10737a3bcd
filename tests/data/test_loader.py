import numpy as np
import pytest

from minicnn import random as mrandom
from minicnn.data import batches


def orders(**kwargs):
    x = np.arange(20)
    return [xb.tolist() for xb, _ in batches(x, x, 6, **kwargs)]


def test_shuffling_without_rng_follows_manual_seed():
    mrandom.manual_seed(0)
    first = orders()
    mrandom.manual_seed(0)
    assert orders() == first
    mrandom.manual_seed(1)
    assert orders() != first
    assert sorted(sum(first, [])) == list(range(20))


def test_an_explicit_rng_is_used_instead_of_the_global_one():
    mrandom.manual_seed(0)
    a = orders(rng=np.random.default_rng(5))
    mrandom.manual_seed(99)
    assert orders(rng=np.random.default_rng(5)) == a


def test_batches_in_order_last_one_smaller_and_pairs_aligned():
    x = np.arange(10)[:, None] * np.ones((1, 3))
    y = np.arange(10)
    got = list(batches(x, y, 4, shuffle=False))
    assert [len(xb) for xb, _ in got] == [4, 4, 2]
    for xb, yb in batches(x, y, 3):
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_lists_are_accepted_and_empty_data_yields_nothing():
    assert [len(xb) for xb, _ in batches([[1.0], [2.0], [3.0]], [0, 1, 0], 2, shuffle=False)] == [2, 1]
    assert list(batches(np.zeros((0, 2)), np.zeros(0), 4)) == []


def test_arguments_are_checked_when_called_not_at_the_first_batch():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        batches(np.zeros(3), np.zeros(3), 0)  # no iteration needed
    with pytest.raises(ValueError, match="x has 3 samples but y has 2"):
        batches(np.zeros(3), np.zeros(2), 1)
