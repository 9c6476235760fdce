"""Rating and ranking metrics with exact formulas and edge rules.

Ranking metrics score one user's list; ``movierec.evaluation.protocols`` averages
them over users. Conventions used everywhere:

* ``recommended`` is the ranked list, best first; only its first k entries count.
* ``relevance`` maps each held-out item to a grade >= 0; an item is *relevant*
  when its grade is > 0. A set means grade 1 for each member.
* Short lists: when fewer than k items are recommended, the missing slots are
  misses; precision always divides by k (never by the list length, never by
  min(k, #relevant)), so precision@k never rises with k on a fixed list.
* A user with no relevant held-out item has no defined recall/NDCG/AP/RR; the
  functions raise, and the protocol skips such users and reports how many.
* Ties in scores are resolved before the metrics by ``rank_items`` (see there).

References
----------
Järvelin, Kekäläinen. "Cumulated gain-based evaluation of IR techniques".
ACM TOIS 20(4), 2002. doi:10.1145/582415.582418
Herlocker, Konstan, Terveen, Riedl. "Evaluating collaborative filtering
recommender systems". ACM TOIS 22(1), 2004. doi:10.1145/963770.963772
Manning, Raghavan, Schütze. "Introduction to Information Retrieval", ch. 8, 2008
(precision, recall, MAP, MRR). doi:10.1017/CBO9780511809071
McSherry, Najork. "Computing information retrieval performance measures
efficiently in the presence of tied scores". ECIR 2008. doi:10.1007/978-3-540-78646-7_38
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from movierec.errors import DataValidationError, ParameterError

Gain = Literal["linear", "exponential", "binary"]
Relevance = Mapping[Hashable, float] | Collection[Hashable]


# --------------------------------------------------------------------------- rating
@dataclass
class RatingMetrics:
    """RMSE and MAE over (true, predicted) rating pairs, with cold-start counted.

    Attributes
    ----------
    rmse, mae : float
        Over all ``n_pairs``, cold-start pairs scored by the model's documented
        fallback (μ + known bias). Always finite.
    rmse_warm, mae_warm : float or None
        Over the ``n_warm`` pairs whose user and film were both in training;
        None (never NaN) when there are none.
    n_pairs, n_warm, n_cold : int
        ``n_warm + n_cold == n_pairs``.
    """

    rmse: float
    mae: float
    rmse_warm: float | None
    mae_warm: float | None
    n_pairs: int
    n_warm: int
    n_cold: int

    def describe(self) -> str:
        """E.g. ``"scored 1 of 3 pairs, 2 cold-start"``: warm pairs of all, and the fallback count."""
        return f"scored {self.n_warm} of {self.n_pairs} pairs, {self.n_cold} cold-start"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": self.describe()}


def rating_metrics(y_true: np.ndarray, y_pred: np.ndarray, cold_start: np.ndarray | None = None) -> RatingMetrics:
    """RMSE and MAE, overall and on warm pairs only.

    RMSE = sqrt( (1/n) Σ (r̂ − r)² ),  MAE = (1/n) Σ |r̂ − r|.

    Parameters
    ----------
    y_true : ndarray of shape (n_pairs,), float, stars
    y_pred : ndarray of shape (n_pairs,), float, stars (clipped predictions)
    cold_start : ndarray of shape (n_pairs,), bool, optional
        True where the user or the film was unknown (``Predictions.cold_start``).

    Raises
    ------
    DataValidationError
        If there are no pairs, shapes differ, or a value is NaN or infinite
        (a model must never hand NaN to the metric).

    References
    ----------
    Herlocker et al. 2004, doi:10.1145/963770.963772.
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    cold = np.zeros(t.shape, dtype=bool) if cold_start is None else np.asarray(cold_start, dtype=bool)
    if t.size == 0:
        raise DataValidationError("rating metrics need at least one (user, film) pair; the test set is empty")
    if not (t.shape == p.shape == cold.shape):
        raise DataValidationError(f"shapes differ: y_true {t.shape}, y_pred {p.shape}, cold_start {cold.shape}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise DataValidationError("NaN or infinite rating or prediction; cold-start pairs need a fallback")
    err = p - t
    warm = ~cold
    n_warm = int(warm.sum())
    return RatingMetrics(
        rmse=float(np.sqrt(np.mean(err**2))),
        mae=float(np.mean(np.abs(err))),
        rmse_warm=float(np.sqrt(np.mean(err[warm] ** 2))) if n_warm else None,
        mae_warm=float(np.mean(np.abs(err[warm]))) if n_warm else None,
        n_pairs=int(t.size),
        n_warm=n_warm,
        n_cold=int(t.size - n_warm),
    )


# --------------------------------------------------------------------------- ranking
def _grades(relevance: Relevance) -> dict[Hashable, float]:
    if isinstance(relevance, Mapping):
        grades = {k: float(v) for k, v in relevance.items()}
        if any(not np.isfinite(v) or v < 0 for v in grades.values()):
            raise DataValidationError("relevance grades must be finite and >= 0")
        return grades
    return dict.fromkeys(relevance, 1.0)


def _check_k(k: int) -> None:
    if k < 1:
        raise ParameterError("k", ">= 1", k)


def _hits(recommended: Sequence[Hashable], relevance: Relevance, k: int) -> tuple[np.ndarray, int]:
    """Binary hit vector of the first k recommended items, and the number of relevant items."""
    _check_k(k)
    grades = _grades(relevance)
    hits = np.array([grades.get(x, 0.0) > 0 for x in list(recommended)[:k]], dtype=bool)
    return hits, sum(1 for v in grades.values() if v > 0)


def _need_relevant(n_rel: int, metric: str) -> None:
    if n_rel == 0:
        raise DataValidationError(f"{metric} is undefined for a user with no relevant held-out item; skip the user")


def precision_at_k(recommended: Sequence[Hashable], relevance: Relevance, k: int) -> float:
    """P@k = |top-k ∩ relevant| / k.

    The denominator is always k: a list shorter than k is padded with misses
    (relevant {2, 4} at ranks 1-2 of a 10-list gives P@2 = 1.0,
    P@5 = 0.4, P@10 = 0.2). Defined (0.0) for a user with no relevant item.
    """
    hits, _ = _hits(recommended, relevance, k)
    return float(hits.sum() / k)


def recall_at_k(recommended: Sequence[Hashable], relevance: Relevance, k: int) -> float:
    """R@k = |top-k ∩ relevant| / |relevant|.

    Relevant items the model cannot recommend (unknown in training) stay in
    the denominator. Raises ``DataValidationError`` when |relevant| = 0.
    """
    hits, n_rel = _hits(recommended, relevance, k)
    _need_relevant(n_rel, "recall")
    return float(hits.sum() / n_rel)


def hit_rate_at_k(recommended: Sequence[Hashable], relevance: Relevance, k: int) -> float:
    """HR@k = 1 if any of the top k is relevant, else 0 (raises when |relevant| = 0)."""
    hits, n_rel = _hits(recommended, relevance, k)
    _need_relevant(n_rel, "hit rate")
    return float(hits.any())


def reciprocal_rank_at_k(recommended: Sequence[Hashable], relevance: Relevance, k: int) -> float:
    """RR@k = 1 / (rank of the first relevant item) if it is within the top k, else 0.

    Averaged over users this is MRR@k. Raises when |relevant| = 0.
    """
    hits, n_rel = _hits(recommended, relevance, k)
    _need_relevant(n_rel, "reciprocal rank")
    first = np.flatnonzero(hits)
    return float(1.0 / (first[0] + 1)) if first.size else 0.0


def average_precision_at_k(recommended: Sequence[Hashable], relevance: Relevance, k: int) -> float:
    """AP@k = (1 / min(k, |relevant|)) Σ_{r=1..k} P@r · rel_r, rel_r ∈ {0, 1}.

    Averaged over users this is MAP@k. Dividing by min(k, |relevant|) makes a
    perfect top-k list score 1 even when more than k items are relevant.
    Raises when |relevant| = 0.
    """
    hits, n_rel = _hits(recommended, relevance, k)
    _need_relevant(n_rel, "average precision")
    if not hits.any():
        return 0.0
    prec = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float((prec * hits).sum() / min(k, n_rel))


def gain_of(grades: np.ndarray, gain: Gain) -> np.ndarray:
    """Gain of each grade: ``linear`` g = rel, ``exponential`` g = 2^rel − 1, ``binary`` g = [rel > 0]."""
    if gain == "linear":
        return grades
    if gain == "exponential":
        return np.exp2(grades) - 1.0
    if gain == "binary":
        return (grades > 0).astype(np.float64)
    raise ParameterError("gain", "'linear', 'exponential' or 'binary'", gain)


def ndcg_at_k(recommended: Sequence[Hashable], relevance: Relevance, k: int, gain: Gain = "linear") -> float:
    """nDCG@k = DCG@k / IDCG@k, always in [0, 1].

    DCG@k = Σ_{r=1..min(k, len)} g(rel_r) / log2(r + 1), over the recommended
    list truncated to k *before* summing. IDCG@k is the DCG of the ideal list:
    all held-out items' gains (not just the recommended ones) sorted in
    decreasing order, truncated to k. Items not held out have grade 0.

    Parameters
    ----------
    gain : {"linear", "exponential", "binary"}, default "linear"
        g = rel, 2^rel − 1, or [rel > 0]. With a set as ``relevance`` all three agree.

    Raises
    ------
    DataValidationError
        If no held-out item has a grade > 0 (IDCG = 0) or k < 1.

    Examples
    --------
    Example: grades {1: 1, 2: 3, 3: 0, 4: 2}, list [1, 2, 3], k = 3, linear gain:
    DCG = 1/1 + 3/log2 3 + 0 = 2.8928, IDCG = 3 + 2/log2 3 + 1/2 = 4.7619, nDCG = 0.6075.
    """
    _check_k(k)
    grades = _grades(relevance)
    rec = np.array([grades.get(x, 0.0) for x in list(recommended)[:k]], dtype=np.float64)
    ideal = np.sort(np.fromiter(grades.values(), dtype=np.float64, count=len(grades)))[::-1][:k]
    idcg = float((gain_of(ideal, gain) / np.log2(np.arange(2, ideal.size + 2))).sum())
    if idcg <= 0:
        raise DataValidationError("nDCG is undefined for a user with no relevant held-out item; skip the user")
    dcg = float((gain_of(rec, gain) / np.log2(np.arange(2, rec.size + 2))).sum())
    return dcg / idcg


# --------------------------------------------------------------------------- ties
def rank_items(
    scores: np.ndarray,
    candidates: np.ndarray,
    k: int,
    relevant: np.ndarray | None = None,
    ties: Literal["pessimistic", "serve"] = "pessimistic",
    n_ratings: np.ndarray | None = None,
) -> np.ndarray:
    """The top-k candidate positions for evaluation, with a tie rule that never flatters.

    A one-user call of ``movierec.ranking.topk.rank_block``, the top-k of every list.
    Items are ordered by score, higher first. Among items with *equal* scores
    the ``"pessimistic"`` rule puts held-out relevant items after the others
    (then smaller position first), so a model that cannot tell items apart
    earns nothing from the tie: a constant-score model ranks every relevant
    item last. This is the worst case of McSherry & Najork's tie-aware
    measures; any order the model itself defines scores at least as well.
    ``"serve"`` instead uses the serving rule of ``movierec.ranking.top_k``
    (more training ratings, then smaller position), which never looks at the
    test set either, but credits the tie rule rather than the model.

    Parameters
    ----------
    scores : ndarray of shape (n_items,), float
        Non-finite scores are never ranked.
    candidates : ndarray of shape (n_items,), bool
    k : int
    relevant : ndarray of shape (n_items,), bool, optional
        Held-out relevant items (needed for ``"pessimistic"``; None = none).
    n_ratings : ndarray of shape (n_items,), int, optional
        Needed for ``"serve"``.

    Returns
    -------
    ndarray of shape (m,), int64, m = min(k, number of finite candidates)

    References
    ----------
    McSherry, Najork 2008, doi:10.1007/978-3-540-78646-7_38.
    """
    import scipy.sparse as sp

    from movierec.ranking.topk import Eligible, rank_block

    _check_k(k)
    if ties not in ("pessimistic", "serve"):
        raise ParameterError("ties", "'pessimistic' or 'serve'", ties)
    n = scores.shape[0]
    if ties == "serve":
        tie = np.zeros(n, dtype=np.int64) if n_ratings is None else np.asarray(n_ratings, dtype=np.int64)
        demote = None
    else:
        tie = np.zeros(n, dtype=np.int64)
        rel = np.flatnonzero(relevant) if relevant is not None else np.zeros(0, dtype=np.int64)
        demote = sp.csr_matrix((np.ones(rel.size, np.float32), rel, [0, rel.size]), shape=(1, n))
    idx, _ = rank_block(
        np.asarray(scores, dtype=np.float32)[None, :],
        Eligible.from_mask(np.asarray(candidates, bool), tie),
        sp.csr_matrix((1, n), dtype=np.float32),
        k,
        demote,
    )
    return idx[0][idx[0] >= 0]


__all__ = [
    "RatingMetrics",
    "average_precision_at_k",
    "gain_of",
    "hit_rate_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "rank_items",
    "rating_metrics",
    "recall_at_k",
    "reciprocal_rank_at_k",
]
