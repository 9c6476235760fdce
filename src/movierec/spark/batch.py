"""``recommend_all_spark``: every training user's top-k of any saved model, ranked on Spark executors.

The fitted model is broadcast once; the users are spread over tasks as dense positions; each task
ranks its users a block at a time through ``movierec.ranking.batch.iter_top_k`` — the block path of
every list (the fused score-and-select kernel for linear forms), so an executor's memory grows with
the block, never with users × films — and returns Arrow batches (``mapInArrow``). Each user's list
equals ``movierec recommend --user`` for the same model folder.

References
----------
SPARK-11968 / apache/spark PR #17742: keep only the top-k per block instead of the full block score matrix.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from movierec.errors import DataValidationError
from movierec.ranking.batch import OUTPUT_COLUMNS, iter_top_k, no_lists
from movierec.ranking.recommend import frame_of
from movierec.spark.session import spark_session


def recommend_all_spark(
    model_dir: str | Path,
    out_path: str,
    k: int = 10,
    min_ratings: int | None = None,
    spark_master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    user_block: int = 1024,
) -> int:
    """Top-k for every training user of a saved model, ranked on Spark and written to Parquet.

    Parameters
    ----------
    model_dir : str or Path
        A model folder of any model (either engine); loaded on the driver and broadcast.
    out_path : str
        Parquet output, any URI Spark writes (a folder of part files, replaced). Columns
        ``OUTPUT_COLUMNS``: ``user_id``, ``rank`` (int32, 1 = best), ``movie_id``, ``score``
        (float32 stars, clipped to the scale), ``raw_score`` (float32, the order), ``n_ratings``.
    k : int, default 10
        Length per user; shorter when fewer films are eligible.
    min_ratings : int, optional
        Popularity guard, ``n_ratings >= min_ratings``; default the model's policy.
    spark_master, spark_conf
        See ``spark_session``.
    user_block : int, default 1024
        Users ranked per block on an executor.

    Returns
    -------
    int
        Rows written: n_users × k at most.

    Raises
    ------
    ArtifactError
        If ``model_dir`` is not a readable model folder.
    DataValidationError
        If ``k`` or ``user_block`` < 1.
    BackendUnavailableError
        If PySpark or Java is missing or Spark cannot start.
    """
    from movierec.store import load

    if k < 1 or user_block < 1:
        raise DataValidationError(f"k and user_block must be >= 1, got {k} and {user_block}")
    model: Any = load(model_dir)
    k = min(k, max(model.n_items, 1))
    spark = spark_session(spark_master, spark_conf)
    parts = max(spark.sparkContext.defaultParallelism, math.ceil(model.n_users / 50_000))
    users = pa.table({"user_idx": np.arange(model.n_users, dtype=np.int64)})
    frame = spark.createDataFrame(users).repartition(parts)
    schema_table = frame_of(model, np.zeros(0, np.int64), no_lists(k)).to_arrow()
    shared = spark.sparkContext.broadcast(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    spark_schema = ", ".join(f"{name} {_spark_type(schema_table.schema.field(name).type)}" for name in OUTPUT_COLUMNS)
    block = int(user_block)

    def rank(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:  # runs on executors
        fitted = pickle.loads(shared.value)
        for batch in batches:
            positions = batch.column("user_idx").to_numpy()
            for uidx, ranked in iter_top_k(fitted, k, min_ratings, block, positions):
                table = frame_of(fitted, uidx, ranked).to_arrow()
                yield from _plain(table).to_batches()

    try:
        frame.mapInArrow(rank, spark_schema).write.mode("overwrite").parquet(str(out_path))
    finally:
        shared.unpersist()
    return spark.read.parquet(str(out_path)).count()


def _plain(table: pa.Table) -> pa.Table:
    """Polars strings are Arrow large_string; Spark's schema says string."""
    fields = [pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in table.schema]
    return table.cast(pa.schema(fields))


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int" if t.bit_width <= 32 else "bigint"
    if pa.types.is_floating(t):
        return "float" if t.bit_width <= 32 else "double"
    return "string"


__all__ = ["OUTPUT_COLUMNS", "recommend_all_spark"]
