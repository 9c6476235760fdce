"""Confidence-aware ranking for rating models: personal taste plus the evidence of each film.

Ranking score of user u and film i (``rank_by="confidence"``)::

    s(u, i) = (r̂_ui − r̂_∅i) + η · ln(1 + n_i)

* r̂_ui − r̂_∅i — the model's predicted rating of i for u minus its prediction
  for a user it knows nothing about (the cold-start fallback r̂_∅i = μ + b_i of
  biased ALS). For explicit ALS this is b_u + p_u · q_i: how much more (or
  less) than an average user u will like i. The user bias b_u is the same for
  every film, so the order is that of p_u · q_i + η · ln(1 + n_i).
* η · ln(1 + n_i) — the film's evidence: n_i is its number of training ratings
  (the popularity guard's count, ``item_counts_``), η the
  ``confidence_weight`` in stars per e-fold of ratings (η = 1: a film with
  e ≈ 2.7 times the ratings of another needs one predicted star less to rank
  level with it). A film that one stranger rated gets ln 2 · η, a film with 500
  ratings ln 501 · η, so obscure films only appear when the user's predicted
  taste for them is very much stronger.

Read as a choice model, exp(s) ∝ (1 + n_i)^η · exp(r̂_ui − r̂_∅i): the
film's share of past choices, as a prior, times the explicit model's
personal preference. The film's mean-rating term b_i is deliberately left
out: it measures how much raters liked a film, not whether this user will
choose it, and ranking by it is what puts one-rating films on top. The hard
guard ``min_ratings`` still applies on top.

η = 1.25 (``ALSConfig.confidence_weight``) was chosen on validation splits
carved from the training side only; benchmarks/README.md ("Evaluation (issue
4)") has the curve, the rule and the candidates that lost (a lower confidence
bound r̂ − z·σ/√(n + 1), the Bayesian-shrunk rating (r̂ − c)·n/(n + m)).

References
----------
Steck. "Item popularity and recommendation accuracy". RecSys 2011.
doi:10.1145/2043932.2043957 (ratings are missing not at random: popular films
are rated far more often, which accuracy on held-out ratings rewards).
Koren. "Factor in the neighbors". ACM TKDD 4(1), 2010.
doi:10.1145/1644873.1644874 (evidence counts in baseline estimates).
Zhou et al. "Large-scale parallel collaborative filtering for the Netflix
Prize". AAIM 2008. doi:10.1007/978-3-540-68880-8_32 (the rating model).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from movierec.errors import DataValidationError
from movierec.models.base import Recommender, UserState

RANK_BY = ("score", "rating", "confidence")
"""Ranking modes of ``recommend``: the model's ranking score, its predicted rating, the confidence score."""


def default_confidence_weight(model: Recommender) -> float | None:
    """The model's configured ``confidence_weight`` η, or None when it ranks by its own score.

    Read from the top level of the model's config only (``ALSConfig`` of the
    ``als`` model); the explicit part inside ``hybrid`` or ``als-time`` configs
    does not change those models' rankings.
    """
    value = model.config_dict().get("confidence_weight")
    return None if value is None else float(value)


def default_rank_by(model: Recommender) -> str:
    """``"confidence"`` when the model's config sets a ``confidence_weight``, else ``"score"``."""
    return "score" if default_confidence_weight(model) is None else "confidence"


def check_confidence_weight(value: Any) -> float:
    """η as a float; ``DataValidationError`` unless it is a finite number >= 0."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    w = float(value) if ok else float("nan")
    if not np.isfinite(w) or w < 0:
        raise DataValidationError(f"confidence_weight must be a finite number >= 0 (stars per e-fold of ratings), got {value!r}")
    return w


def evidence_bonus(model: Recommender, confidence_weight: float) -> np.ndarray:
    """η · ln(1 + n_i) of every item.

    Returns
    -------
    ndarray of shape (n_items,), float32
    """
    w = np.float32(check_confidence_weight(confidence_weight))
    return model.cached(
        ("evidence_bonus", float(w)), lambda: (w * np.log1p(model.item_counts_.astype(np.float32))).astype(np.float32)
    )


def cold_baseline(model: Recommender) -> np.ndarray:
    """r̂_∅i: the model's predicted rating of every item for a user with no ratings, float32, (n_items,)."""
    cold = UserState(-1, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    return model.cached("cold_rating_baseline", lambda: np.asarray(model.rating_scores(cold), dtype=np.float32))


def confidence_scores(
    model: Recommender, state: UserState, confidence_weight: float, ratings_pred: np.ndarray | None = None
) -> np.ndarray:
    """s(u, i) = (r̂_ui − r̂_∅i) + η · ln(1 + n_i) for every item (formula and sources in the module doc).

    Parameters
    ----------
    model : fitted Recommender that predicts ratings
    state : UserState (known, folded in, or cold: then s = η · ln(1 + n_i), the popularity order)
    confidence_weight : float
        η >= 0, stars per e-fold of training ratings.
    ratings_pred : ndarray of shape (n_items,), optional
        ``model.rating_scores(state)`` when already computed.

    Returns
    -------
    ndarray of shape (n_items,), float32
        For plain explicit ALS summed as (η·ln(1 + n_i) + b_u) + p_u·q_i in float32,
        the order of the batch kernel (``ranking.batch``), so both give the same lists.

    Raises
    ------
    DataValidationError
        If ``confidence_weight`` is negative or not finite.
    """
    bonus = evidence_bonus(model, confidence_weight)
    if _plain_als(model) and state.factors is not None:
        scores = model.item_factors_ @ state.factors.astype(np.float32, copy=False)  # type: ignore[attr-defined]
        scores += bonus + np.float32(state.bias)
        return scores
    if ratings_pred is None:
        ratings_pred = model.rating_scores(state)
    return ((np.asarray(ratings_pred, dtype=np.float32) - cold_baseline(model)) + bonus).astype(np.float32)


def confidence_ranking(model: Recommender, state: UserState, confidence_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Confidence scores and predicted ratings of every item, both float32 of shape (n_items,).

    For plain explicit ALS both come from one product p_u·q (the online hot path): the scores
    summed as in ``confidence_scores``, the ratings exactly as ``ALS._score`` sums them.
    """
    if _plain_als(model) and state.factors is not None:
        dot = model.item_factors_ @ state.factors.astype(np.float32, copy=False)  # type: ignore[attr-defined]
        bias = np.float32(state.bias)
        scores = dot + (evidence_bonus(model, confidence_weight) + bias)
        ratings = dot + (model.item_baseline() + bias)  # type: ignore[attr-defined]
        return scores, ratings
    ratings = model.rating_scores(state)
    return confidence_scores(model, state, confidence_weight, ratings), ratings


def ranking_scores(
    model: Recommender, state: UserState, rank_by: str | None = None, confidence_weight: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The scores ``recommend`` and the evaluation rank by, and the predicted ratings.

    Parameters
    ----------
    rank_by : {"score", "rating", "confidence"}, optional
        None = the model's default (``default_rank_by``). "confidence" with
        ``confidence_weight`` None uses the model's η, or ``ALSConfig``'s default for
        models without one.
    confidence_weight : float, optional
        η of the confidence score; None = the model's.

    Returns
    -------
    scores, ratings_pred : ndarrays of shape (n_items,), float32

    Raises
    ------
    DataValidationError
        Unknown ``rank_by`` or a bad ``confidence_weight``.
    """
    if rank_by is None:
        rank_by = default_rank_by(model)
    if rank_by not in RANK_BY:
        raise DataValidationError(f"rank_by must be one of {', '.join(RANK_BY)}; got {rank_by!r}")
    if rank_by == "score":
        scores = model.score(state)
        # models whose ranking score is their predicted rating (the base ``rating_scores``) are scored once
        same = type(model).rating_scores is Recommender.rating_scores
        return scores, scores if same else model.rating_scores(state)
    if rank_by == "rating":
        ratings_pred = model.rating_scores(state)
        return ratings_pred, ratings_pred
    return confidence_ranking(model, state, resolve_confidence_weight(model, confidence_weight))


def resolve_confidence_weight(model: Recommender, confidence_weight: float | None = None) -> float:
    """η for ``rank_by="confidence"``: the value given, else the model's, else ``ALSConfig``'s default.

    Raises
    ------
    DataValidationError
        If the value is negative or not finite.
    """
    if confidence_weight is None:
        confidence_weight = default_confidence_weight(model)
    if confidence_weight is None:
        from movierec.config import ALSConfig

        confidence_weight = ALSConfig.confidence_weight
    return check_confidence_weight(confidence_weight)


def _plain_als(model: Recommender) -> bool:
    from movierec.models.als import ALS

    return isinstance(model, ALS) and type(model)._score is ALS._score and type(model).rating_scores is Recommender.rating_scores


__all__ = [
    "RANK_BY",
    "cold_baseline",
    "confidence_ranking",
    "confidence_scores",
    "default_confidence_weight",
    "default_rank_by",
    "evidence_bonus",
    "ranking_scores",
    "resolve_confidence_weight",
]
