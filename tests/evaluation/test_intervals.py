"""Paired user-bootstrap intervals: they cover a real difference, not a null one, and pair the users."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.errors import DataValidationError
from movierec.evaluation.intervals import paired_mean_difference, paired_rmse_difference


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
