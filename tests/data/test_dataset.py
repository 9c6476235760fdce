"""Dataset.fingerprint: the same rows in any order give the same value; any changed field changes it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from movierec.data import Dataset


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [1, 1, 2, 3, 3, 3],
            "movie_id": [10, 20, 10, 20, 30, 40],
            "rating": [4.0, 3.5, 5.0, 1.0, 2.5, 4.0],
            "timestamp": [100, 200, 300, 400, 500, 600],
        }
    )


def test_fingerprint_ignores_row_order() -> None:
    frame = _frame()
    assert Dataset.from_frames(frame).fingerprint() == Dataset.from_frames(frame.reverse()).fingerprint()


@pytest.mark.parametrize(
    ("column", "value"),
    [("rating", 4.5), ("timestamp", 101), ("movie_id", 50), ("user_id", 4)],
)
def test_fingerprint_changes_with_any_field(column: str, value: float) -> None:
    frame = _frame()
    changed = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(value).otherwise(pl.col(column)).alias(column))
    assert Dataset.from_frames(changed).fingerprint() != Dataset.from_frames(frame).fingerprint()


def test_fingerprint_of_swapped_ratings_differs() -> None:
    """Same multiset of values per column, paired differently: a different dataset."""
    frame = _frame()
    swapped = frame.with_columns(pl.Series("rating", [3.5, 4.0, 5.0, 1.0, 2.5, 4.0], dtype=pl.Float32))
    assert Dataset.from_frames(swapped).fingerprint() != Dataset.from_frames(frame).fingerprint()


def test_fingerprint_of_string_ids_extreme_values_and_no_rows() -> None:
    """String ids, ids and timestamps at the int64 limits (wrapping uint64 arithmetic, no warning), empty data."""
    s = pl.DataFrame(
        {"user_id": ["a", "b", "b"], "movie_id": ["x", "x", "y"], "rating": [1.0, 2.0, 3.0], "timestamp": [0, 1, 2]}
    )
    assert Dataset.from_frames(s).fingerprint() == Dataset.from_frames(s.reverse()).fingerprint()
    renamed = s.with_columns(pl.col("movie_id").replace({"y": "z"}))
    assert Dataset.from_frames(renamed).fingerprint() != Dataset.from_frames(s).fingerprint()
    big = pl.DataFrame(
        {"user_id": [2**63 - 1, -(2**63)], "movie_id": [1, 2], "rating": [0.5, 5.0], "timestamp": [-(2**63), 2**63 - 1]}
    )
    assert Dataset.from_frames(big).fingerprint() == Dataset.from_frames(big.reverse()).fingerprint()
    empty = Dataset.from_frames(_frame().head(0))
    assert len(empty.fingerprint()) == 64 and empty.fingerprint() != Dataset.from_frames(_frame()).fingerprint()


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer in NumPy (wrapping uint64 arithmetic): the oracle of the compiled digest."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def test_compiled_row_digest_equals_the_numpy_expression(seed: int) -> None:
    from movierec.data import synthetic_dataset
    from movierec.data.digest import row_digest

    ds = synthetic_dataset(50_000, seed=seed)
    u, i, r = ds.arrays()
    ts = ds.ratings["timestamp"].to_numpy().astype(np.int64)
    x = _mix64(u.astype(np.uint64) << np.uint64(32) | i.astype(np.uint64))
    x = _mix64(x ^ r.view(np.uint32).astype(np.uint64))
    x = _mix64(x ^ ts.view(np.uint64))
    expected = (int(np.sum(x, dtype=np.uint64)), int(np.bitwise_xor.reduce(x)))
    assert tuple(int(v) for v in row_digest(u, i, r.view(np.uint32), ts.view(np.uint64))) == expected
    assert expected != (0, 0)
