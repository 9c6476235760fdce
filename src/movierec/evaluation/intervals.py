"""Paired user-bootstrap intervals: is a difference between two models (or two arms) larger than chance?

Users are the unit of resampling: each bootstrap draw takes the test users with replacement, with all
of a user's pairs together, and recomputes the difference of the two models' aggregate on the same
draw (paired: both models see the same users). The 95% interval is the 2.5th and 97.5th percentiles
(the percentile bootstrap, Efron & Tibshirani 1993, ch. 13). An interval that excludes 0 says the
difference is larger than the variation between users explains.

References
----------
Efron, Tibshirani. "An Introduction to the Bootstrap". Chapman & Hall, 1993. doi:10.1201/9780429246593
Sakai. "Statistical reform in information retrieval?" SIGIR Forum 48(1), 2014 (paired tests over topics/users).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movierec.errors import DataValidationError


@dataclass(frozen=True)
class Interval:
    """A difference and its 95% percentile-bootstrap interval.

    Attributes
    ----------
    difference : float
        The statistic of ``b`` minus that of ``a`` on the full sample.
    low, high : float
        2.5th and 97.5th percentiles over the bootstrap draws.
    n_users : int
        Users resampled.
    """

    difference: float
    low: float
    high: float
    n_users: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.difference:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"

    def to_dict(self) -> dict[str, float | int]:
        return {"difference": self.difference, "low": self.low, "high": self.high, "n_users": self.n_users}


def paired_mean_difference(a: np.ndarray, b: np.ndarray, n_draws: int = 1000, seed: int = 0) -> Interval:
    """Mean of ``b − a`` over users, with its paired bootstrap interval.

    Parameters
    ----------
    a, b : ndarray of shape (n_users,)
        One value per user for each model (e.g. NDCG@10), in the same user order.

    Raises
    ------
    DataValidationError
        If the arrays differ in length or are empty.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise DataValidationError(f"paired values need two arrays of one length > 0, got {a.shape} and {b.shape}")
    d = b - a
    rng = np.random.default_rng(seed)
    draws = np.array([d[rng.integers(0, d.size, d.size)].mean() for _ in range(n_draws)])
    low, high = np.percentile(draws, [2.5, 97.5])
    return Interval(float(d.mean()), float(low), float(high), int(d.size))


def paired_rmse_difference(
    sq_a: np.ndarray, sq_b: np.ndarray, users: np.ndarray, n_draws: int = 2000, seed: int = 0
) -> Interval:
    """RMSE(b) − RMSE(a) over test pairs, resampling users (all their pairs together).

    Parameters
    ----------
    sq_a, sq_b : ndarray of shape (n_pairs,)
        Squared errors of each model on the same test pairs.
    users : ndarray of shape (n_pairs,)
        The user of each pair.
    """
    sq_a, sq_b = np.asarray(sq_a, dtype=np.float64), np.asarray(sq_b, dtype=np.float64)
    if sq_a.shape != sq_b.shape or sq_a.shape != np.shape(users) or sq_a.size == 0:
        raise DataValidationError("paired RMSE needs squared errors of both models and the users of the same pairs")
    _, inv = np.unique(users, return_inverse=True)
    sa, sb, cnt = np.bincount(inv, sq_a), np.bincount(inv, sq_b), np.bincount(inv).astype(np.float64)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_draws)
    for k in range(n_draws):
        w = np.bincount(rng.integers(0, cnt.size, cnt.size), minlength=cnt.size)
        m = w @ cnt
        diffs[k] = np.sqrt(w @ sb / m) - np.sqrt(w @ sa / m)
    low, high = np.percentile(diffs, [2.5, 97.5])
    full = float(np.sqrt(sq_b.mean()) - np.sqrt(sq_a.mean()))
    return Interval(full, float(low), float(high), int(cnt.size))


def ratio_difference(
    num_a: np.ndarray, den_a: np.ndarray, num_b: np.ndarray, den_b: np.ndarray, n_draws: int = 2000, seed: int = 0
) -> Interval:
    """Σnum_b/Σden_b − Σnum_a/Σden_a between two groups of different users, resampling users in each group.

    For two A/B arms: ``num`` a user's exposures with a hit, ``den`` their exposures, so each arm's
    statistic is its hit rate over exposures, and a user's exposures are resampled together (they
    are not independent). Each draw takes each arm's users with replacement, independently of the
    other arm (unpaired: the arms have different users).

    Parameters
    ----------
    num_a, den_a : ndarray of shape (n_users_a,)
        Per user of group a; every ``den`` > 0.
    num_b, den_b : ndarray of shape (n_users_b,)
        Per user of group b.

    Raises
    ------
    DataValidationError
        If a group is empty, lengths differ, or a denominator is not positive.
    """
    groups = []
    for name, num, den in (("a", num_a, den_a), ("b", num_b, den_b)):
        num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
        if num.shape != den.shape or num.size == 0 or (den <= 0).any():
            raise DataValidationError(
                f"group {name}: a ratio difference needs one numerator and one positive denominator per user, "
                f"and at least one user; got {num.size} numerators and {den.size} denominators"
            )
        groups.append((num, den))
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_draws)
    for k in range(n_draws):
        stats = []
        for num, den in groups:
            w = np.bincount(rng.integers(0, num.size, num.size), minlength=num.size)
            stats.append((w @ num) / (w @ den))
        diffs[k] = stats[1] - stats[0]
    low, high = np.percentile(diffs, [2.5, 97.5])
    (na, da), (nb, db) = groups
    full = float(nb.sum() / db.sum() - na.sum() / da.sum())
    return Interval(full, float(low), float(high), int(na.size + nb.size))


__all__ = ["Interval", "paired_mean_difference", "paired_rmse_difference", "ratio_difference"]
