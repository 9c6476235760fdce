"""Beyond-accuracy metrics by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from movierec.evaluation.beyond import (
    average_popularity,
    catalogue_coverage,
    intra_list_diversity,
    novelty,
    obscure_share,
)

COUNTS = np.array([100, 50, 10, 2, 1])  # training ratings of items 0..4
LISTS = [np.array([0, 1]), np.array([0, 3]), np.array([], dtype=np.int64)]


def test_coverage_novelty_popularity_obscure() -> None:
    assert catalogue_coverage(LISTS, 5) == pytest.approx(3 / 5)  # items {0, 1, 3}
    # slots: 0, 1, 0, 3 with n_users = 200: -log2(0.5), -log2(0.25), -log2(0.5), -log2(0.01)
    expected = (1 + 2 + 1 + math.log2(100)) / 4
    assert novelty(LISTS, COUNTS, 200) == pytest.approx(expected)
    # per non-empty list: (100 + 50)/2 = 75, (100 + 2)/2 = 51 -> 63
    assert average_popularity(LISTS, COUNTS) == pytest.approx(63.0)
    # slots below 10 ratings: only item 3 -> 1 of 4
    assert obscure_share(LISTS, COUNTS, 10) == 0.25
    assert obscure_share(LISTS, COUNTS, 2) == 0.0  # strict: 2 ratings is not "fewer than 2"
    empty = [np.array([], dtype=np.int64)]
    assert (novelty(empty, COUNTS, 10), average_popularity(empty, COUNTS), obscure_share(empty, COUNTS, 5)) == (0, 0, 0)


def test_intra_list_genre_diversity() -> None:
    genres = [frozenset({"Drama"}), frozenset({"Drama", "War"}), frozenset({"Comedy"}), frozenset(), frozenset()]
    # list [0, 1, 2]: d(0,1) = 1 - 1/2, d(0,2) = 1, d(1,2) = 1 -> mean 5/6
    # list [3, 4]: two films without genres count as identical -> 0; list [2] is skipped
    value = intra_list_diversity([np.array([0, 1, 2]), np.array([3, 4]), np.array([2])], genres)
    assert value == pytest.approx((5 / 6 + 0) / 2)
    assert intra_list_diversity([np.array([2])], genres) == 0.0
