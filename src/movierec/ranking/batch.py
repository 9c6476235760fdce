"""Top-k for many training users at once, block by block: ``recommend-all``, ``recommend_batch``.

Scoring every user against every film and sorting afterwards needs an n_users × n_items matrix
(162k × 59k float32 is 38 GB at ML-25M scale). Here users are taken ``block_size`` at a time and
each block goes through ``lists.rank_states``, the path of every list: for models with a linear
form (every model but ``random``) the fused kernel of ``topk`` scores tiles of 128 users against
1024 eligible films at a time and keeps a k-slot list per user, so memory beyond the model holds
the block's lists (``block_size × k × 16`` bytes), one 512 KB tile per thread and the eligible
films' vectors, never a users × films matrix. Each user's list equals ``recommend(model, user)``
exactly (same kernel, same sums).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from movierec.errors import DataValidationError
from movierec.models.base import Recommender
from movierec.ranking.index import index_for
from movierec.ranking.lists import Ranked, rank_states
from movierec.ranking.recommend import frame_of
from movierec.ranking.scoring import resolve_policy

OUTPUT_COLUMNS = ("user_id", "rank", "movie_id", "score", "raw_score", "n_ratings")
"""Columns of ``recommend_batch``, ``recommend-all`` and its Spark twin."""

DEFAULT_BLOCK = 1024
"""Users per block (one Parquet row group of ``write_recommendations``)."""


def iter_top_k(
    model: Recommender,
    k: int = 10,
    min_ratings: int | None = None,
    block_size: int = DEFAULT_BLOCK,
    users: np.ndarray | None = None,
    rank_by: str | None = None,
    confidence_weight: float | None = None,
    genre: str | None = None,
) -> Iterator[tuple[np.ndarray, Ranked]]:
    """Top-k of every training user (or of ``users``), one block at a time.

    Parameters
    ----------
    model : fitted Recommender
    k : int, default 10
    min_ratings, rank_by, confidence_weight : optional
        Override the model's ranking policy.
    block_size : int, default 1024
        Users per block.
    users : ndarray of int, optional
        Dense user positions to score (default all, in order).
    genre : str, optional

    Yields
    ------
    (user_idx, Ranked) : the block's dense user positions and its lists

    Raises
    ------
    DataValidationError
        If k < 1 or block_size < 1, or as ``resolve_policy``.
    """
    from movierec.kernels.threads import current_threads

    model._require_fitted()
    if k < 1 or block_size < 1:
        raise DataValidationError(f"k and block_size must be >= 1, got {k} and {block_size}")
    policy = resolve_policy(model, min_ratings, rank_by, confidence_weight)
    index = index_for(model)
    order = np.arange(model.n_users, dtype=np.int64) if users is None else np.asarray(users, dtype=np.int64)
    current_threads()  # apply MOVIEREC_THREADS once if nobody did
    for start in range(0, order.size, block_size):
        uidx = order[start : start + block_size]
        yield uidx, rank_states(model, model.user_states(uidx), k, policy, index=index, genre=genre)


def recommend_batch(
    model: Recommender,
    users: Sequence[Any] | None = None,
    *,
    k: int = 10,
    min_ratings: int | None = None,
    rank_by: str | None = None,
    confidence_weight: float | None = None,
    genre: str | None = None,
    block_size: int = DEFAULT_BLOCK,
) -> pl.DataFrame:
    """Top-k of many training users as one frame (all users when ``users`` is omitted).

    Columns ``OUTPUT_COLUMNS``: ``user_id``, ``rank`` (1 = best), ``movie_id``, ``score`` (predicted
    stars clipped to the scale), ``raw_score`` (the order), ``n_ratings``; rated films excluded, the
    guard applied, each user's rows equal to ``recommend(model, user)``. ``.to_pandas()`` gives pandas.

    Raises
    ------
    UnknownIdError
        If a user id is not a training user.
    """
    positions = None if users is None else np.array([model.users_.index(u) for u in users], dtype=np.int64)
    k = min(k, max(model.n_items, 1))
    blocks = [frame_of(model, uidx, ranked) for uidx, ranked in iter_top_k(
        model, k, min_ratings, block_size, positions, rank_by, confidence_weight, genre)]  # fmt: skip
    return pl.concat(blocks) if blocks else frame_of(model, np.zeros(0, np.int64), no_lists(k))


def no_lists(k: int) -> Ranked:
    """A block of no users (for the schema of an empty output)."""
    from movierec.ranking.topk import Eligible

    z = np.zeros((0, k))
    return Ranked(
        z.astype(np.int64),
        z.astype(np.float32),
        z.astype(np.float32),
        Eligible.from_mask(np.zeros(0, bool), np.zeros(0)),
    )


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
    import pyarrow.parquet as pq

    out_path = Path(out_path)
    if out_path.is_dir():  # checked before any scoring: a rename onto a folder fails only at the end
        raise DataValidationError(f"{out_path}: is a folder; give the path of the Parquet file to write")
    if not out_path.parent.is_dir():
        raise DataValidationError(f"{out_path.parent}: no such folder; create it first or write elsewhere")
    k = min(k, max(model.n_items, 1))  # no list is longer; a huge k would only size the block's lists
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    rows = 0
    schema = frame_of(model, np.zeros(0, np.int64), no_lists(k)).to_arrow().schema
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for uidx, ranked in iter_top_k(model, k, min_ratings, block_size):
                table = frame_of(model, uidx, ranked).to_arrow()
                writer.write_table(table)
                rows += table.num_rows
                if progress is not None:
                    progress(uidx.size)
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


__all__ = ["DEFAULT_BLOCK", "OUTPUT_COLUMNS", "iter_top_k", "recommend_batch", "write_recommendations"]
