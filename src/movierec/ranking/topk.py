"""Top-k selection with a documented tie rule, and the candidate filters."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int, n_ratings: np.ndarray) -> np.ndarray:
    """Positions of the k best candidates, best first.

    Parameters
    ----------
    scores : ndarray of shape (n_items,), float
        Raw scores (higher is better); non-finite scores are never selected.
    candidates : ndarray of shape (n_items,), bool
        Items allowed in the result.
    k : int
        Wanted length; the result has ``min(k, number of finite candidates)``
        items, never padded (case C18).
    n_ratings : ndarray of shape (n_items,), int
        Training rating counts, for the tie rule.

    Returns
    -------
    ndarray of shape (m,), int64, m <= k

    Notes
    -----
    Tie rule: equal scores are ordered by more training ratings first, then by
    smaller item position (= smaller external id, since ids map in sorted order).
    The rule is deterministic and never depends on memory layout.
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    cand = np.flatnonzero(candidates & np.isfinite(scores))
    if cand.size == 0:
        return cand.astype(np.int64)
    s = scores[cand]
    if cand.size > k:
        kth = np.partition(s, cand.size - k)[cand.size - k]
        keep = s >= kth
        cand, s = cand[keep], s[keep]
    order = np.lexsort((cand, -n_ratings[cand], -s.astype(np.float64)))
    return cand[order[:k]].astype(np.int64)
