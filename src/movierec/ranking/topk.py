"""Top-k selection with a documented tie rule, and the candidate filters."""

from __future__ import annotations

import numpy as np
from numba import njit


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

    Cost: one pass with a k-slot insertion list (0.035 ms of CPU over 59k films, against
    0.23 ms for a NumPy partition); above ``KERNEL_MAX_K`` a partition and sort.
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k > KERNEL_MAX_K:
        return _top_k_sort(scores, candidates, k, n_ratings)
    out_idx = np.empty(min(k, scores.shape[0]), dtype=np.int64)
    out_score = np.empty(out_idx.size, dtype=np.float64)
    m = _row_top_k(scores, candidates, np.asarray(n_ratings, dtype=np.int64), out_idx.size, out_idx, out_score)
    return out_idx[:m]


KERNEL_MAX_K = 512
"""Longest list taken by the one-pass kernel; longer ones partition and sort (O(n log k) vs O(n·k))."""


def _top_k_sort(scores: np.ndarray, candidates: np.ndarray, k: int, n_ratings: np.ndarray) -> np.ndarray:
    """``top_k`` by partition and lexsort (long lists; the reference for the kernel's tie rule)."""
    cand = np.flatnonzero(candidates & np.isfinite(scores))
    if cand.size == 0:
        return cand.astype(np.int64)
    n_ratings = np.asarray(n_ratings, dtype=np.int64)  # negated below: unsigned counts would wrap (0 first)
    s = scores[cand]
    if cand.size > k:
        kth = np.partition(s, cand.size - k)[cand.size - k]
        keep = s >= kth
        cand, s = cand[keep], s[keep]
    order = np.lexsort((cand, -n_ratings[cand], -s.astype(np.float64)))
    return cand[order[:k]].astype(np.int64)


@njit(cache=True, inline="always")
def insert_best(hs, hc, hi, m, k, s, cnt, i):  # pragma: no cover - numba
    """Insert candidate (score s, count cnt, position i) into a best-first list of length m <= k.

    ``hs``, ``hc``, ``hi`` hold the list's scores, counts and positions; the order is
    score descending, then count descending, then position ascending (the tie rule
    of ``top_k``). Returns the new length. One pass over n candidates costs O(n)
    comparisons plus O(k) per insertion.
    """
    if m == k:
        w = k - 1
        if s < hs[w] or (s == hs[w] and (cnt < hc[w] or (cnt == hc[w] and i > hi[w]))):
            return m
        pos = w
    else:
        pos = m
        m += 1
    while pos > 0:
        q = pos - 1
        if s > hs[q] or (s == hs[q] and (cnt > hc[q] or (cnt == hc[q] and i < hi[q]))):
            hs[pos] = hs[q]
            hc[pos] = hc[q]
            hi[pos] = hi[q]
            pos = q
        else:
            break
    hs[pos] = s
    hc[pos] = cnt
    hi[pos] = i
    return m


@njit(cache=True)
def _row_top_k(scores, candidates, counts, k, out_idx, out_score):  # pragma: no cover - numba
    """One pass over a row: the k best finite candidates into ``out_idx`` (best first); returns how many."""
    hc = np.empty(k, dtype=np.int64)
    m = 0
    if k == 0:
        return 0
    worst = -np.inf  # the list's k-th score once full: anything below cannot enter
    for i in range(scores.shape[0]):
        s = scores[i]
        if s < worst or not candidates[i]:
            continue
        if not (s > -np.inf and s < np.inf):  # NaN and ±inf are never chosen
            continue
        m = insert_best(out_score, hc, out_idx, m, k, np.float64(s), counts[i], i)
        if m == k:
            worst = out_score[k - 1]
    return m
