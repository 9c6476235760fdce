"""Top-N: rated films excluded, length min(k, eligible), the inclusive guard, clipped scores in raw order, fallback."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from movierec import ALS, ALSConfig, RankingPolicy, recommend
from movierec.data import Dataset, RatingScale
from movierec.errors import UnknownIdError
from movierec.ranking import top_k
from tests.conftest import frame, small_dataset

SMALL_TRAIN = [(1, 10, 4.0, 0), (1, 20, 3.0, 0), (2, 10, 5.0, 0), (2, 30, 2.0, 0)]


def fitted(rows: list[tuple], movies: pl.DataFrame | None = None, min_ratings: int = 0, **cfg: object) -> ALS:
    ds = Dataset.from_frames(frame(rows), movies, RatingScale(0.5, 5.0, 0.5), name="t")
    policy = ALS.default_policy.with_overrides(min_ratings=min_ratings)
    return ALS(ALSConfig(**{"n_factors": 2, "n_iter": 5, **cfg}), policy=policy).fit(ds)  # type: ignore[arg-type]


def ids(recs: list) -> list:
    return [r.movie_id for r in recs]


def test_rated_films_never_come_back() -> None:
    rows = SMALL_TRAIN + [(3, 40, 4.0, 0), (3, 50, 3.0, 0), (4, 60, 2.5, 0), (4, 10, 3.0, 0)]
    model = fitted(rows)
    new = recommend(model, ratings=[(10, 5.0), (20, 4.0)], k=10)
    assert not {10, 20} & set(ids(new)) and len(new) == model.n_items - 2
    known = recommend(model, 1, k=10)
    assert not {10, 20} & set(ids(known)) and len(known) == model.n_items - 2


def test_length_is_min_of_k_and_eligible() -> None:
    rows = [(u, m, 3.0 + (u + m) % 3 / 2, 0) for u in range(1, 6) for m in range(1, 6)]
    model = fitted(rows)
    a = recommend(model, ratings=[(1, 5.0), (2, 4.0)], k=10)
    assert sorted(ids(a)) == [3, 4, 5]
    scores = [r.raw_score for r in a]
    assert scores == sorted(scores, reverse=True) and np.isfinite(scores).all()
    b = recommend(model, ratings=[(1, 5.0), (2, 4.0)], k=2, exclude=[3])
    assert sorted(ids(b)) == [4, 5]
    everything = recommend(model, ratings=[(m, 4.0) for m in range(1, 6)], k=10)
    assert everything == [] and "rated 5 of the 5 films" in everything.note  # an empty list says why
    assert recommend(model, ratings=[(1, 5.0)], k=2).note is None
    assert "no film has at least 99" in recommend(model, ratings=[(1, 5.0)], k=2, min_ratings=99).note


def test_guard_is_inclusive_and_ignores_unrated_catalogue_films() -> None:
    movies = pl.DataFrame({"movie_id": [1, 2, 3, 4], "title": ["a", "b", "c", "d"], "year": [None] * 4,
                           "genres": [[], [], [], []]}, schema_overrides={"year": pl.Int32, "genres": pl.List(pl.Utf8)})  # fmt: skip
    rows = [(10, 1, 4.0, 0), (11, 1, 3.0, 0), (12, 1, 5.0, 0), (10, 2, 2.0, 0), (11, 2, 4.0, 0), (12, 3, 4.5, 0)]
    model = fitted(rows, movies)
    recs = recommend(model, ratings=[(3, 1.0)], k=10, min_ratings=2)
    assert sorted(ids(recs)) == [1, 2]
    assert sorted(ids(recommend(model, None, k=10, min_ratings=2))) == [1, 2]


def test_served_scores_clipped_but_order_raw() -> None:
    scores = np.array([5.4, 5.2, 3.0], dtype=np.float32)
    order = top_k(scores, np.ones(3, bool), 3, np.array([1, 1, 1]))
    assert order.tolist() == [0, 1, 2]
    model = fitted(SMALL_TRAIN)
    model.item_bias_[:] = [2.0, 1.8, -1.0]  # pushes raw scores above 5 for films 10 and 20
    recs = recommend(model, None, k=3, rank_by="rating")  # the predicted-rating list (als ranks by confidence by default)
    assert ids(recs)[:2] == [10, 20]
    assert all(0.5 <= r.score <= 5.0 for r in recs) and recs[0].raw_score > 5.0


def test_ties_broken_by_more_ratings_then_smaller_id() -> None:
    scores = np.array([1.0, 2.0, 2.0, 2.0])
    assert top_k(scores, np.ones(4, bool), 2, np.array([5, 1, 9, 9])).tolist() == [2, 3]


def test_cold_start_gets_item_baseline_fallback_and_an_unknown_id_is_refused() -> None:
    model = fitted(SMALL_TRAIN)
    recs = recommend(model, None, k=3, rank_by="rating")
    expected = np.argsort(-(model.global_mean_ + model.item_bias_), kind="stable")
    assert ids(recs) == model.items_.to_ids(expected)
    assert all(np.isfinite(r.score) for r in recs)
    with pytest.raises(UnknownIdError, match="nobody"):  # as the CLI (exit 3) and the service (404)
        recommend(model, "nobody", k=3)


def test_new_user_fold_in_differs_from_fallback_and_updates() -> None:
    rng = np.random.default_rng(0)
    rows = [(u, m, float(rng.integers(1, 11)) / 2, 0) for u in range(30) for m in range(1, 41) if rng.random() < 0.5]
    model = fitted(rows, n_factors=4)
    first = recommend(model, ratings=[(10, 5.0), (20, 5.0), (30, 1.0)], k=5)
    assert not {10, 20, 30} & set(ids(first))
    assert ids(first) != ids(recommend(model, None, k=5))
    second = recommend(model, ratings=[(10, 5.0), (20, 5.0), (30, 1.0), (40, 5.0)], k=5)
    assert 40 not in ids(second)


def test_genre_filter() -> None:
    movies = pl.DataFrame({"movie_id": [10, 20, 30], "title": ["a", "b", "c"], "year": [None] * 3,
                           "genres": [["Horror"], ["Animation"], ["Animation", "Children"]]},
                          schema_overrides={"year": pl.Int32, "genres": pl.List(pl.Utf8)})  # fmt: skip
    model = fitted(SMALL_TRAIN, movies)
    assert sorted(ids(recommend(model, None, k=10, genre="animation"))) == [20, 30]
    with pytest.raises(ValueError, match="no film of the model has the genre"):  # as the CLI and the service (422)
        recommend(model, None, k=10, genre="Westrn")


def test_negative_k_rejected() -> None:
    with pytest.raises(ValueError, match="k must be"):
        recommend(fitted(SMALL_TRAIN), 1, k=-1)


def test_string_ids_kept_exactly() -> None:
    rows = [("alice", "m-1", 4.0, 0), ("alice", "m-2", 2.0, 0), ("bob", "m-1", 5.0, 0), ("bob", "m-3", 3.0, 0)]
    ds = small_dataset(rows)
    model = ALS(ALSConfig(n_factors=2, n_iter=3), policy=RankingPolicy(min_ratings=0)).fit(ds)
    recs = recommend(model, "alice", k=5)
    assert ids(recs) == ["m-3"]


def test_policies_are_the_models_defaults_and_calls_override_them() -> None:
    from movierec.models import TemporalALS, make_model

    assert TemporalALS().policy.min_ratings == 20 and make_model("hybrid").policy.min_ratings == 5
    model = fitted(SMALL_TRAIN, min_ratings=7)
    assert model.policy.min_ratings == 7 and str(model.policy.rank_by) == "confidence"
    assert recommend(model, None, k=10) == [] and len(recommend(model, None, k=10, min_ratings=0)) == 3


def test_users_gives_one_frame_equal_to_single_lists() -> None:
    rng = np.random.default_rng(1)
    rows = [(u, m, float(rng.integers(1, 11)) / 2, 0) for u in range(1, 25) for m in range(1, 31) if rng.random() < 0.4]
    model = fitted(rows, n_factors=3)
    frame_ = recommend(model, users=[3, 1, 2], k=4)
    assert frame_.columns == ["user_id", "rank", "movie_id", "score", "raw_score", "n_ratings"]
    for u in (1, 2, 3):
        single = recommend(model, u, k=4)
        rows_u = frame_.filter(pl.col("user_id") == u).sort("rank")
        assert rows_u["movie_id"].to_list() == ids(single)
        assert rows_u["raw_score"].to_list() == pytest.approx([r.raw_score for r in single], abs=0)
    assert frame_.to_pandas().shape == (12, 6)
