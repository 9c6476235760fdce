"""Splits: every row accounted for, seeds, boundaries, timestamp units and cutoffs, and leak-free time splits."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import polars as pl
import pytest

from movierec.data import synthetic_dataset
from movierec.errors import DataValidationError, DataWarning
from movierec.evaluation.splits import (
    Split,
    chrono_split,
    epoch_seconds,
    kfold_labels,
    last_n_split,
    ml100k_folds,
    random_split,
    stratified_split,
    user_temporal_split,
)
from tests.conftest import small_dataset

LEAK_CHECK_ROWS = [(1, 10, 4.0, 100), (1, 20, 5.0, 200), (2, 30, 3.0, 900), (2, 20, 4.0, 950), (2, 40, 2.0, 1000)]


def _ts(ds, mask):  # noqa: ANN001, ANN202
    return sorted(ds.ratings.filter(pl.Series(mask))["timestamp"].to_list())


def test_global_temporal_split_is_leak_free() -> None:
    ds = small_dataset(LEAK_CHECK_ROWS)
    mask, cut = chrono_split(ds, 0.6)
    assert _ts(ds, ~mask) == [100, 200, 900]
    assert _ts(ds, mask) == [950, 1000]
    assert cut == 950
    split = Split.from_mask(ds, mask, "chrono")
    assert split.train.n_ratings + split.test.n_ratings == 5
    assert split.train.ratings["timestamp"].max() <= split.test.ratings["timestamp"].min()


def test_per_user_temporal_variant_has_its_own_name_and_warns() -> None:
    ds = small_dataset(LEAK_CHECK_ROWS)
    with pytest.warns(DataWarning, match="not leak-free"):
        mask = user_temporal_split(ds, test_fraction=0.4)
    # user 1: round(0.6*2)=1 train (100), test 200; user 2: round(0.6*3)=2 train (900, 950), test 1000
    assert _ts(ds, ~mask) == [100, 900, 950]
    assert _ts(ds, mask) == [200, 1000]
    assert mask.size == 5  # all rows accounted for
    # and it does leak: a test rating (200) is older than a train rating (950)
    assert min(_ts(ds, mask)) < max(_ts(ds, ~mask))


def test_cutoff_as_iso_date_or_epoch() -> None:
    ds = small_dataset([(1, 10, 4.0, 1_000_000_000), (1, 20, 3.0, 1_100_000_000), (2, 10, 3.0, 1_050_000_000)])
    assert epoch_seconds("2002-01-01") == 1_009_843_200
    assert dt.datetime.fromtimestamp(1_000_000_000, dt.timezone.utc).isoformat() == "2001-09-09T01:46:40+00:00"
    for cutoff in ("2002-01-01", dt.date(2002, 1, 1), 1_009_843_200, "1009843200", "2002-01-01T00:00:00Z"):
        mask, cut = chrono_split(ds, cutoff)
        assert cut == 1_009_843_200
        assert _ts(ds, ~mask) == [1_000_000_000]
        assert _ts(ds, mask) == [1_050_000_000, 1_100_000_000]


def test_milliseconds_are_rejected_with_the_unit_named() -> None:
    ms = small_dataset([(1, 10, 4.0, 1_000_000_000_000), (1, 20, 3.0, 1_100_000_000_000)])
    with pytest.raises(DataValidationError, match="milliseconds"):
        chrono_split(ms, "2002-01-01")
    with pytest.raises(DataValidationError, match="milliseconds"):
        epoch_seconds(1_009_843_200_000)
    with pytest.raises(DataValidationError, match="ISO date"):
        epoch_seconds("first of January")
    no_time = small_dataset([(1, 10, 4.0, 0), (2, 20, 3.0, 0)])
    with pytest.raises(DataValidationError, match="timestamp"):
        chrono_split(no_time, 0.5)


def test_chrono_ties_at_the_boundary_go_to_test() -> None:
    ds = small_dataset([(1, 1, 3.0, 10), (1, 2, 3.0, 20), (2, 1, 3.0, 20), (2, 2, 3.0, 30)])
    mask, cut = chrono_split(ds, 0.5)  # sorted position 2 has t=20; both t=20 rows go to test
    assert cut == 20 and _ts(ds, ~mask) == [10] and _ts(ds, mask) == [20, 20, 30]


def test_random_and_kfold_account_for_every_row(seed: int) -> None:
    ds = synthetic_dataset(3000, n_users=60, n_items=80, seed=seed)
    m = random_split(ds, 0.2, seed)
    assert m.sum() == round(0.2 * ds.n_ratings)
    assert np.array_equal(m, random_split(ds, 0.2, seed)) and not np.array_equal(m, random_split(ds, 0.2, seed + 1))
    labels = kfold_labels(ds, 5, seed)
    sizes = np.bincount(labels)
    assert sizes.sum() == ds.n_ratings and sizes.max() - sizes.min() <= 1
    split = Split.from_mask(ds, labels == 0, "fold 1/5")
    assert split.train.n_ratings + split.test.n_ratings == ds.n_ratings
    with pytest.raises(DataValidationError):
        random_split(ds, 1.0)
    with pytest.raises(DataValidationError, match="empty"):
        Split.from_mask(ds, np.zeros(ds.n_ratings, bool), "none")


def test_stratified_holds_out_a_share_of_each_user(seed: int) -> None:
    rows = [(u, m, 3.0, m) for u, n in ((1, 4), (2, 5), (3, 1), (4, 10)) for m in range(n)]
    ds = small_dataset(rows)
    mask = stratified_split(ds, 0.25, seed)
    test_per_user = Counter(ds.ratings.filter(pl.Series(mask))["user_id"].to_list())
    # train = round(0.75 n): 4 -> 3, 5 -> round(3.75) = 4, 1 -> round(0.75) = 1, 10 -> round(7.5) = 8 (half to even)
    assert test_per_user == {1: 1, 2: 1, 4: 2}
    assert mask.sum() + (~mask).sum() == ds.n_ratings
    assert np.array_equal(mask, stratified_split(ds, 0.25, seed))


def test_last_n_takes_each_users_latest(recwarn: pytest.WarningsRecorder) -> None:
    ds = small_dataset([(1, 1, 3.0, 5), (1, 2, 3.0, 9), (1, 3, 3.0, 7), (2, 1, 3.0, 1), (3, 1, 3.0, 4), (3, 2, 3.0, 4)])
    with pytest.warns(DataWarning, match="leak"):
        mask = last_n_split(ds, 1)
    test = ds.ratings.filter(pl.Series(mask)).sort("user_id")
    # user 1: latest t=9 (movie 2); user 2 has one rating: kept in train; user 3: tie at t=4, larger id counts as later
    assert test.select("user_id", "movie_id").rows() == [(1, 2), (3, 2)]


def test_ml100k_official_folds_partition_u_data(data_home) -> None:  # noqa: ANN001
    folds = list(ml100k_folds("ml-100k"))
    assert [f.name for f in folds] == ["u1", "u2", "u3", "u4", "u5"]
    tests = [set(f.test.ratings.select("user_id", "movie_id").rows()) for f in folds]
    for f, t in zip(folds, tests):
        assert (f.train.n_ratings, f.test.n_ratings) == (80_000, 20_000)
    assert len(set().union(*tests)) == 100_000  # the five test files are disjoint and cover u.data


@pytest.mark.realdata
def test_recommenders_stratified_split_is_row_identical_to_microsoft_recommenders(data_home) -> None:  # noqa: ANN001
    """The split behind published ml-100k ranking tables (python_stratified_split, 75/25, seed 42), pinned by digest."""
    import hashlib

    from movierec.data import load_movielens
    from movierec.evaluation.splits import recommenders_stratified_split

    ds = load_movielens(str(data_home / "ml-100k"))
    before = np.random.get_state()[1].copy()
    test = recommenders_stratified_split(ds)
    assert (np.random.get_state()[1] == before).all()  # NumPy's global state untouched
    assert int(test.sum()) == 25_008 and int((~test).sum()) == 74_992
    r = ds.ratings.filter(test).sort("user_id", "movie_id")
    text = "".join(f"{u}\t{m}\n" for u, m in zip(r["user_id"].to_list(), r["movie_id"].to_list(), strict=True))
    assert hashlib.sha256(text.encode()).hexdigest() == "a29e96aa8206317016ee0461413988305485d1aa2190c114893e75085688156c"
