"""Train/test splits of a ``Dataset``. Every rating lands in exactly one side.

Each splitter returns test masks over ``dataset.ratings`` rows (one bool per
row, True = test), so "every row accounted for" holds by construction;
``Split.from_mask`` turns a mask into two datasets (ids re-indexed on each side).

==================  ==========================================  =============
name                what goes to test                           leak-free
==================  ==========================================  =============
random              a seeded random fraction of all ratings     no time order
kfold               fold f of a seeded permutation              no time order
stratified          a seeded fraction of each user's ratings    no time order
chrono              every rating at or after a global cutoff    yes
user-temporal       the last fraction of each user's ratings    NO (warns)
last-n              each user's n latest ratings                NO (warns)
ml100k-folds        GroupLens' u1..u5 .test files               no time order
==================  ==========================================  =============

References
----------
Harper, Konstan. "The MovieLens Datasets: History and Context". ACM TiiS 5(4), 2015.
doi:10.1145/2827872
Microsoft Recommenders, ``python_stratified_split`` and ``python_chrono_split``
(recommenders-team/recommenders, ``recommenders/datasets/python_splitters.py``).
Meng, McCreadie, Macdonald, Ounis. "Exploring data splitting strategies for the
evaluation of recommendation models". RecSys 2020. doi:10.1145/3383313.3418479
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError, DataWarning, ParameterError

MS_THRESHOLD = 100_000_000_000
"""Epoch values above this (year 5138 in seconds) are taken to be milliseconds."""


@dataclass
class Split:
    """One train/test pair.

    Attributes
    ----------
    train, test : Dataset
        Disjoint; ``train.n_ratings + test.n_ratings`` equals the source's n_ratings.
    name : str
        E.g. ``"fold 2/5"`` or ``"u1"``.
    info : dict
        Split parameters (fraction, cutoff epoch, seed ...) for reports.
    """

    train: Dataset
    test: Dataset
    name: str
    info: dict

    @classmethod
    def from_mask(cls, dataset: Dataset, test_mask: np.ndarray, name: str, **info: object) -> Split:
        """Train = rows where ``test_mask`` is False, test = rows where it is True.

        Raises
        ------
        DataValidationError
            If the mask has the wrong length or either side would be empty.
        """
        mask = np.asarray(test_mask, dtype=bool)
        if mask.shape != (dataset.n_ratings,):
            raise DataValidationError(f"split mask has shape {mask.shape}, dataset has {dataset.n_ratings} ratings")
        n_test = int(mask.sum())
        if n_test == 0 or n_test == mask.size:
            side = "test" if n_test == 0 else "train"
            raise DataValidationError(
                f"split {name!r} of {dataset.name or 'dataset'} leaves the {side} side empty "
                f"({mask.size - n_test} train, {n_test} test rows); change the fraction or cutoff"
            )
        train = dataset.subset(~mask, name=f"{dataset.name} [{name} train]")
        test = dataset.subset(mask, name=f"{dataset.name} [{name} test]")
        return cls(train, test, name, {"n_train": train.n_ratings, "n_test": test.n_ratings, **info})


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < float(test_fraction) < 1.0:
        raise ParameterError("test_fraction", "strictly between 0 and 1", test_fraction)


def random_split(dataset: Dataset, test_fraction: float = 0.2, seed: int = 42) -> np.ndarray:
    """Test mask of a seeded random holdout over ratings.

    Exactly ``round(test_fraction * n_ratings)`` rows go to test. Users or
    films that end up only in test are cold-start at evaluation (counted).

    Returns
    -------
    ndarray of shape (n_ratings,), bool

    Raises
    ------
    DataValidationError
        If ``test_fraction`` is not in (0, 1).
    """
    _check_fraction(test_fraction)
    n = dataset.n_ratings
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: int(round(test_fraction * n))]] = True
    return mask


def kfold_labels(dataset: Dataset, n_folds: int = 5, seed: int = 42) -> np.ndarray:
    """Fold label 0..n_folds-1 of every rating: a seeded permutation dealt round-robin.

    Fold sizes differ by at most one; fold f's test mask is ``labels == f``.

    Returns
    -------
    ndarray of shape (n_ratings,), int64

    Raises
    ------
    DataValidationError
        If ``n_folds`` < 2 or exceeds n_ratings.
    """
    if not 2 <= n_folds <= dataset.n_ratings:
        raise ParameterError("n_folds", f"in [2, n_ratings={dataset.n_ratings}]", n_folds)
    labels = np.empty(dataset.n_ratings, dtype=np.int64)
    labels[np.random.default_rng(seed).permutation(dataset.n_ratings)] = np.arange(dataset.n_ratings) % n_folds
    return labels


def stratified_split(dataset: Dataset, test_fraction: float = 0.25, seed: int = 42) -> np.ndarray:
    """Test mask holding a seeded fraction of each user's ratings.

    Microsoft Recommenders' ``python_stratified_split(ratio=1 - test_fraction,
    filter_by="user")`` semantics: each user's rows are shuffled and the first
    ``round((1 - test_fraction) * n_u)`` go to train (Python's round, half to
    even, as ``np.split`` at ``round(ratio * len)`` there), the rest to test.
    Every user therefore appears in train; a user with one rating has it in
    train. The shuffle is ours (NumPy's ``default_rng``), so the rows differ from
    theirs; ``recommenders_stratified_split`` gives their exact rows.

    Returns
    -------
    ndarray of shape (n_ratings,), bool

    Raises
    ------
    DataValidationError
        If ``test_fraction`` is not in (0, 1).
    """
    _check_fraction(test_fraction)
    users = dataset.ratings["user_idx"].to_numpy()
    return _per_user_split(users, np.random.default_rng(seed).random(users.size), test_fraction)


def recommenders_stratified_split(dataset: Dataset, test_fraction: float = 0.25, seed: int = 42) -> np.ndarray:
    """Test mask row-identical to Microsoft Recommenders' ``python_stratified_split`` (75/25 per user, seed 42).

    Their recipe on the rows in source-file order: ``np.random.seed(seed)``, one ``np.random.rand``
    draw per row, sort by (user, draw), and a row is training when its rank within the user is at most
    ``round((1 - test_fraction) * n_user)`` (half to even). On ml-100k's ``u.data`` this gives 74,992
    training and 25,008 test rows; the test pairs, sorted by user then film and written as
    ``user<TAB>film`` lines, have SHA-256 ``a29e96aa…8156c`` (pinned in the tests). The draws come from
    a private ``RandomState(seed)``: NumPy's global state is left alone.

    Returns
    -------
    ndarray of shape (n_ratings,), bool

    Raises
    ------
    DataValidationError
        If ``test_fraction`` is not in (0, 1).
    """
    _check_fraction(test_fraction)
    users = dataset.ratings["user_id"].to_numpy()
    return _per_user_split(users, np.random.RandomState(seed).rand(users.size), test_fraction)


def _per_user_split(users: np.ndarray, draws: np.ndarray, test_fraction: float) -> np.ndarray:
    """Test mask: per user, the rows after the first round((1 − f)·n_u) in order of ``draws``."""
    order = np.lexsort((draws, users))  # by user, random within user
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    sizes = np.diff(np.r_[starts, users.size])
    n_train = np.array([round((1.0 - test_fraction) * s) for s in sizes.tolist()], dtype=np.int64)
    rank = np.arange(users.size) - np.repeat(starts, sizes)
    mask = np.zeros(users.size, dtype=bool)
    mask[order] = rank >= np.repeat(n_train, sizes)
    return mask


def epoch_seconds(cutoff: str | int | float | dt.date | dt.datetime) -> int:
    """A cutoff as UTC epoch seconds.

    Accepts an ISO date (``"2002-01-01"`` = midnight UTC), an ISO datetime
    (naive = UTC), a ``date``/``datetime``, or an epoch number in seconds.

    Raises
    ------
    DataValidationError
        If the string does not parse, or the number looks like milliseconds
        (> 1e11) or is negative.
    """
    if isinstance(cutoff, dt.datetime):
        d = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=dt.UTC)
        return int(d.timestamp())
    if isinstance(cutoff, dt.date):
        return epoch_seconds(dt.datetime(cutoff.year, cutoff.month, cutoff.day))
    if isinstance(cutoff, str):
        text = cutoff.strip()
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return epoch_seconds(float(text))
        try:
            return epoch_seconds(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise DataValidationError(
                f"cutoff {cutoff!r} is neither an ISO date (2002-01-01), an ISO datetime nor epoch seconds"
            ) from None
    value = float(cutoff)
    if value > MS_THRESHOLD:
        raise DataValidationError(
            f"cutoff {cutoff!r} looks like epoch milliseconds (above 1e11 seconds is after the year 5000); "
            "give epoch seconds or an ISO date"
        )
    if value < 0:
        raise DataValidationError(f"cutoff {cutoff!r} is before 1970; give epoch seconds or an ISO date")
    return int(value)


def _timestamps(dataset: Dataset) -> np.ndarray:
    ts = dataset.ratings["timestamp"].to_numpy()
    if ts.size and ts.max() > MS_THRESHOLD:
        raise DataValidationError(
            f"{dataset.name or 'dataset'}: timestamps up to {int(ts.max())} look like epoch milliseconds, "
            "not seconds; divide by 1000 when loading (movierec ingest converts them)"
        )
    if ts.size and (ts == ts[0]).all():
        raise DataValidationError(
            f"{dataset.name or 'dataset'}: every timestamp is {int(ts[0])}; a chronological split needs real "
            "timestamps (was the file loaded without a timestamp column?)"
        )
    return ts


def chrono_split(dataset: Dataset, cutoff: str | int | float | dt.date) -> tuple[np.ndarray, int]:
    """Global chronological split: one cutoff time for everyone (leak-free).

    Parameters
    ----------
    cutoff : str, int, float, date or datetime
        A time (ISO date/datetime or epoch seconds, see ``epoch_seconds``), or a
        float in (0, 1): the fraction of ratings, oldest first, wanted in train.
        For a fraction the cutoff time is the timestamp of the rating at sorted
        position ``round(fraction * n_ratings)`` (stable sort by timestamp).

    Returns
    -------
    mask : ndarray of shape (n_ratings,), bool
        Test = ``timestamp >= cutoff`` (boundary rows go to test), so the
        largest train timestamp is strictly below the smallest test timestamp;
        with ties at a fraction's boundary train gets fewer rows than asked.
    cutoff_epoch : int
        The cutoff in UTC epoch seconds.

    Raises
    ------
    DataValidationError
        If timestamps look like milliseconds or are all equal, the cutoff
        does not parse, or one side would be empty.
    """
    ts = _timestamps(dataset)
    if isinstance(cutoff, float) and 0.0 < cutoff < 1.0:
        pos = int(round(cutoff * ts.size))
        if not 0 < pos < ts.size:
            raise DataValidationError(f"train fraction {cutoff} of {ts.size} ratings leaves a side empty")
        cut = int(np.sort(ts, kind="stable")[pos])
    else:
        cut = epoch_seconds(cutoff)
    return ts >= cut, cut


def user_temporal_split(dataset: Dataset, test_fraction: float = 0.25) -> np.ndarray:
    """Per-user chronological split: each user's latest ``test_fraction`` of ratings.

    Not leak-free: another user's training ratings may be later than this
    user's test ratings, so the model sees the future. Use
    ``chrono_split`` to measure what a deployed model would do; this variant
    exists to reproduce papers and warns every time.

    Each user keeps ``round((1 - test_fraction) * n_u)`` oldest ratings in train
    (ties in time broken by movie_id). Returns the test mask, shape (n_ratings,).

    Warns
    -----
    DataWarning
        Always: the split leaks future ratings of other users into training.
    """
    _check_fraction(test_fraction)
    warnings.warn(
        "user-temporal split is not leak-free: other users' later ratings are in training; "
        "use the global chrono split for an honest estimate",
        DataWarning,
        stacklevel=2,
    )
    r = dataset.ratings
    rank = _user_time_rank(r)
    n_u = r.group_by("user_idx").len().sort("user_idx")["len"].to_numpy()
    n_train = np.array([round((1.0 - test_fraction) * s) for s in n_u.tolist()], dtype=np.int64)
    return rank >= n_train[r["user_idx"].to_numpy()]


def last_n_split(dataset: Dataset, n: int = 1) -> np.ndarray:
    """Each user's ``n`` latest ratings go to test (leave-last-n-out).

    Ties in time are broken by movie_id (the later id counts as later). A user
    with n or fewer ratings keeps them all in train (nobody is left without a
    training history). Not leak-free across users (see ``user_temporal_split``).

    Returns
    -------
    ndarray of shape (n_ratings,), bool

    Warns
    -----
    DataWarning
        Always: the split leaks future ratings of other users into training.

    Raises
    ------
    DataValidationError
        If ``n`` < 1, or no user has more than ``n`` ratings.
    """
    if n < 1:
        raise DataValidationError(f"last-n split needs n >= 1, got {n}")
    warnings.warn(
        "last-n split is per user and not leak-free: other users' later ratings are in training",
        DataWarning,
        stacklevel=2,
    )
    r = dataset.ratings
    rank = _user_time_rank(r)
    per_user = r.group_by("user_idx").len().sort("user_idx")["len"].to_numpy()
    if per_user.max(initial=0) <= n:
        raise DataValidationError(
            f"last-{n} split of {dataset.name or 'the dataset'}: no user has more than {n} ratings "
            f"(the most is {per_user.max(initial=0)}), so nobody has a test row; lower --last-n"
        )
    n_u = per_user[r["user_idx"].to_numpy()]
    return (n_u > n) & (rank >= n_u - n)


def _user_time_rank(r: pl.DataFrame) -> np.ndarray:
    """Position of each row in its user's history, oldest = 0 (ties: smaller movie_id first)."""
    users = r["user_idx"].to_numpy()
    order = np.lexsort((r["item_idx"].to_numpy(), r["timestamp"].to_numpy(), users))
    su = users[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    sizes = np.diff(np.r_[starts, su.size])
    rank = np.empty(users.size, dtype=np.int64)
    rank[order] = np.arange(users.size) - np.repeat(starts, sizes)
    return rank


def ml100k_folds(folder: str | Path, folds: tuple[int, ...] = (1, 2, 3, 4, 5)) -> Iterator[Split]:
    """GroupLens' official ml-100k folds ``u{f}.base`` / ``u{f}.test``.

    Each pair partitions ``u.data`` (80,000 / 20,000 ratings; the five test
    files are disjoint); this is checked, not assumed.

    Raises
    ------
    DataValidationError
        If a fold file is missing or a pair does not partition ``u.data``.
    """
    from movierec.data.load import load_movielens, resolve

    root = resolve(folder)
    root = root if root.is_dir() else root.parent
    n_all = None
    if (root / "u.data").exists():
        n_all = sum(1 for line in (root / "u.data").read_bytes().splitlines() if line.strip())
    for f in folds:
        base, test = root / f"u{f}.base", root / f"u{f}.test"
        if not (base.exists() and test.exists()):
            raise DataValidationError(f"{root}: no u{f}.base/u{f}.test; the ml100k-folds protocol needs ml-100k")
        train_ds, test_ds = load_movielens(base), load_movielens(test)
        pairs = pl.concat(
            [train_ds.ratings.select("user_id", "movie_id"), test_ds.ratings.select("user_id", "movie_id")]
        )
        if pairs.is_duplicated().any() or (n_all is not None and pairs.height != n_all):
            raise DataValidationError(f"{root}: u{f}.base and u{f}.test do not partition u.data")
        yield Split(train_ds, test_ds, f"u{f}", {"n_train": train_ds.n_ratings, "n_test": test_ds.n_ratings})


__all__ = [
    "Split",
    "chrono_split",
    "epoch_seconds",
    "kfold_labels",
    "last_n_split",
    "ml100k_folds",
    "random_split",
    "stratified_split",
    "user_temporal_split",
]
