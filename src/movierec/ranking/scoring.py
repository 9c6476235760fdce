"""What a list is ranked by: the model's score, its predicted rating, or the confidence score.

``RankBy.CONFIDENCE`` ranks a user u and film i by::

    s(u, i) = (r̂_ui − r̂_∅i) + η · ln(1 + n_i)

* r̂_ui − r̂_∅i — the model's predicted rating of i for u minus its prediction for a user it knows
  nothing about (the cold-start fallback; r̂_∅i = μ + b_i for biased ALS). For explicit ALS this is
  b_u + p_u · q_i: how much more (or less) than an average user u will like i.
* η · ln(1 + n_i) — the film's evidence: n_i is its number of training ratings (the guard's count),
  η the ``confidence_weight`` in stars per e-fold of ratings (η = 1: a film with e ≈ 2.7 times the
  ratings of another needs one predicted star less to rank level with it). A film one stranger
  rated gets η·ln 2, a film with 500 ratings η·ln 501, so obscure films only appear when the
  user's predicted taste for them is very much stronger.

Read as a choice model, exp(s) ∝ (1 + n_i)^η · exp(r̂_ui − r̂_∅i): the film's share of past choices,
as a prior, times the explicit model's personal preference. The film's mean-rating term b_i is left
out on purpose: it measures how much raters liked a film, not whether this user will choose it,
and ranking by it is what puts one-rating films on top. The hard guard ``min_ratings`` still
applies on top. η = 1.25 was chosen on validation splits of the training side
(docs/decisions/0002-confidence-ranking.md).

For a model whose rating scores are a linear form (U, V, item offset, user offset), the confidence
score is the linear form (U − U_∅, V, η·ln(1 + n), uo − uo_∅): the same fused kernel ranks it.

References
----------
Steck. "Item popularity and recommendation accuracy". RecSys 2011. doi:10.1145/2043932.2043957
Koren. "Factor in the neighbors". ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.config import RankBy, RankingPolicy
from movierec.models.base import LinearScores, Recommender, UserState
from movierec.ranking.index import RankingIndex


def resolve_policy(
    model: Recommender, min_ratings: int | None = None, rank_by: Any = None, confidence_weight: float | None = None
) -> RankingPolicy:
    """The model's ``policy`` with the arguments given (not None) in place of its fields.

    Raises
    ------
    DataValidationError
        If a value is invalid (a negative guard, an unknown ``rank_by``, a negative or non-finite η).
    """
    return model.policy.with_overrides(min_ratings=min_ratings, rank_by=rank_by, confidence_weight=confidence_weight)


def block_scores(
    model: Recommender, states: UserState, policy: RankingPolicy, index: RankingIndex
) -> LinearScores | np.ndarray:
    """The scores a block's lists are ranked by: a linear form where the model has one, else a dense block."""
    if policy.rank_by == RankBy.CONFIDENCE:
        bonus = index.evidence_bonus(policy.confidence_weight)
        rating = model.linear_scores(states, "rating")
        cold = index.cold_rating()
        if rating is not None and isinstance(cold, LinearScores):
            return LinearScores.of(
                rating.user_vectors - cold.user_vectors,
                rating.item_vectors,
                bonus,
                rating.user_offset - cold.user_offset,
            )
        dense = model.score_block(states, "rating")
        cold_row = cold.dense()[0] if isinstance(cold, LinearScores) else cold[0]
        return (dense - cold_row[None, :]) + bonus[None, :]
    target = "rating" if policy.rank_by == RankBy.RATING else "score"
    form = model.linear_scores(states, target)
    return form if form is not None else model.score_block(states, target)


def ratings_at(model: Recommender, states: UserState, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Unclipped predicted ratings of (block row, item) pairs, shape (n_pairs,), float32."""
    form = model.linear_scores(states, "rating")
    if form is not None:
        return form.at(rows, items)
    return model.score_block(states, "rating")[rows, items].astype(np.float32)


__all__ = ["RankBy", "RankingPolicy", "block_scores", "ratings_at", "resolve_policy"]
