"""Ranked lists for a block of user states: the path every list takes.

``rank_states`` resolves the candidates (the guard, a genre, an exclusion list, each user's rated
films), scores the block the way the policy says (``scoring.block_scores``), selects with the one
top-k (``topk.rank_block``) and reads the predicted ratings of the chosen films. ``recommend``,
``recommend_batch``/``recommend-all``, ``evaluate``, the service and the Spark executors call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from movierec.config import RankingPolicy
from movierec.models.base import LinearScores, Recommender, UserState
from movierec.ranking.index import RankingIndex, index_for
from movierec.ranking.scoring import block_scores, ratings_at
from movierec.ranking.topk import Eligible, rank_block


@dataclass
class Ranked:
    """The lists of a block of users.

    Attributes
    ----------
    item_idx : ndarray of shape (n_block, k), int64
        Item positions, best first; -1 where a user has fewer than k candidates.
    raw_score : ndarray of shape (n_block, k), float32
        The ranking score (the order); -inf where ``item_idx`` is -1.
    rating : ndarray of shape (n_block, k), float32
        Unclipped predicted ratings of the chosen films; NaN where ``item_idx`` is -1.
    eligible : Eligible
        The candidates before each user's exclusions.
    """

    item_idx: np.ndarray
    raw_score: np.ndarray
    rating: np.ndarray
    eligible: Eligible


def rank_states(
    model: Recommender,
    states: UserState,
    k: int,
    policy: RankingPolicy,
    *,
    index: RankingIndex | None = None,
    genre: str | None = None,
    exclude: Iterable[Any] = (),
    exclude_rated: bool = True,
    demote: sp.csr_matrix | None = None,
    ties: str = "serve",
) -> Ranked:
    """Top-k lists of a block of states under ``policy`` (guard, rank_by, η).

    Parameters
    ----------
    model : fitted Recommender
    states : UserState
        From ``model.user_states`` or ``model.fold_in``.
    k : int, >= 0
    policy : RankingPolicy
    index : RankingIndex, optional
        Default ``index_for(model)``.
    genre : str, optional
        Only films of this genre (``DataValidationError`` if no film has it).
    exclude : iterable of movie ids
        Films left out for every user of the block (unknown ids are ignored).
    exclude_rated : bool, default True
        Leave out each user's rated films.
    demote : csr_matrix of shape (n_block, n_items), optional
        Films that lose every tie for that user (evaluation's pessimistic rule).
    ties : {"serve", "pessimistic"}
        "serve": equal scores go to the film with more training ratings; "pessimistic": no film
        has a tie advantage but the ``demote`` films lose every tie (``movierec.evaluation.metrics``).
    """
    index = index or index_for(model)
    ex = model.items_.positions(list(exclude))
    eligible = index.eligible(policy.min_ratings, genre, ex[ex >= 0], ties)
    scores = block_scores(model, states, policy, index)
    rated = states.rated if exclude_rated else sp.csr_matrix(states.rated.shape, dtype=np.float32)
    vectors = index.eligible_vectors(scores, eligible) if isinstance(scores, LinearScores) else None
    idx, raw = rank_block(scores, eligible, rated, k, demote, vectors)
    rating = np.full(idx.shape, np.nan, dtype=np.float32)
    filled = idx >= 0
    if filled.any():
        rows, _ = np.nonzero(filled)
        rating[filled] = ratings_at(model, states, rows, idx[filled])
    return Ranked(idx, raw, rating, eligible)


__all__ = ["Ranked", "rank_states", "index_for"]
