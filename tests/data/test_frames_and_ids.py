"""Frames of any common library are read with the documented columns; ids of the other kind are matched or refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from movierec import ALS, ALSConfig
from movierec.data import Dataset, load_movielens
from movierec.data.idmap import IdMap
from movierec.errors import DataValidationError, UnknownIdError
from movierec.ranking.recommend import recommend


def ratings_frame() -> pl.DataFrame:
    rows = [(u, m, float(1 + (u * m) % 5), 1000 + u) for u in range(1, 15) for m in range(1, 12) if (u + m) % 3]
    return pl.DataFrame(rows, schema=["user_id", "movie_id", "rating", "timestamp"], orient="row")


@pytest.mark.parametrize("kind", ["polars", "pandas", "arrow", "lazy"])
def test_dataset_and_fit_take_polars_pandas_and_arrow_frames(kind: str) -> None:
    pytest.importorskip("pandas", reason="pandas is not a dependency; the pandas case needs it installed")
    df = ratings_frame()
    given = {"polars": df, "pandas": df.to_pandas(), "arrow": df.to_arrow(), "lazy": df.lazy()}[kind]
    ds = Dataset.from_frames(given)
    assert ds.n_ratings == df.height and ds.users.is_integer
    cfg = ALSConfig(n_factors=2, n_iter=2, random_state=1)
    from_frame = ALS(cfg).fit(given).predict([1, 2], [2, 3]).raw
    np.testing.assert_array_equal(from_frame, ALS(cfg).fit(Dataset.from_frames(df)).predict([1, 2], [2, 3]).raw)


def test_a_frame_with_other_column_names_or_no_table_is_refused_in_one_line() -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not a dependency; the pandas case needs it installed")
    movielens_names = ratings_frame().to_pandas().rename(columns={"user_id": "userId", "movie_id": "movieId"})
    assert isinstance(movielens_names, pd.DataFrame)
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['user_id', 'movie_id'\].*rename the columns"):
        ALS().fit(movielens_names)
    with pytest.raises(DataValidationError, match="expected a Polars or pandas DataFrame or an Arrow table"):
        ALS().fit(np.zeros((3, 3)))


def test_text_id_that_spells_an_integer_finds_the_integer_id() -> None:
    model = ALS(ALSConfig(n_factors=2, n_iter=2)).fit(ratings_frame())
    assert model.predict(["1", " 2"], ["10", "4"]).raw.tolist() == model.predict([1, 2], [10, 4]).raw.tolist()
    as_text = recommend(model, "1", k=3, min_ratings=0)
    assert len(as_text) == 3  # user 1 left 4 of the 11 films unrated
    assert [r.movie_id for r in as_text] == [r.movie_id for r in recommend(model, 1, k=3, min_ratings=0)]
    batch = recommend(model, users=["1", "2"], k=3, min_ratings=0)
    assert batch.height == 6 and batch["user_id"].unique().sort().to_list() == [1, 2]
    rated = set(ratings_frame().filter(pl.col("user_id") == 1)["movie_id"].to_list())
    assert not rated & {r.movie_id for r in as_text}  # not the cold-start list with films user 1 rated


def test_text_id_that_is_not_an_integer_raises_unknown_id_for_an_integer_model() -> None:
    model = ALS(ALSConfig(n_factors=2, n_iter=2)).fit(ratings_frame())
    with pytest.raises(UnknownIdError, match="user id 'u1' is text, but the model's user ids are integers"):
        model.predict(["u1"], [10])
    with pytest.raises(UnknownIdError):
        recommend(model, "1.5")


def test_text_id_map_takes_an_integer_as_its_decimal_text() -> None:
    ids = IdMap(["7", "x9", "10"], "user")
    assert ids.get(7) == ids.get("7") and ids.get(10) == ids.index("10") and ids.get(8) == -1


def test_one_junk_id_is_a_rejected_row_not_a_text_id_column(tmp_path: Path) -> None:
    f = tmp_path / "ratings.csv"
    f.write_text("userId,movieId,rating,timestamp\n1,10,4.0,1\n2,10,3.0,2\nabc,20,3.0,3\n3,20,5.0,4\n")
    with pytest.raises(DataValidationError, match=r"line 4, column 'user': user id is not an integer .*found 'abc'"):
        load_movielens(f)


def test_text_ids_stay_text_when_most_ids_are_text(tmp_path: Path) -> None:
    f = tmp_path / "ratings.csv"
    f.write_text("userId,movieId,rating,timestamp\nalice,10,4.0,1\nbob,10,3.0,2\n42,20,3.0,3\ncarol,20,5.0,4\n")
    ds = load_movielens(f)
    assert not ds.users.is_integer and sorted(ds.users.ids.to_list()) == ["42", "alice", "bob", "carol"]
