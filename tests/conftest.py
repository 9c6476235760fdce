"""Shared fixtures: one seed, the real-data home, small rating frames."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from movierec.data import Dataset, RatingScale

SEED = 20261130


@pytest.fixture
def seed() -> int:
    """The one seed every randomised test uses."""
    return SEED


def _data_home() -> Path | None:
    env = os.environ.get("MOVIEREC_DATA_HOME")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if (c / "ml-100k" / "u.data").exists():
            return c
    return None


DATA_HOME = _data_home()


@pytest.fixture
def data_home(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder with real MovieLens data (MOVIEREC_DATA_HOME or ../shared/data).

    Real-data tests skip only when no copy of the GroupLens files is on this
    machine (they may not be redistributed with the repository); CI sets
    MOVIEREC_DATA_HOME so they always run there.
    """
    if DATA_HOME is None:
        pytest.skip("MovieLens data not found: set MOVIEREC_DATA_HOME to a folder holding ml-100k/ and ml-latest-small/")
    monkeypatch.setenv("MOVIEREC_DATA_HOME", str(DATA_HOME))
    return DATA_HOME


def frame(rows: list[tuple], with_ts: bool = True) -> pl.DataFrame:
    """A ratings frame from (user, movie, rating[, timestamp]) tuples."""
    cols = ["user_id", "movie_id", "rating", "timestamp"][: len(rows[0])]
    return pl.DataFrame(rows, schema=cols, orient="row")


def small_dataset(rows: list[tuple], scale: RatingScale | None = None) -> Dataset:
    return Dataset.from_frames(frame(rows), None, scale or RatingScale(0.5, 5.0, 0.5), name="test")
