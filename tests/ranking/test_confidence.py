"""The confidence ranking (r̂_ui − r̂_∅i) + η·ln(1 + n_i): hand-computed lists, defaults, validation, batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from movierec import ALS, ALSConfig, RankingPolicy, recommend
from movierec.data import Dataset, RatingScale
from movierec.data.dataset import empty_movies
from movierec.data.idmap import IdMap
from movierec.errors import DataValidationError
from movierec.evaluation.protocols import EvalOptions, ranking_metrics
from movierec.models.base import LinearScores
from movierec.models.hybrid import Hybrid
from movierec.models.temporal import TemporalALS
from movierec.ranking import index_for
from movierec.ranking.batch import iter_top_k, write_recommendations
from movierec.ranking.scoring import block_scores, ratings_at
from tests.conftest import frame
from tests.ranking.test_batch import factor_model


def hand_model(confidence_weight: float | None = 1.0) -> ALS:
    """Three films (ids 10, 20, 30) with n = 0, 1, 99 training ratings; user 1 rated a fourth film (40).

    μ = 3.5, b_i = (1.0, 0.5, 0.3, 0), user 1: b_u = 0.2, p_u = (1, 0); q_i = (2.5, 0), (1, 0), (−1, 0), (0, 0).
    """
    policy = RankingPolicy(0, "rating") if confidence_weight is None else RankingPolicy(0, "confidence", confidence_weight)
    m = ALS(ALSConfig(n_factors=2), policy=policy)
    m.users_ = IdMap(np.array([1, 2]), "user")
    m.items_ = IdMap(np.array([10, 20, 30, 40]), "movie")
    m.movies_ = empty_movies()
    m.scale_ = RatingScale(0.5, 5.0, 0.5)
    m.global_mean_ = 3.5
    m.user_factors_ = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    m.user_bias_ = np.array([0.2, 0.0], dtype=np.float32)
    m.item_factors_ = np.array([[2.5, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    m.item_bias_ = np.array([1.0, 0.5, 0.3, 0.0], dtype=np.float32)
    m.user_items_ = sp.csr_matrix((np.array([4.0, 3.0], np.float32), ([0, 1], [3, 3])), shape=(2, 4))
    m.item_counts_ = np.array([0, 1, 99, 2], dtype=np.int64)
    m._finish_fit()
    return m


def confidence_row(model: ALS, u: int, eta: float) -> np.ndarray:
    """The confidence scores of training user ``u`` as a dense row."""
    policy = model.policy.with_overrides(rank_by="confidence", confidence_weight=eta)
    form = block_scores(model, model.user_states([u]), policy, index_for(model))
    return form.dense()[0] if isinstance(form, LinearScores) else form[0]


def ids(recs: list) -> list:
    return [r.movie_id for r in recs]


def test_hand_computed_lists_depend_on_eta_and_differ_from_the_rating_list() -> None:
    # η = 1: ln(1 + n) = 0, ln 2 = 0.6931, ln 100 = 4.6052; b_u + p_u·q_i = 2.7, 1.2, −0.8
    #   -> scores 2.7, 1.8931, 3.8052: film 30 (99 ratings) first, then 10, then 20.
    m = hand_model(1.0)
    recs = recommend(m, 1, k=3)
    assert ids(recs) == [30, 10, 20]
    np.testing.assert_allclose([r.raw_score for r in recs], [3.8052, 2.7, 1.8931], atol=1e-4)
    # served stars stay the predicted rating μ + b_i + b_u + p·q, clipped: 3.0, 7.2 -> 5.0, 5.2 -> 5.0
    np.testing.assert_allclose([r.score for r in recs], [3.0, 5.0, 5.0], atol=1e-5)
    # η = 0.5: bonuses 0, 0.3466, 2.3026 -> 2.7, 1.5466, 1.5026: taste wins, 10, 20, 30
    assert ids(recommend(m, 1, k=3, confidence_weight=0.5)) == [10, 20, 30]
    # the predicted-rating list: 7.2, 5.2, 3.0
    assert ids(recommend(m, 1, k=3, rank_by="rating")) == [10, 20, 30]
    # the hard guard still applies on top (film 10 has no rating): 30, 20
    assert ids(recommend(m, 1, k=3, min_ratings=1)) == [30, 20]


def test_cold_user_gets_the_most_rated_films_first() -> None:
    m = hand_model(1.0)  # unknown user: taste 0, so the order of ln(1 + n): 30 (99), 40 (2), 20 (1), 10 (0)
    assert ids(recommend(m, None, k=4)) == [30, 40, 20, 10]
    np.testing.assert_allclose([r.raw_score for r in recommend(m, None, k=2)], [np.log(100), np.log(3)], atol=1e-5)


def test_dense_path_equals_the_linear_form() -> None:
    class Dense(ALS):  # a model without a linear form: scored as r̂ − r̂_∅ + bonus on dense rows
        def linear_scores(self, states, target="score"):  # type: ignore[no-untyped-def]
            return None

        def score_block(self, states, target="score"):  # type: ignore[no-untyped-def]
            return ALS.linear_scores(self, states, target).dense()

    plain, dense = hand_model(), hand_model()
    dense.__class__ = Dense
    for u in (0, 1):
        np.testing.assert_allclose(confidence_row(plain, u, 0.8), confidence_row(dense, u, 0.8), atol=1e-5)
        assert ids(recommend(plain, plain.users_.ids[u], k=3)) == ids(recommend(dense, dense.users_.ids[u], k=3))
    np.testing.assert_allclose(confidence_row(plain, 0, 0.0), [2.7, 1.2, -0.8, 0.2], atol=1e-6)


def test_defaults_als_ranks_by_confidence_hybrid_and_temporal_by_their_score() -> None:
    assert ALS().policy == RankingPolicy(20, "confidence", 1.25)
    assert str(Hybrid().policy.rank_by) == "score" and str(TemporalALS().policy.rank_by) == "score"
    m = hand_model(None)  # the predicted-rating list
    assert ids(recommend(m, 1, k=3)) == [10, 20, 30]
    assert ids(recommend(m, 1, k=3, rank_by="confidence", confidence_weight=1.0)) == [30, 10, 20]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "1"])
def test_bad_weights_and_modes_are_refused(bad: object) -> None:
    m = hand_model()
    with pytest.raises(DataValidationError, match="confidence_weight"):
        recommend(m, 1, rank_by="confidence", confidence_weight=bad)  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="confidence_weight"):
        RankingPolicy(confidence_weight=bad)  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="rank_by"):
        recommend(m, 1, rank_by="popularity")


def test_evaluation_ranks_as_recommend_serves() -> None:
    # user 1 rated film 30 in the test set: the confidence list (η = 1) puts it first, the rating list last.
    m = hand_model(1.0)
    test = Dataset.from_frames(frame([(1, 30, 4.0, 0)]), None, RatingScale(0.5, 5.0, 0.5), name="test")
    conf, lists = ranking_metrics(m, test, EvalOptions(k=1), [0])
    assert [x.tolist() for x in lists[0]] == [[2]] and conf[0]["precision"] == 1.0 and conf[0]["ndcg"] == 1.0
    rating, lists = ranking_metrics(m, test, EvalOptions(k=1, rank_by="rating"), [0])
    assert [x.tolist() for x in lists[0]] == [[0]] and rating[0]["precision"] == 0.0
    half, lists = ranking_metrics(m, test, EvalOptions(k=1, confidence_weight=0.5), [0])
    assert [x.tolist() for x in lists[0]] == [[0]]
    np.testing.assert_allclose(confidence_row(m, 0, 1.0)[:3], [2.7, 1.8931, 3.8052], atol=1e-4)
    state = m.user_states([0])
    np.testing.assert_allclose(ratings_at(m, state, np.zeros(3, np.int64), np.arange(3)), [7.2, 5.2, 3.0], atol=1e-5)


def test_batch_and_written_file_match_recommend_under_confidence(tmp_path: Path, seed: int) -> None:
    model = factor_model(40, 30, 4, seed)  # default policy: rank by confidence, η = 1.25
    assert str(model.policy.rank_by) == "confidence"
    out = tmp_path / "recs.parquet"
    write_recommendations(model, out, k=5, min_ratings=3, block_size=16)
    table = pl.read_parquet(out)
    for uid in range(1, 41):
        mine = table.filter(pl.col("user_id") == uid).sort("rank")
        ref = recommend(model, uid, k=5, min_ratings=3)
        assert mine["movie_id"].to_list() == [r.movie_id for r in ref]
        np.testing.assert_allclose(mine["raw_score"].to_numpy(), [r.raw_score for r in ref], atol=1e-5)
        np.testing.assert_allclose(mine["score"].to_numpy(), [r.score for r in ref], atol=1e-5)
    _, block = next(iter_top_k(model, k=5, min_ratings=3))
    assert np.isfinite(block.rating[block.item_idx >= 0]).all()


def test_single_lists_equal_batch_lists_bit_for_bit(seed: int) -> None:
    """``recommend`` for one user (a block of one) and ``iter_top_k`` (blocks of many) give the same films
    and the same float32 scores: one kernel, one summation order."""
    model = factor_model(50, 3000, 8, seed)
    for rank_by in ("confidence", "rating"):
        for uidx, block in iter_top_k(model, k=8, min_ratings=3, users=np.arange(10), rank_by=rank_by):
            for row, u in enumerate(uidx):
                single = recommend(model, model.users_.ids[int(u)], k=8, min_ratings=3, rank_by=rank_by)
                assert [r.movie_id for r in single] == [model.items_.ids[int(i)] for i in block.item_idx[row] if i >= 0]
                assert [r.raw_score for r in single] == block.raw_score[row][block.item_idx[row] >= 0].tolist()
