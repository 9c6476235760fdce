"""The retrain's high-water mark counts new stored ratings the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import polars as pl

from movierec.retrain import high_water, new_ratings_since
from movierec.store import db


def test_new_ratings_since_the_mark_of_what_was_read(db_url: str) -> None:
    eng = db.make_engine(db_url)
    try:
        db.init_db(eng)
        movies = pl.DataFrame({"movie_id": [1, 2, 3], "title": ["A", "B", "C"], "year": [None] * 3,
                               "genres": [[], [], []]}, schema_overrides={"year": pl.Int32})  # fmt: skip
        db.sync_movies(eng, movies)
        assert high_water(db.ratings_frame(eng)) == {"updated_at": None, "at": [], "n_ratings": 0}
        for user, movie in ((1, 1), (1, 2), (2, 1)):
            db.upsert_rating(eng, user, movie, 4.0)
        mark = high_water(db.ratings_frame(eng))
        assert mark["n_ratings"] == 3 and mark["updated_at"] >= db.now() - 60
        assert 1 <= len(mark["at"]) <= 3 and all(row[2] == 4.0 for row in mark["at"])
        assert new_ratings_since(eng, mark) == 0 and new_ratings_since(eng, None) == 3  # no mark: every rating
        db.upsert_rating(eng, 2, 3, 2.5)  # a new rating, maybe in the mark's own second
        db.upsert_rating(eng, *mark["at"][0][:2], 1.0)  # a changed one, in the mark's second or later
        assert new_ratings_since(eng, mark) == 2
    finally:
        eng.dispose()
