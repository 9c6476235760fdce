"""Blocked top-k for many users at once: memory grows with block size x k, not users x items.

Pure NumPy, no pyspark: the Spark engine runs it inside executors
(``engines.spark.recommend_all_spark``) and it can serve a local batch job too.
Scores follow ``ALS._score`` (r̂ = μ + b_i + b_u + p_u·q_i, float32, unclipped),
and the order follows ``ranking.topk.top_k``'s tie rule, so a user's list equals
the one ``movierec.recommend`` gives (case C21).

References
----------
SPARK-11968 / apache/spark PR #17742: keep only the top-k per block instead of
the full block score matrix.
"""

from __future__ import annotations

import numpy as np


def block_top_k(
    user_factors: np.ndarray,
    user_bias: np.ndarray,
    rated_indptr: np.ndarray,
    rated_indices: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    item_counts: np.ndarray,
    candidates: np.ndarray,
    global_mean: float,
    k: int,
    item_block: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eligible, unrated items for a block of users.

    Parameters
    ----------
    user_factors : ndarray of shape (n_block, n_factors), float32
    user_bias : ndarray of shape (n_block,), float32, stars
    rated_indptr : ndarray of shape (n_block + 1,), int64
        CSR row pointers of the items each user rated (item positions in ``rated_indices``).
    rated_indices : ndarray of shape (n_rated,), int64
        Item positions rated; excluded from that user's list (case C17).
    item_factors : ndarray of shape (n_items, n_factors), float32
    item_bias : ndarray of shape (n_items,), float32, stars
    item_counts : ndarray of shape (n_items,), int64
        Training ratings per item, for the tie rule.
    candidates : ndarray of shape (n_items,), bool
        Items allowed at all (the popularity guard, ``n_ratings >= min_ratings``).
    global_mean : float
        μ in stars.
    k : int
        List length wanted (>= 0).
    item_block : int, default 4096
        Items scored at a time; peak memory is about
        ``n_block * item_block * 10`` bytes plus the k-best lists,
        ``n_block * k * 20`` bytes, whatever ``n_items`` and the number of blocks.

    Returns
    -------
    item_idx : ndarray of shape (n_block, k), int64
        Best first; -1 pads a row when fewer than k items are eligible (case C18).
    scores : ndarray of shape (n_block, k), float32
        Raw (unclipped) scores; -inf where ``item_idx`` is -1.

    Notes
    -----
    Ties are broken by more training ratings, then smaller item position, the
    rule of ``ranking.topk.top_k``; the order is total, so merging item blocks
    gives the same result as sorting all items at once. Per item block, a
    threshold (the user's current k-th best, or the block's k-th best by a partial
    partition while the list is short) drops every item that cannot enter
    unsorted, so the cost is linear in n_items.
    """
    n_block = user_factors.shape[0]
    out_i = np.full((n_block, max(k, 0)), -1, dtype=np.int64)
    out_s = np.full((n_block, max(k, 0)), -np.inf, dtype=np.float32)
    if k <= 0 or n_block == 0:
        return out_i, out_s
    eligible = np.flatnonzero(candidates)
    rated_rows = np.repeat(np.arange(n_block), np.diff(rated_indptr))
    lookup = np.full(item_factors.shape[0], -1, dtype=np.int64)
    base_u = user_bias.astype(np.float32)[:, None]
    rows = np.zeros(0, dtype=np.int64)  # the running top-k, flat and sorted by (row, rank)
    items = np.zeros(0, dtype=np.int64)
    vals = np.zeros(0, dtype=np.float32)
    threshold = np.full(n_block, -np.inf, dtype=np.float32)
    for start in range(0, eligible.size, item_block):
        cols = eligible[start : start + item_block]
        scores = (np.float32(global_mean) + item_bias[cols])[None, :] + base_u
        scores += user_factors @ item_factors[cols].T
        lookup[cols] = np.arange(cols.size)
        pos = lookup[rated_indices]
        hit = pos >= 0
        scores[rated_rows[hit], pos[hit]] = -np.inf
        lookup[cols] = -1
        # An item can only enter a row's top-k if it scores at least the row's current
        # k-th best (ties included); rows without k yet use this block's m-th best.
        if not np.isfinite(threshold).all():
            m = min(k, cols.size)
            threshold = np.maximum(threshold, np.partition(scores, cols.size - m, axis=1)[:, cols.size - m])
        r, c = np.nonzero((scores >= threshold[:, None]) & np.isfinite(scores))
        rows = np.concatenate([rows, r])
        items = np.concatenate([items, cols[c]])
        vals = np.concatenate([vals, scores[r, c]])
        order = np.lexsort((items, -item_counts[items], -vals.astype(np.float64), rows))
        rows, items, vals = rows[order], items[order], vals[order]
        rank = np.arange(rows.size) - np.searchsorted(rows, rows)
        keep = rank < k
        rows, items, vals = rows[keep], items[keep], vals[keep]
        threshold = np.full(n_block, -np.inf, dtype=np.float32)
        last = rank[keep] == k - 1
        threshold[rows[last]] = vals[last]
    rank = np.arange(rows.size) - np.searchsorted(rows, rows)
    out_i[rows, rank] = items
    out_s[rows, rank] = vals
    return out_i, out_s


__all__ = ["block_top_k"]
