"""Top-k for every training user at once, in blocks (case C21), on the local engine.

Scoring all users against all films and sorting afterwards needs an
n_users × n_items matrix (162k × 59k float32 is 38 GB at ML-25M scale). Here
users are taken ``block_size`` at a time and a Numba kernel, parallel over
tiles of the block's users, scores each tile against the *eligible* films only
(the popularity guard is applied before scoring, which also saves work), a chunk
of films per single-threaded BLAS ``sgemm`` call, drops each user's rated films
and keeps a k-slot sorted list. The scores never leave the cache: beyond the
model, memory holds a copy of the eligible films' factors, the block's lists
(``block_size × k × 12`` bytes) and one ``USER_TILE × ITEM_CHUNK`` float32 tile
per thread, never a users × films matrix.

Each user's list equals ``movierec.recommend(model, user, k=k,
min_ratings=...)`` (up to float32 rounding of the dot products, which BLAS sums
in another order when it scores a tile than when it scores one user): same
score ``μ + b_i + b_u + p_u·q_i`` (float32, unclipped; ``(η·ln(1 + n_i) + b_u) +
p_u·q_i`` when the model ranks by confidence, ``ranking.confidence``), rated
films excluded (C17), guard inclusive (C20), non-finite scores never chosen,
ties by more training ratings then smaller item position
(``ranking.topk.top_k``), shorter lists when fewer films are eligible (C18).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit, prange

from movierec.engines.local import sgemm_abt
from movierec.errors import DataValidationError
from movierec.models.base import Recommender
from movierec.ranking.topk import insert_best

OUTPUT_COLUMNS = ("user_id", "rank", "movie_id", "score", "raw_score", "n_ratings")
"""Columns of the Parquet output (the same as ``engines.spark.recommend_all_spark``)."""

DEFAULT_BLOCK = 1024
"""Users per block (one ``BlockResult``, one Parquet row group of ``write_recommendations``)."""


@dataclass
class BlockResult:
    """Top-k of one block of users.

    Attributes
    ----------
    user_idx : ndarray of shape (n_block,), int64
        Dense user positions of the block.
    item_idx : ndarray of shape (n_block, k), int64
        Best first; -1 where a user has fewer than k eligible films.
    raw_score : ndarray of shape (n_block, k), float32
        Unclipped ranking scores; -inf where ``item_idx`` is -1.
    rating : ndarray of shape (n_block, k), float32, or None
        Unclipped predicted ratings when the model ranks by something else
        (``hybrid``); None when they equal ``raw_score``.
    """

    user_idx: np.ndarray
    item_idx: np.ndarray
    raw_score: np.ndarray
    rating: np.ndarray | None = None


USER_TILE = 128
"""Most users per thread task in ``_block_top_k`` (fewer when a block has too few for every thread)."""
ITEM_CHUNK = 1024
"""Films scored per ``sgemm`` call: a tile's scores (USER_TILE × ITEM_CHUNK float32, 512 KB) stay in L2."""


@njit(cache=True, parallel=True)
def _block_top_k(P, Q, base, user_bias, item_pos, counts, indptr, indices, lookup, k, out_idx, out_score, n_threads):  # pragma: no cover - numba
    """Per user of the block: score every eligible film, exclude rated ones, keep the k best (score, count, -position).

    Parallel over tiles of up to ``USER_TILE`` users; per tile, ``ITEM_CHUNK`` films at a time are
    scored by one single-threaded ``sgemm`` (``P[tile] @ Q[chunk].T``, the scores stay in
    cache instead of a block × films matrix in memory) and swept into each user's list.
    ``Q[c]`` and ``base[c]`` (μ + b_i) belong to eligible film c (global position
    ``item_pos[c]``); ``lookup`` maps a global position to c or -1. ``indices[indptr[u]:
    indptr[u + 1]]`` are user u's rated positions, ascending (so their c ascend too).
    Tiles hold ``USER_TILE`` users, or fewer when the block has too few for ``n_threads`` tiles.
    """
    n_block = P.shape[0]
    n_cand = Q.shape[0]
    rows = min(USER_TILE, max(1, -(-n_block // n_threads)))  # every thread gets a tile
    n_tiles = -(-n_block // rows)
    for tile in prange(n_tiles):
        u0 = tile * rows
        u1 = min(u0 + rows, n_block)
        S = np.empty((USER_TILE, ITEM_CHUNK), dtype=np.float32)
        hc = np.empty((USER_TILE, k), dtype=np.int64)  # the lists' counts, for the tie rule
        m = np.zeros(USER_TILE, dtype=np.int64)  # the lists' lengths
        rated = indptr[u0:u1].copy()  # each user's next rated film not yet excluded
        for c0 in range(0, n_cand, ITEM_CHUNK):
            w = min(ITEM_CHUNK, n_cand - c0)
            sgemm_abt(P[u0:u1], Q[c0 : c0 + w], S)
            for u in range(u0, u1):
                row = S[u - u0]
                p = rated[u - u0]
                while p < indptr[u + 1]:
                    c = lookup[indices[p]]
                    if c >= c0 + w:
                        break
                    if c >= c0:
                        row[c - c0] = -np.inf
                    p += 1
                rated[u - u0] = p
                bu = user_bias[u]
                hs, hi, hcu = out_score[u], out_idx[u], hc[u - u0]
                n_best = m[u - u0]
                worst = hs[k - 1] if n_best == k else -np.inf  # a score below a full list's last cannot enter
                for j in range(w):
                    s = (base[c0 + j] + bu) + row[j]  # the order of ALS._score's float32 sums
                    if s < worst or not (s > -np.inf and s < np.inf):
                        continue
                    n_best = insert_best(hs, hcu, hi, n_best, k, s, counts[c0 + j], item_pos[c0 + j])
                    if n_best == k:
                        worst = hs[k - 1]
                m[u - u0] = n_best


@njit(cache=True)
def _rows_ascending(indptr, indices):  # pragma: no cover - numba
    """Whether every CSR row's indices are in ascending order (repeats allowed)."""
    for r in range(indptr.size - 1):
        for p in range(indptr[r] + 1, indptr[r + 1]):
            if indices[p] < indices[p - 1]:
                return False
    return True


def iter_top_k(
    model: Recommender,
    k: int = 10,
    min_ratings: int | None = None,
    block_size: int = DEFAULT_BLOCK,
    users: np.ndarray | None = None,
) -> Iterator[BlockResult]:
    """Top-k of every training user (or of ``users``), one block at a time.

    Parameters
    ----------
    model : fitted Recommender
        Plain ALS takes the fast path (``_block_top_k``: BLAS scoring and selection
        fused in one Numba kernel); any other model (hybrid, temporal, baselines) is
        ranked user by user with ``recommend``'s own steps, still one block
        in memory at a time.
    k : int, default 10
    min_ratings : int, optional
        Popularity guard (inclusive); default the model's ``min_ratings``.
    block_size : int, default 1024
        Users per block.
    users : ndarray of int, optional
        Dense user positions to score (default all, in order).

    Yields
    ------
    BlockResult

    Raises
    ------
    DataValidationError
        If k < 1 or block_size < 1.
    """
    from movierec.engines.threads import current_threads, kernel_threads
    from movierec.ranking.confidence import default_rank_by, evidence_bonus, resolve_confidence_weight
    from movierec.ranking.recommend import default_min_ratings

    model._require_fitted()
    if k < 1 or block_size < 1:
        raise DataValidationError(f"k and block_size must be >= 1, got {k} and {block_size}")
    guard = default_min_ratings(model) if min_ratings is None else int(min_ratings)
    order = np.arange(model.n_users, dtype=np.int64) if users is None else np.asarray(users, dtype=np.int64)
    if not _plain_factor_model(model):
        yield from _iter_generic(model, k, guard, block_size, order)
        return
    counts_all = np.asarray(model.item_counts_, dtype=np.int64)
    item_pos = np.flatnonzero(counts_all >= guard).astype(np.int64)
    Q = np.ascontiguousarray(model.item_factors_[item_pos], dtype=np.float32)
    base = (np.float32(model.global_mean_) + model.item_bias_[item_pos]).astype(np.float32)
    rating_base = None
    if default_rank_by(model) == "confidence":  # rank by (η·ln(1 + n_i) + b_u) + p_u·q_i instead
        rating_base = base
        base = evidence_bonus(model, resolve_confidence_weight(model))[item_pos]
    counts = counts_all[item_pos]
    lookup = np.full(model.n_items, -1, dtype=np.int64)
    lookup[item_pos] = np.arange(item_pos.size)
    ui = model.user_items_
    indptr, indices = ui.indptr.astype(np.int64), ui.indices  # no copy of the ratings' index array
    if not _rows_ascending(indptr, indices):  # _block_top_k walks each user's rated films in order
        ui = ui.copy()
        ui.has_sorted_indices = False  # the flag is SciPy's memory, not a check
        ui.sort_indices()
        indices = ui.indices
    P_all = np.asarray(model.user_factors_, dtype=np.float32)
    b_all = np.asarray(model.user_bias_, dtype=np.float32)
    current_threads()  # apply MOVIEREC_THREADS once if nobody did
    for start in range(0, order.size, block_size):
        uidx = order[start : start + block_size]
        nb = uidx.size
        lens = indptr[uidx + 1] - indptr[uidx]
        sub_ptr = np.zeros(nb + 1, dtype=np.int64)
        np.cumsum(lens, out=sub_ptr[1:])
        sub_idx = np.concatenate([indices[indptr[u] : indptr[u + 1]] for u in uidx]) if nb else indices[:0]
        out_idx = np.full((nb, k), -1, dtype=np.int64)
        out_score = np.full((nb, k), -np.inf, dtype=np.float32)
        with kernel_threads() as n_threads:
            _block_top_k(np.ascontiguousarray(P_all[uidx]), Q, base, b_all[uidx], item_pos, counts, sub_ptr, sub_idx,
                         lookup, k, out_idx, out_score, n_threads)  # fmt: skip
        rating = None
        if rating_base is not None:  # predicted rating = score − η·ln(1 + n_i) + (μ + b_i)
            rating = np.full(out_idx.shape, np.nan, dtype=np.float32)
            filled = out_idx >= 0
            c = lookup[out_idx[filled]]
            rating[filled] = out_score[filled] - base[c] + rating_base[c]
        yield BlockResult(uidx, out_idx, out_score, rating)


def _plain_factor_model(model: Recommender) -> bool:
    """True when the model scores μ + b_i + b_u + p_u·q_i (plain ALS): the fast blocked path applies."""
    from movierec.models.als import ALS

    need = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    return (
        isinstance(model, ALS)
        and type(model)._score is ALS._score
        and type(model).rating_scores is Recommender.rating_scores
        and all(getattr(model, a, None) is not None for a in need)
    )


def _iter_generic(model: Recommender, k: int, guard: int, block_size: int, order: np.ndarray) -> Iterator[BlockResult]:
    """Any model (hybrid, temporal, baselines): ``recommend``'s own steps user by user, one block in memory."""
    from movierec.ranking.confidence import ranking_scores
    from movierec.ranking.recommend import candidate_mask
    from movierec.ranking.topk import top_k

    for start in range(0, order.size, block_size):
        uidx = order[start : start + block_size]
        out_idx = np.full((uidx.size, k), -1, dtype=np.int64)
        out_score = np.full((uidx.size, k), -np.inf, dtype=np.float32)
        out_rating = np.full((uidx.size, k), np.nan, dtype=np.float32)
        for row, u in enumerate(uidx):
            state = model._known_state(int(u))
            scores, ratings_pred = ranking_scores(model, state)
            chosen = top_k(scores, candidate_mask(model, state, guard), k, model.item_counts_)
            out_idx[row, : chosen.size] = chosen
            out_score[row, : chosen.size] = scores[chosen]
            out_rating[row, : chosen.size] = ratings_pred[chosen]
        yield BlockResult(uidx, out_idx, out_score, out_rating)


def write_recommendations(
    model: Recommender,
    out_path: str | Path,
    k: int = 10,
    min_ratings: int | None = None,
    block_size: int = DEFAULT_BLOCK,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Write every training user's top-k to one Parquet file, block by block.

    Columns as ``OUTPUT_COLUMNS``: ``user_id``, ``rank`` (int32, 1 = best),
    ``movie_id``, ``score`` (float32 stars clipped to the rating scale),
    ``raw_score`` (float32, the order), ``n_ratings`` (int64). The file is
    written to a temporary name and renamed into place.

    Parameters
    ----------
    progress : callable, optional
        Called with the number of users finished after each block.

    Raises
    ------
    DataValidationError
        If ``out_path`` is a folder or its folder does not exist (before any work), or as ``iter_top_k``.

    Returns
    -------
    int
        Rows written (n_users × k at most).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_path = Path(out_path)
    if out_path.is_dir():  # checked before any scoring: a rename onto a folder fails only at the end
        raise DataValidationError(f"{out_path}: is a folder; give the path of the Parquet file to write")
    if not out_path.parent.is_dir():
        raise DataValidationError(f"{out_path.parent}: no such folder; create it first or write elsewhere")
    k = min(k, max(model.n_items, 1))  # no list is longer; a huge k would only size the block's lists
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    user_ids = model.users_.ids.to_arrow()
    movie_ids = model.items_.ids.to_arrow()
    lo, hi = np.float32(model.scale_.low), np.float32(model.scale_.high)
    schema = pa.schema([("user_id", user_ids.type), ("rank", pa.int32()), ("movie_id", movie_ids.type),
                        ("score", pa.float32()), ("raw_score", pa.float32()), ("n_ratings", pa.int64())])  # fmt: skip
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for block in iter_top_k(model, k, min_ratings, block_size):
                ok = block.item_idx >= 0
                n_per = ok.sum(axis=1)
                u = np.repeat(block.user_idx, n_per)
                items = block.item_idx[ok]
                raw = block.raw_score[ok]
                rating = raw if block.rating is None else block.rating[ok]
                rank = (np.nonzero(ok)[1] + 1).astype(np.int32)
                table = pa.table(
                    [user_ids.take(pa.array(u)), pa.array(rank), movie_ids.take(pa.array(items)),
                     pa.array(np.clip(rating, lo, hi)), pa.array(raw), pa.array(model.item_counts_[items].astype(np.int64))],
                    schema=schema,
                )  # fmt: skip
                writer.write_table(table)
                rows += table.num_rows
                if progress is not None:
                    progress(block.user_idx.size)
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


__all__ = ["BlockResult", "DEFAULT_BLOCK", "OUTPUT_COLUMNS", "iter_top_k", "write_recommendations"]
