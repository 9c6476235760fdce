"""Item-to-item similarity from co-ratings, for "because you rated ..." and similar films.

Source of the explanation
-------------------------
Explanations come from the training ratings every ``Recommender`` keeps
(``user_items_``), not from a model's internals, so they work unchanged for ALS,
baselines and any later model with the same protocol. The similarity of films
i and j is the shrunk adjusted cosine of their rating columns:

    x_ui = r_ui − r̄_u                      (each rating minus that user's mean)
    cos(i, j) = Σ_u x_ui x_uj / (‖x_i‖ ‖x_j‖)  over all users (0 where unrated)
    sim(i, j) = cos(i, j) · n_ij / (n_ij + shrinkage)

where n_ij is the number of users who rated both films. Shrinking toward 0
keeps pairs with little common support from looking similar (Koren 2010,
Sarwar et al. 2001). A recommendation is explained by the (at most
``max_reasons``) films the user rated at or above their own mean rating whose
similarity to it is positive, most similar first; a user with no such film
gets no personal reason and the service says so.

References
----------
Sarwar, Karypis, Konstan, Riedl. "Item-based collaborative filtering
recommendation algorithms". WWW 2001. doi:10.1145/371920.372071
Koren. "Factor in the neighbors: scalable and accurate collaborative
filtering". ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from movierec.models.base import Recommender, UserState

DEFAULT_SHRINKAGE = 10.0
MAX_SUPPORT = 200
"""Most of a user's films compared per explanation: their highest-rated ones (bounds the cost for heavy raters)."""


@dataclass
class Reason:
    """One film of the user's that supports a recommendation.

    Attributes
    ----------
    movie_id : external id
    title : str
    rating : float
        The user's rating of it, in stars.
    similarity : float
        ``sim(recommended, this film)`` in (0, 1].
    """

    movie_id: Any
    title: str
    rating: float
    similarity: float


@dataclass
class Explanation:
    """Why a film was recommended: the reasons and one short sentence."""

    reasons: list[Reason] = field(default_factory=list)
    text: str = ""


class ItemSimilarity:
    """Co-rating similarity over a fitted model's training ratings.

    Parameters
    ----------
    model : fitted Recommender
    shrinkage : float, default 10
        Shrinkage constant of ``sim`` (in co-rating users).

    Attributes
    ----------
    centered_ : scipy.sparse.csr_matrix of shape (n_items, n_users), float32
        Mean-centred ratings, one unit-norm row per item.
    binary_ : scipy.sparse.csr_matrix of shape (n_items, n_users), float32
        1 where a rating exists.
    """

    def __init__(self, model: Recommender, shrinkage: float = DEFAULT_SHRINKAGE) -> None:
        self.model = model
        self.shrinkage = float(shrinkage)
        iu = sp.csr_matrix(model.user_items_.T, dtype=np.float64)  # items x users, one row per item
        iu.sort_indices()
        iu.eliminate_zeros()
        per_user = np.bincount(iu.indices, minlength=iu.shape[1])
        sums = np.bincount(iu.indices, weights=iu.data, minlength=iu.shape[1])
        means = np.divide(sums, per_user, out=np.zeros_like(sums), where=per_user > 0)
        x = iu.data - means[iu.indices]
        rows = np.repeat(np.arange(iu.shape[0]), np.diff(iu.indptr))
        norms = np.sqrt(np.bincount(rows, weights=x * x, minlength=iu.shape[0]))
        x = x * np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)[rows]
        # The two matrices share one sparsity pattern (every rating, even one equal to the user's mean).
        self.centered_ = sp.csr_matrix((x.astype(np.float32), iu.indices, iu.indptr), shape=iu.shape)
        self.binary_ = sp.csr_matrix((np.ones(iu.nnz, np.float32), iu.indices, iu.indptr), shape=iu.shape)
        table = model.item_table()
        ids, titles = table["movie_id"].to_list(), table["title"].to_list()
        self._ids = ids
        self._titles = [t or f"movie {m}" for m, t in zip(ids, titles, strict=True)]

    def between(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        """``sim`` of each of ``items`` with each of ``others`` (item positions).

        Returns
        -------
        ndarray of shape (len(items), len(others)), float32
        """
        items = np.asarray(items, dtype=np.int64)
        others = np.asarray(others, dtype=np.int64)
        if items.size == 0 or others.size == 0:
            return np.zeros((items.size, others.size), dtype=np.float32)
        # sparse (others) times dense (the few items): cheaper than sparse-sparse for short item lists.
        # Each side is sliced once (the slicing, not the products, was most of a request's explain time);
        # the binary rows are the centered rows' pattern with ones.
        co, ci = self.centered_[others], self.centered_[items]
        bo = sp.csr_matrix((np.ones(co.nnz, np.float32), co.indices, co.indptr), shape=co.shape)
        bi = sp.csr_matrix((np.ones(ci.nnz, np.float32), ci.indices, ci.indptr), shape=ci.shape)
        cos = (co @ ci.toarray().T).T
        n = (bo @ bi.toarray().T).T
        return (cos * n / (n + self.shrinkage)).astype(np.float32)

    def most_similar(self, item: int, k: int, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k films most similar to one film (itself excluded), best first.

        Parameters
        ----------
        item : int
            Item position.
        k : int
        candidates : ndarray of shape (n_items,), bool, optional
            Films allowed in the result.

        Returns
        -------
        (item positions of shape (m,) int64, similarities of shape (m,) float32), m <= k;
        only positive similarities are returned. Ties go to the smaller position.
        """
        row = self.centered_[[item]].toarray().ravel()
        n = self.binary_ @ self.binary_[[item]].toarray().ravel()
        sims = (self.centered_ @ row) * n / (n + self.shrinkage)
        allowed = sims > 0
        allowed[item] = False
        if candidates is not None:
            allowed &= candidates
        pos = np.flatnonzero(allowed)
        order = np.lexsort((pos, -sims[pos].astype(np.float64)))[:k]
        return pos[order].astype(np.int64), sims[pos[order]]

    def explain(self, state: UserState, items: np.ndarray, max_reasons: int = 2) -> list[Explanation]:
        """Reasons for each recommended film from the user's own ratings.

        Only films the user rated at or above their mean rating are used, at
        most ``MAX_SUPPORT`` of them (the highest rated, smaller position first).

        Parameters
        ----------
        state : UserState
            The user (``rated_idx`` / ``rated_values`` are their ratings).
        items : ndarray of shape (m,), int
            Recommended item positions.
        max_reasons : int, default 2

        Returns
        -------
        list of Explanation, one per item
        """
        items = np.asarray(items, dtype=np.int64)
        rated, values = state.rated_items(0)
        if rated.size == 0:
            return [Explanation([], "Popular and highly rated among all viewers") for _ in items]
        liked = values >= values.mean()
        rated, values = rated[liked], values[liked]
        if rated.size > MAX_SUPPORT:
            keep = np.sort(np.lexsort((rated, -values))[:MAX_SUPPORT])
            rated, values = rated[keep], values[keep]
        sims = self.between(items, rated)
        out = []
        for row in sims:
            order = np.lexsort((rated, -row.astype(np.float64)))[:max_reasons]
            reasons = [
                Reason(self._ids[int(rated[j])], self._titles[int(rated[j])], float(values[j]), float(row[j]))
                for j in order
                if row[j] > 0
            ]
            out.append(Explanation(reasons, _sentence(reasons)))
        return out


def _sentence(reasons: list[Reason]) -> str:
    if not reasons:
        return "Matches your ratings overall"
    parts = [f"{r.title} ({r.rating:g}★)" for r in reasons]
    return "Because you rated " + " and ".join(parts)
