"""Reading ratings on Spark: CSV, Parquet or dataset folders; validation; duplicates."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from movierec.data.dataset import Dataset, RatingScale
from movierec.data.home import KNOWN_DATASETS
from movierec.data.load import load_movielens, resolve
from movierec.data.movielens import HALF_STARS, read_movies_csv
from movierec.errors import DataValidationError

_ALIASES = {"userid": "user_id", "user_id": "user_id", "movieid": "movie_id", "movie_id": "movie_id",
            "rating": "rating", "timestamp": "timestamp"}  # fmt: skip
_DRIVER_LAYOUTS = ("u.data", "ratings.dat")


def _exists(spark: SparkSession, uri: str) -> bool:
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a live session always has its gateway
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return bool(path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path))


def _read_bytes(spark: SparkSession, uri: str) -> bytes:
    """A small file (catalogue, header) read through Spark, so any URI scheme works."""
    row = spark.read.format("binaryFile").load(uri).select("content").first()
    return bytes(row[0]) if row else b""


def _driver_only(uri: str) -> Path | None:
    """A local MovieLens name or non-CSV layout, read by the core loader on the driver."""
    if "://" in uri and not uri.startswith("file:"):
        return None
    if uri in KNOWN_DATASETS and not Path(uri).exists():
        return resolve(uri)
    p = Path(uri.removeprefix("file:")).expanduser()
    if p.is_dir() and not (p / "ratings.parquet").exists() and any((p / n).exists() for n in _DRIVER_LAYOUTS):
        return p
    if p.is_file() and (p.name in _DRIVER_LAYOUTS or p.suffix in (".base", ".test", ".dat")):
        return p
    return None


def read_ratings(spark: SparkSession, uri: str) -> tuple[DataFrame | None, Dataset, dict[str, Any]]:
    """Read, validate and de-duplicate ratings with Spark; collect them as a ``Dataset``.

    Parameters
    ----------
    spark : SparkSession
    uri : str
        CSV file, Parquet file or folder, or a dataset folder (``ratings.parquet``,
        optional ``movies.parquet`` and ``dataset.json``); see ``train_spark``.

    Returns
    -------
    frame : pyspark DataFrame or None
        Cleaned ratings on the cluster (``user_id``, ``movie_id``, ``rating``
        double, ``timestamp`` int64 UTC seconds), persisted; None when the data
        was read by the core loader on the driver.
    dataset : Dataset
        The same ratings on the driver, with the catalogue and scale.
    report : dict
        ``n_rows_read`` and ``duplicates_resolved``.

    Raises
    ------
    DataValidationError
        Missing columns; null, empty or non-numeric values; NaN ratings or
        ratings off the scale. Messages give counts and up to five examples.
    """
    local = _driver_only(uri)
    if local is not None:
        ds = load_movielens(local)
        return None, ds, {"n_rows_read": ds.n_ratings, "duplicates_resolved": 0}
    base = uri.rstrip("/")
    scale, movies = HALF_STARS, None
    if _exists(spark, f"{base}/ratings.parquet"):  # a dataset folder from `movierec ingest`
        raw = spark.read.parquet(f"{base}/ratings.parquet")
        if _exists(spark, f"{base}/dataset.json"):
            meta = json.loads(_read_bytes(spark, f"{base}/dataset.json"))
            scale = RatingScale.from_dict(meta["scale"]) if "scale" in meta else scale
        if _exists(spark, f"{base}/movies.parquet"):
            movies = pl.read_parquet(io.BytesIO(_read_bytes(spark, f"{base}/movies.parquet")))
    elif not _exists(spark, base):
        raise DataValidationError(f"{uri!r}: no such file or folder (for Spark, a CSV/Parquet path or dataset folder)")
    else:
        if not base.endswith((".csv", ".parquet")) and _exists(spark, f"{base}/ratings.csv"):
            base = f"{base}/ratings.csv"  # a MovieLens folder such as ml-latest-small/
        raw, movies = _read_plain(spark, base, uri)
    frame = _validate(_rename(raw, uri), uri, scale)
    n_read = frame.count()
    frame = _latest_wins(frame).persist()
    table = frame.toArrow()
    ratings = pl.from_arrow(table)
    assert isinstance(ratings, pl.DataFrame)
    ds = Dataset.from_frames(ratings.with_columns(pl.col("rating").cast(pl.Float32)), movies, scale, name=uri)
    return frame, ds, {"n_rows_read": n_read, "duplicates_resolved": n_read - ds.n_ratings}


def _read_plain(spark: SparkSession, base: str, uri: str) -> tuple[DataFrame, pl.DataFrame | None]:
    """A CSV file (with ``movies.csv`` beside it as the catalogue) or Parquet data."""
    movies = None
    try:
        if not base.endswith(".csv"):
            return _read_parquet(spark, base), None
        raw = spark.read.option("header", True).option("mode", "FAILFAST").csv(base)
    except AnalysisException as exc:
        raise DataValidationError(f"{uri}: Spark cannot read it as {'CSV' if base.endswith('.csv') else 'Parquet'} "
                                  f"({str(exc).splitlines()[0]})") from exc  # fmt: skip
    beside = base.rsplit("/", 1)[0] + "/movies.csv" if "/" in base else "movies.csv"
    if _exists(spark, beside):
        with tempfile.TemporaryDirectory() as tmp:  # reuse the core parser (quoting, encodings)
            (Path(tmp) / "movies.csv").write_bytes(_read_bytes(spark, beside))
            movies = read_movies_csv(Path(tmp) / "movies.csv")
    return raw, movies


def _read_parquet(spark: SparkSession, base: str) -> DataFrame:
    """Parquet data whose part files may store a column at different widths (int32 in one, int64 in another).

    Spark takes one file's schema and fails on the others mid-job (SPARK-37035). Every integer column is
    read as 64-bit and every float column as double instead, which Spark's reader widens per file:
    the rows of every part, as the core loader reads them.
    """
    from pyspark.sql import types as T

    inferred = spark.read.parquet(base).schema
    narrow_int = (T.ByteType, T.ShortType, T.IntegerType)

    def wide(t: T.DataType) -> T.DataType:
        return T.LongType() if isinstance(t, narrow_int) else T.DoubleType() if isinstance(t, T.FloatType) else t

    schema = T.StructType([T.StructField(f.name, wide(f.dataType), True) for f in inferred.fields])
    return spark.read.schema(schema).parquet(base)


def _rename(raw: DataFrame, uri: str) -> DataFrame:
    cols = {c: _ALIASES[c.lower()] for c in raw.columns if c.lower() in _ALIASES}
    missing = sorted({"user_id", "movie_id", "rating"} - set(cols.values()))
    if missing:
        raise DataValidationError(
            f"{uri}: missing column(s) {missing}; found {raw.columns}; expected userId,movieId,rating[,timestamp]"
        )
    frame = raw.select([F.col(f"`{c}`").alias(n) for c, n in cols.items()])
    if "timestamp" not in frame.columns:
        frame = frame.withColumn("timestamp", F.lit(0).cast("long"))
    return frame.withColumn("_row", F.monotonically_increasing_id())


def _id_column(frame: DataFrame, name: str) -> Any:
    """Integer ids stay int64; anything else (e.g. ``"u-17"``) stays a string, exactly as given."""
    if dict(frame.dtypes)[name] in ("int", "bigint", "smallint", "tinyint"):
        return F.col(name).cast("long")
    text = F.trim(F.col(name).cast("string"))
    non_int = frame.where(text.isNotNull() & text.try_cast("long").isNull()).limit(1).count()
    return text if non_int else text.try_cast("long")


def _validate(frame: DataFrame, uri: str, scale: RatingScale) -> DataFrame:
    rating = F.col("rating").try_cast("double")
    step_off = F.lit(False)
    if scale.step:
        q = (rating - scale.low) / scale.step
        step_off = F.abs(q - F.round(q)) > 1e-6
    checks = {
        "missing user or movie id": F.col("user_id").isNull() | F.col("movie_id").isNull()
        | (F.trim(F.col("user_id").cast("string")) == "") | (F.trim(F.col("movie_id").cast("string")) == ""),
        "missing or non-numeric rating": rating.isNull() | F.isnan(rating),
        f"rating outside {scale.describe()}": (rating < scale.low) | (rating > scale.high) | step_off,
        "missing or non-integer timestamp": F.col("timestamp").try_cast("long").isNull(),
    }  # fmt: skip
    counts = frame.agg(*[F.sum(F.when(c, 1).otherwise(0)) for c in checks.values()]).first()
    assert counts is not None  # an aggregate always has one row
    problems = []
    for j, (reason, cond) in enumerate(checks.items()):
        n = int(counts[j] or 0)
        if n:
            examples = [tuple(r)[:4] for r in frame.where(cond).limit(5).collect()]
            problems.append(f"{n} row(s) with {reason}, e.g. {examples}")
    if problems:
        raise DataValidationError(f"{uri}: " + "; ".join(problems) + "; fix the file or load it with `movierec ingest`")
    return frame.select(
        _id_column(frame, "user_id").alias("user_id"),
        _id_column(frame, "movie_id").alias("movie_id"),
        rating.alias("rating"),
        F.col("timestamp").try_cast("long").alias("timestamp"),
        "_row",
    )


def _latest_wins(frame: DataFrame) -> DataFrame:
    """One row per (user, movie): the latest timestamp wins, then the later row.

    The same rule as the core ingest; ratings are never summed or averaged.
    """
    w = Window.partitionBy("user_id", "movie_id").orderBy(F.col("timestamp").desc(), F.col("_row").desc())
    return frame.withColumn("_n", F.row_number().over(w)).where(F.col("_n") == 1).drop("_n", "_row")
