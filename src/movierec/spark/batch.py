"""``recommend_all_spark``: top-k for every user of a saved model, blocked, on Spark (case C21)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from movierec.engines.blocked_topk import block_top_k
from movierec.engines.spark.session import spark_session
from movierec.errors import DataValidationError

OUTPUT_COLUMNS = ("user_id", "rank", "movie_id", "score", "raw_score", "n_ratings")


def recommend_all_spark(
    model_dir: str | Path,
    out_path: str,
    k: int = 10,
    min_ratings: int | None = None,
    spark_master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    user_block: int = 1024,
    item_block: int = 4096,
) -> int:
    """Top-k for every training user of a saved model, scored on Spark and written to Parquet.

    Users are spread over tasks with their factors, bias and rated films; the
    item side (factors, biases, counts, guard) is broadcast once. Each task
    scores ``user_block`` users × ``item_block`` items at a time and keeps only
    a running top-k (``engines.blocked_topk.block_top_k``), so an executor's
    memory grows with user_block × (item_block + k), never with n_users × n_items
    (case C21). Rated films are excluded (case C17), the popularity guard
    applies (inclusive, case C20), ties follow ``ranking.topk.top_k``: each
    user's list equals ``movierec.recommend(model, user, k=k)``.

    Parameters
    ----------
    model_dir : str or Path
        A model folder of an explicit biased ``ALS`` (either engine); loaded on the driver.
    out_path : str
        Parquet output, any URI Spark writes (a folder of part files, replaced).
        One row per recommendation: ``user_id`` (as in the training data),
        ``rank`` (int32, 1 = best), ``movie_id``, ``score`` (float32 stars,
        clipped to the rating scale), ``raw_score`` (float32, unclipped; the
        order), ``n_ratings`` (int64 training ratings of the film).
    k : int, default 10
        Length per user; shorter when fewer films are eligible (case C18).
    min_ratings : int, optional
        Popularity guard, ``n_ratings >= min_ratings``; default: the model's ``min_ratings``.
    spark_master, spark_conf
        See ``spark_session``.
    user_block, item_block : int, default 1024 and 4096
        Block sizes of the scoring kernel (memory ≈ user_block × item_block × 10 bytes).

    Returns
    -------
    int
        Rows written: n_users × k at most.

    Raises
    ------
    ArtifactError
        If ``model_dir`` is not a readable model folder.
    DataValidationError
        If ``k`` < 1, a block size < 1, or the model is not an explicit biased ``ALS``
        (``model.json`` ``"model": "als"``, trained by either engine).
    BackendUnavailableError
        If PySpark or Java is missing or Spark cannot start.
    """
    from movierec.ranking.confidence import default_rank_by, evidence_bonus, resolve_confidence_weight
    from movierec.ranking.recommend import default_min_ratings
    from movierec.store import load

    if k < 1 or user_block < 1 or item_block < 1:
        raise DataValidationError(f"k, user_block and item_block must be >= 1, got {k}, {user_block}, {item_block}")
    model: Any = load(model_dir)
    if model.name != "als":  # the kernel scores μ + b_u + b_i + p_u·q_i, nothing else
        raise DataValidationError(
            f"{model_dir}: model {model.name!r} is not the explicit biased ALS that recommend-all on Spark scores; "
            "use --engine local for it"
        )
    guard = default_min_ratings(model) if min_ratings is None else int(min_ratings)
    item_base = model.item_bias_.astype(np.float32)
    mu, shift = float(model.global_mean_), None
    if default_rank_by(model) == "confidence":  # rank by (η·ln(1 + n_i) + b_u) + p_u·q_i, as ``recommend``
        bonus = evidence_bonus(model, resolve_confidence_weight(model))
        shift = ((np.float32(mu) + item_base) - bonus).astype(np.float32)  # stars = raw score + shift
        item_base, mu = bonus, 0.0
    spark = spark_session(spark_master, spark_conf)
    users = _user_table(model)
    parts = max(spark.sparkContext.defaultParallelism, math.ceil(model.n_users / 50_000))
    frame = spark.createDataFrame(users).repartition(parts)
    items = {
        "factors": np.ascontiguousarray(model.item_factors_, dtype=np.float32),
        "bias": item_base,
        "shift": shift,
        "counts": model.item_counts_.astype(np.int64),
        "candidates": model.item_counts_ >= guard,
        "movie_ids": _plain(model.items_.ids.to_arrow()),
        "mu": mu, "low": model.scale_.low, "high": model.scale_.high,
        "k": int(k), "user_block": int(user_block), "item_block": int(item_block),
    }  # fmt: skip
    shared = spark.sparkContext.broadcast(items)
    user_type = "bigint" if model.users_.is_integer else "string"
    movie_type = "bigint" if model.items_.is_integer else "string"
    schema = f"user_id {user_type}, rank int, movie_id {movie_type}, score float, raw_score float, n_ratings bigint"

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:  # runs on executors
        it = shared.value
        for batch in batches:
            for start in range(0, batch.num_rows, it["user_block"]):
                yield _score_block(batch.slice(start, it["user_block"]), it)

    try:
        frame.mapInArrow(score, schema).write.mode("overwrite").parquet(str(out_path))
    finally:
        shared.unpersist()
    return spark.read.parquet(str(out_path)).count()


def _user_table(model: Any) -> pa.Table:
    """Per training user: id, bias, factors and the item positions they rated."""
    ui = model.user_items_
    k = model.user_factors_.shape[1]
    factors = pa.ListArray.from_arrays(
        pa.array(np.arange(0, model.n_users * k + 1, k, dtype=np.int32)),
        pa.array(np.ascontiguousarray(model.user_factors_, dtype=np.float32).ravel()),
    )
    rated = pa.ListArray.from_arrays(pa.array(ui.indptr.astype(np.int32)), pa.array(ui.indices.astype(np.int32)))
    bias = pa.array(model.user_bias_.astype(np.float32))
    return pa.table({"user_id": _plain(model.users_.ids.to_arrow()), "bias": bias, "factors": factors, "rated": rated})


def _plain(ids: pa.Array) -> pa.Array:
    """Polars strings are Arrow large_string; Spark's schema says string."""
    return ids.cast(pa.string()) if pa.types.is_large_string(ids.type) else ids


def _score_block(batch: pa.RecordBatch, it: dict[str, Any]) -> pa.RecordBatch:
    n = batch.num_rows
    n_factors = it["factors"].shape[1]
    factors = batch.column("factors").flatten().to_numpy(zero_copy_only=False).reshape(n, n_factors)
    rated = batch.column("rated")
    indptr = np.concatenate([[0], np.cumsum(rated.value_lengths().to_numpy(zero_copy_only=False))]).astype(np.int64)
    rated_idx = rated.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    bias = batch.column("bias").to_numpy(zero_copy_only=False)
    idx, raw = block_top_k(factors, bias, indptr, rated_idx, it["factors"], it["bias"], it["counts"],
                           it["candidates"], it["mu"], it["k"], it["item_block"])  # fmt: skip
    keep = idx >= 0
    rows, ranks = np.nonzero(keep)
    chosen, raw_kept = idx[keep], raw[keep]
    stars = raw_kept if it["shift"] is None else raw_kept + it["shift"][chosen]
    return pa.RecordBatch.from_pydict(
        {
            "user_id": batch.column("user_id").take(pa.array(rows)),
            "rank": pa.array((ranks + 1).astype(np.int32)),
            "movie_id": it["movie_ids"].take(pa.array(chosen)),
            "score": pa.array(np.clip(stars, it["low"], it["high"]).astype(np.float32)),
            "raw_score": pa.array(raw_kept.astype(np.float32)),
            "n_ratings": pa.array(it["counts"][chosen]),
        }
    )


__all__ = ["OUTPUT_COLUMNS", "recommend_all_spark"]
