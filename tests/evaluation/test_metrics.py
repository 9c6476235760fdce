"""Golden values of the rating and ranking metrics, computed by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from movierec.errors import DataValidationError
from movierec.evaluation.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_items,
    rating_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
)
from movierec.models import make_model
from tests.conftest import small_dataset

L3 = math.log2(3)


def test_graded_ndcg_linear_exponential_binary() -> None:
    grades = {1: 1, 2: 3, 3: 0, 4: 2}
    # linear: DCG = 1/1 + 3/log2(3) + 0/2 = 2.89279; IDCG = 3 + 2/log2(3) + 1/2 = 4.76186 -> 0.60749
    assert ndcg_at_k([1, 2, 3], grades, 3) == pytest.approx(0.6075, abs=5e-5)
    assert ndcg_at_k([1, 2, 3], grades, 3) == pytest.approx((1 + 3 / L3) / (3 + 2 / L3 + 0.5), rel=1e-12)
    # exponential: DCG = 1 + 7/log2(3) = 5.41650; IDCG = 7 + 3/log2(3) + 1/2 = 9.39279 -> 0.57667
    assert ndcg_at_k([1, 2, 3], grades, 3, gain="exponential") == pytest.approx(0.5767, abs=5e-5)
    # binary: DCG = 1 + 1/log2(3) = 1.63093; IDCG = 1 + 1/log2(3) + 1/2 = 2.13093 -> 0.76536
    assert ndcg_at_k([1, 2, 3], grades, 3, gain="binary") == pytest.approx(0.7654, abs=5e-5)


def test_ndcg_truncation_before_dcg() -> None:
    grades = {2: 2, 5: 1, 7: 1}
    # @2: DCG = 1/1 + 2/log2(3) = 2.26186; IDCG = 2 + 1/log2(3) = 2.63093 -> 0.85972
    assert ndcg_at_k([5, 2, 9], grades, 2) == pytest.approx(0.8597, abs=5e-5)
    # @3: DCG = 2.26186 + 0; IDCG = 2 + 1/log2(3) + 1/2 = 3.13093 -> 0.72243
    assert ndcg_at_k([5, 2, 9], grades, 3) == pytest.approx(0.7224, abs=5e-5)
    # a list longer than k never counts beyond k
    assert ndcg_at_k([9, 8, 2, 5, 7], grades, 2) == 0.0


def test_precision_denominator_is_k() -> None:
    rec = [2, 4, 11, 12, 13, 14, 15, 16, 17, 18]
    rel = {2, 4}
    assert precision_at_k(rec, rel, 2) == 1.0
    assert precision_at_k(rec, rel, 5) == 0.4
    assert precision_at_k(rec, rel, 10) == 0.2
    assert recall_at_k(rec, rel, 10) == 1.0
    # short list: 2 items asked at k=10 -> still divided by 10 (missing slots are misses)
    assert precision_at_k([2, 4], rel, 10) == 0.2
    values = [precision_at_k(rec, rel, k) for k in range(1, 11)]
    assert all(b <= a for a, b in zip(values, values[1:]))


def test_map_mrr_hit_rate_by_hand() -> None:
    rec = [7, 2, 9, 4, 8]
    rel = {2, 4, 6}
    # hits at ranks 2 and 4: AP@5 = (1/2 + 2/4) / min(5, 3) = 1/3
    assert average_precision_at_k(rec, rel, 5) == pytest.approx(1 / 3)
    # AP@2 = (1/2) / min(2, 3) = 1/4
    assert average_precision_at_k(rec, rel, 2) == pytest.approx(0.25)
    assert reciprocal_rank_at_k(rec, rel, 5) == 0.5
    assert reciprocal_rank_at_k(rec, rel, 1) == 0.0
    assert hit_rate_at_k(rec, rel, 1) == 0.0
    assert hit_rate_at_k(rec, rel, 2) == 1.0
    assert recall_at_k(rec, rel, 5) == pytest.approx(2 / 3)


def test_undefined_for_users_without_relevant_items() -> None:
    for fn in (recall_at_k, ndcg_at_k, average_precision_at_k, reciprocal_rank_at_k, hit_rate_at_k):
        with pytest.raises(DataValidationError, match="no relevant"):
            fn([1, 2], {3: 0.0}, 2)
    assert precision_at_k([1, 2], set(), 2) == 0.0
    with pytest.raises(DataValidationError, match="k must be"):
        precision_at_k([1], {1}, 0)


@settings(max_examples=200, deadline=None)
@given(
    rec=st.lists(st.integers(0, 30), unique=True, max_size=15),
    grades=st.dictionaries(st.integers(0, 30), st.integers(0, 5), min_size=1, max_size=12),
    k=st.integers(1, 12),
)
def test_ranking_metrics_stay_in_unit_interval(rec: list[int], grades: dict[int, int], k: int) -> None:
    if not any(v > 0 for v in grades.values()):
        grades = {**grades, 99: 1}
    for gain in ("linear", "exponential", "binary"):
        assert 0.0 <= ndcg_at_k(rec, grades, k, gain=gain) <= 1.0 + 1e-12  # type: ignore[arg-type]
    for fn in (precision_at_k, recall_at_k, average_precision_at_k, reciprocal_rank_at_k, hit_rate_at_k):
        assert 0.0 <= fn(rec, grades, k) <= 1.0


def test_cold_start_counted_never_nan() -> None:
    train = small_dataset([(1, 10, 4.0, 1), (1, 20, 3.0, 2), (2, 10, 5.0, 3), (2, 30, 2.0, 4)])
    model = make_model("bias").fit(train)
    pred = model.predict([1, 3, 1], [30, 10, 40])
    assert np.isfinite(pred.rating).all()
    assert pred.cold_start.tolist() == [False, True, True]
    mu = 3.5
    b = model.item_bias_[model.items_.index(10)]
    assert pred.raw[1] == pytest.approx(mu + b)  # unseen user: μ + b_i of film 10
    assert pred.raw[2] == pytest.approx(mu + model.user_bias_[model.users_.index(1)])  # unseen film: μ + b_u
    m = rating_metrics(np.array([2.5, 4.0, 3.0]), pred.rating, pred.cold_start)
    assert m.describe() == "scored 1 of 3 pairs, 2 cold-start"
    assert (m.n_pairs, m.n_warm, m.n_cold) == (3, 1, 2)
    assert math.isfinite(m.rmse) and math.isfinite(m.mae) and math.isfinite(m.rmse_warm or math.nan)
    # the same through ALS, which must also never hand NaN to the metric
    als = make_model("als", {"n_factors": 2, "n_iter": 3}).fit(train)
    p2 = als.predict([1, 3, 1], [30, 10, 40])
    assert rating_metrics(np.array([2.5, 4.0, 3.0]), p2.rating, p2.cold_start).describe() == "scored 1 of 3 pairs, 2 cold-start"


def test_rating_metrics_by_hand_and_refuses_nan() -> None:
    # errors +1, -2, 0, +1: RMSE = sqrt(6/4), MAE = 4/4
    m = rating_metrics(np.array([3.0, 4.0, 2.0, 1.0]), np.array([4.0, 2.0, 2.0, 2.0]), np.array([0, 0, 1, 1], bool))
    assert m.rmse == pytest.approx(math.sqrt(1.5)) and m.mae == 1.0
    assert m.rmse_warm == pytest.approx(math.sqrt(2.5)) and m.mae_warm == pytest.approx(1.5)
    none_warm = rating_metrics(np.array([3.0]), np.array([3.5]), np.array([True]))
    assert none_warm.rmse_warm is None and none_warm.rmse == 0.5
    with pytest.raises(DataValidationError, match="NaN or infinite"):
        rating_metrics(np.array([3.0]), np.array([np.nan]))
    with pytest.raises(DataValidationError, match="empty"):
        rating_metrics(np.array([]), np.array([]))


def test_ties_never_flatter_the_model() -> None:
    scores = np.zeros(6, dtype=np.float32)  # a model with no preference
    cand = np.ones(6, bool)
    relevant = np.array([True, False, True, False, False, False])
    top = rank_items(scores, cand, 3, relevant)
    assert not relevant[top].any()  # relevant items go after the tied irrelevant ones
    assert top.tolist() == [1, 3, 4]
    # a real preference still wins over the tie rule
    scores[2] = 1.0
    assert rank_items(scores, cand, 2, relevant).tolist() == [2, 1]
    # the serving rule: more training ratings first, then position; test data never consulted
    counts = np.array([1, 5, 5, 9, 0, 0])
    assert rank_items(np.zeros(6), cand, 3, relevant, ties="serve", n_ratings=counts).tolist() == [3, 1, 2]
    # non-finite scores and non-candidates are never ranked; short lists are not padded
    s = np.array([np.nan, 1.0, 2.0, 3.0, np.inf, 0.0])
    assert rank_items(s, np.array([1, 1, 1, 0, 0, 0], bool), 5).tolist() == [2, 1]
