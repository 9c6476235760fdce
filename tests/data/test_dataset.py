"""Dataset.fingerprint: the same rows in any order give the same value; any changed field changes it."""

from __future__ import annotations

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
