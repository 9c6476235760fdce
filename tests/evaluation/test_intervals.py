"""Paired user-bootstrap intervals: they cover a real difference, not a null one, and pair the users."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.errors import DataValidationError
from movierec.evaluation.intervals import paired_mean_difference, paired_rmse_difference, ratio_difference


def test_a_clear_difference_excludes_zero_and_a_null_one_does_not(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random(400)
    better = paired_mean_difference(a, a + 0.05 + rng.normal(0, 0.05, 400))
    assert better.excludes_zero and better.low > 0 and abs(better.difference - 0.05) < 0.02
    e = rng.normal(0, 0.05, 200)
    same = paired_mean_difference(a, a + np.concatenate([e, -e]))  # differences that average to exactly 0
    assert not same.excludes_zero and same.low < 0 < same.high and same.difference == pytest.approx(0, abs=1e-12)


def test_pairing_removes_the_spread_between_users(seed: int) -> None:
    # Users differ a lot (0..1); the models differ by a constant 0.01: only a paired interval sees it.
    a = np.random.default_rng(seed).random(300)
    interval = paired_mean_difference(a, a + 0.01)
    assert interval.low == pytest.approx(0.01) and interval.high == pytest.approx(0.01)


def test_rmse_difference_resamples_users_with_all_their_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(100), 5)
    sq_a = rng.random(500)
    worse = paired_rmse_difference(sq_a, sq_a * 1.2, users)
    assert worse.difference == pytest.approx(np.sqrt(1.2 * sq_a.mean()) - np.sqrt(sq_a.mean())) and worse.low > 0
    assert str(worse).startswith("+") and worse.n_users == 100
    with pytest.raises(DataValidationError, match="same pairs"):
        paired_rmse_difference(sq_a, sq_a, users[:-1])
    with pytest.raises(DataValidationError, match="one length"):
        paired_mean_difference(np.zeros(3), np.zeros(4))


def test_ratio_difference_resamples_users_with_all_their_exposures(seed: int) -> None:
    # Group a: 3 users, hits/exposures 1/2, 0/1, 1/1 -> 2/4 = 0.5; group b: 2 users, 3/3, 1/1 -> 4/4 = 1.0.
    ivl = ratio_difference(np.array([1, 0, 1]), np.array([2, 1, 1]), np.array([3, 1]), np.array([3, 1]), seed=seed)
    assert ivl.difference == pytest.approx(0.5) and ivl.n_users == 5
    assert ivl.high == pytest.approx(1.0)  # 1 - 0 when a's draw is its 0/1 user thrice (1/27 > 2.5%)
    assert ivl.low >= 0.0 and ivl.low < 0.5  # b always hits; a's rate never exceeds 1
    same = ratio_difference(np.tile([0, 1], 50), np.ones(100), np.tile([1, 0], 50), np.ones(100), seed=seed)
    assert same.difference == 0.0 and not same.excludes_zero  # identical arms: too small to call
    with pytest.raises(DataValidationError, match="group b"):
        ratio_difference(np.array([1]), np.array([1]), np.array([]), np.array([]))
    with pytest.raises(DataValidationError, match="positive denominator"):
        ratio_difference(np.array([1]), np.array([0]), np.array([1]), np.array([1]))
