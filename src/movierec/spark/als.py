"""``SparkALS``: the local engine's biased ALS objective, fitted with pyspark.ml's ALS and DataFrames;
``SparkImplicitALS``: the local ``als-implicit`` model through Spark's ``implicitPrefs``.

Name mapping and references: see the package docstring (``movierec.spark``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.ml.recommendation import ALS as _SparkALS
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from movierec.config import ALSConfig, RankingPolicy
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError
from movierec.models.als import ALS, IterationCallback
from movierec.models.hybrid import Hybrid, HybridConfig
from movierec.models.implicit import ImplicitALS, ImplicitConfig, spark_implicit_values
from movierec.models.memory import factor_fit_bytes
from movierec.models.temporal import TemporalConfig
from movierec.spark.io import read_ratings
from movierec.spark.session import ensure_checkpoint_dir, spark_session, spark_version


class SparkALS(ALS):
    """Explicit biased ALS (ALS-WR) trained on Spark; the fitted model is a plain ``ALS``.

    Fitting is block coordinate descent on the local engine's objective (see
    ``ALSConfig``): (1) μ is the global mean; (2) ``bias_sweeps`` alternating
    sweeps solve the biases exactly given the current factors, b_i = Σ_u e_ui /
    (n_i (1 + bias_reg)) and b_u likewise, where e is the residual without that
    bias (DataFrame group-bys); (3) ``pyspark.ml.recommendation.ALS`` (explicit,
    ``rank=n_factors``, ``maxIter=n_iter``, ``regParam=reg``, ``seed=random_state``)
    fits p_u, q_i to the residuals r − μ − b_u − b_i; (4) the biases are solved
    again given the factors.

    The remaining difference from the local engine: the local engine solves
    [b_u, p_u] jointly in every half-step, whereas here the biases and the
    factors alternate once, and Spark starts from its own random factors
    (unit-norm rows, items solved first). Both minimise the same objective with
    the same λ convention; on ml-100k u1 and ml-latest-small test RMSE agrees
    within 1% (benchmarks/README.md, "Spark engine against the local engine").

    Parameters
    ----------
    config : ALSConfig, optional
    callback : IterationCallback, optional
        Called once, after fitting, with (n_iter, {"train_rmse", "seconds"});
        Spark does not report single sweeps.
    master : str, optional
        Spark master URL; see ``spark_session``.
    spark_conf : dict of str to str, optional
        Spark settings (``--spark-conf``).
    checkpoint_dir : str, optional
        Checkpoint directory URI; default see ``ensure_checkpoint_dir``.
    num_blocks : int, optional
        Spark ``numUserBlocks`` and ``numItemBlocks``. Default: the session's
        ``defaultParallelism`` (cores), which avoids tiny tasks in local mode.
    bias_sweeps : int, default 2
        Alternating bias sweeps before and after the factor fit.

    Attributes
    ----------
    Those of ``ALS``; ``fit_info_`` also records ``engine``, ``spark_version``,
    ``spark_master`` and ``checkpoint_dir``.

    Raises
    ------
    DataValidationError
        From ``fit`` when ``bias_sweeps`` or ``num_blocks`` is below 1.
    BackendUnavailableError
        From ``fit`` when PySpark or Java is missing.
    FitError
        From ``fit`` when a learned value is non-finite.
    """

    def __init__(
        self,
        config: ALSConfig | None = None,
        callback: IterationCallback | None = None,
        *,
        master: str | None = None,
        spark_conf: dict[str, str] | None = None,
        checkpoint_dir: str | None = None,
        num_blocks: int | None = None,
        bias_sweeps: int = 2,
        policy: RankingPolicy | None = None,
    ) -> None:
        super().__init__(config, callback, policy)
        if self.config.solver != "cholesky":
            raise DataValidationError(
                f"SparkALS: solver={self.config.solver!r} is the local engine's; Spark MLlib solves every row exactly "
                "(leave ALSConfig.solver at 'cholesky' or train with the local engine)"
            )
        self.master, self.spark_conf = master, dict(spark_conf or {})
        self.checkpoint_dir, self.num_blocks, self.bias_sweeps = checkpoint_dir, num_blocks, bias_sweeps
        self._indexed: DataFrame | None = None

    def fit_memory(self, n_users: int, n_items: int) -> dict[str, int]:  # solved on the executors
        return factor_fit_bytes(self.config.n_factors, n_users, n_items, "spark")

    def _fit(self, dataset: Dataset) -> None:
        if self.bias_sweeps < 1 or (self.num_blocks is not None and self.num_blocks < 1):
            raise DataValidationError(
                f"SparkALS: bias_sweeps and num_blocks must be >= 1, got {self.bias_sweeps} and {self.num_blocks}"
            )
        spark = spark_session(self.master, self.spark_conf)
        t0 = time.perf_counter()
        indexed = self._indexed
        if indexed is None:
            u, i, r = dataset.arrays()
            indexed = spark.createDataFrame(pa.table({"user_idx": u, "item_idx": i, "rating": r}))
        indexed = indexed.select("user_idx", "item_idx", F.col("rating").cast("double")).persist()
        try:
            ckpt = ensure_checkpoint_dir(spark, self.checkpoint_dir)
            self._train(spark, indexed, dataset.n_users, dataset.n_items)
        finally:
            indexed.unpersist()
            self._indexed = None
        seconds = time.perf_counter() - t0
        entry = {"iteration": self.config.n_iter, "train_rmse": self._train_rmse, "seconds": seconds}
        self.history_ = [entry]
        self.fit_info_.update({
            "train_rmse": self._train_rmse, "engine": "spark",
            "spark_version": spark_version(), "spark_master": spark.sparkContext.master, "checkpoint_dir": ckpt,
        })  # fmt: skip
        if self.callback:
            self.callback(self.config.n_iter, entry)

    def _train(self, spark: SparkSession, ratings: DataFrame, n_users: int, n_items: int) -> None:
        cfg, mu = self.config, self.global_mean_
        blocks = self.num_blocks or max(2, spark.sparkContext.defaultParallelism)
        data = ratings.withColumn("pq", F.lit(0.0))
        user_b, item_b = self._fit_biases(data, mu)
        resid = _with_biases(data, user_b, item_b).select(
            "user_idx", "item_idx", (F.col("rating") - mu - F.col("bu") - F.col("bi")).alias("resid")
        )
        als = _SparkALS(
            rank=cfg.n_factors, maxIter=cfg.n_iter, regParam=cfg.reg, seed=cfg.random_state,
            userCol="user_idx", itemCol="item_idx", ratingCol="resid", implicitPrefs=False, nonnegative=False,
            numUserBlocks=blocks, numItemBlocks=blocks, checkpointInterval=10, coldStartStrategy="nan",
        )  # fmt: skip
        fitted = als.fit(resid)
        data = fitted.transform(ratings).withColumnRenamed("prediction", "pq").persist()
        user_b, item_b = self._fit_biases(data, mu, user_b)
        final = _with_biases(data, user_b, item_b)
        err = F.col("rating") - mu - F.col("bu") - F.col("bi") - F.col("pq")
        row = final.select(F.sqrt(F.avg(err * err))).first()
        assert row is not None  # an aggregate always has one row
        self._train_rmse = float(row[0])
        self.user_factors_ = _dense_factors(fitted.userFactors, n_users, cfg.n_factors)
        self.item_factors_ = _dense_factors(fitted.itemFactors, n_items, cfg.n_factors)
        self.user_bias_ = _dense_vector(user_b, "user_idx", "bu", n_users)
        self.item_bias_ = _dense_vector(item_b, "item_idx", "bi", n_items)
        data.unpersist()

    def _fit_biases(self, data: DataFrame, mu: float, user_b: DataFrame | None = None) -> tuple[DataFrame, DataFrame]:
        """Alternating exact bias solves given ``pq`` = p_u·q_i per rating; items first."""
        shrink = 1.0 + self.config.bias_reg
        spark = data.sparkSession
        if user_b is None:
            user_b = spark.createDataFrame([], "user_idx int, bu double")
        item_b = None
        for _ in range(self.bias_sweeps):
            e = _with_biases(data, user_b, None).withColumn("e", F.col("rating") - mu - F.col("bu") - F.col("pq"))
            item_b = _solve(e, "item_idx", "bi", shrink)
            e = _with_biases(data, None, item_b).withColumn("e", F.col("rating") - mu - F.col("bi") - F.col("pq"))
            user_b = _solve(e, "user_idx", "bu", shrink)
        assert item_b is not None
        return user_b, item_b


class SparkImplicitALS(ImplicitALS):
    """Implicit-feedback ALS (``als-implicit``) trained on Spark; the fitted model is a plain ``ImplicitALS``.

    ``pyspark.ml.recommendation.ALS(implicitPrefs=True, alpha=alpha,
    rank=n_factors, maxIter=n_iter, regParam=reg, seed=random_state)`` on the
    values of ``spark_implicit_values``: v = r / r_max for a positive event and
    v = −(t − r) / r_max for a rating below ``negative_below`` = t, which Spark
    reads (confidence 1 + alpha · |v|, preference 1 if v > 0 else 0) as exactly
    the local model's confidence and preference. ``regParam`` is multiplied by
    each row's count, as the local kernel does; the learned factors are
    ``user_factors_`` and ``item_factors_``, saved in the same model folder.

    Remaining differences from the local engine: Spark starts from its own
    random factors (unit-norm rows, items solved first; ``init_scale`` is not
    used), and with ``negative_below`` set Spark counts only a row's positive
    events when scaling ``regParam`` (the local kernel counts every event).
    With the default config, NDCG@10 on ml-100k stratified is 0.3% below the
    local engine's (benchmarks/README.md, "Spark engine against the local engine").

    Parameters
    ----------
    config : ImplicitConfig, optional
    master, spark_conf, checkpoint_dir, num_blocks
        As for ``SparkALS``.

    Attributes
    ----------
    Those of ``ImplicitALS``; ``fit_info_`` records ``fit_seconds``, ``engine``,
    ``spark_version``, ``spark_master`` and ``checkpoint_dir``.

    Raises
    ------
    DataValidationError
        From ``fit`` when ``num_blocks`` is below 1, or a positive event has a
        rating <= 0 (Spark would read it as preference 0).
    BackendUnavailableError
        From ``fit`` when PySpark or Java is missing.
    FitError
        From ``fit`` when a learned value is non-finite.

    References
    ----------
    Hu, Koren, Volinsky. "Collaborative Filtering for Implicit Feedback Datasets".
    ICDM 2008. doi:10.1109/ICDM.2008.22
    """

    def __init__(
        self,
        config: ImplicitConfig | None = None,
        *,
        master: str | None = None,
        spark_conf: dict[str, str] | None = None,
        checkpoint_dir: str | None = None,
        num_blocks: int | None = None,
        policy: RankingPolicy | None = None,
    ) -> None:
        super().__init__(config, policy)
        self.master, self.spark_conf = master, dict(spark_conf or {})
        self.checkpoint_dir, self.num_blocks = checkpoint_dir, num_blocks
        self._indexed: DataFrame | None = None

    def fit_memory(self, n_users: int, n_items: int) -> dict[str, int]:  # solved on the executors
        return factor_fit_bytes(self.config.n_factors, n_users, n_items, "spark")

    def _fit(self, dataset: Dataset) -> None:
        cfg, high = self.config, self.scale_.high
        r = self.user_items_.data
        positive = r >= cfg.negative_below if cfg.negative_below is not None else np.ones(r.shape, dtype=bool)
        if self.num_blocks is not None and self.num_blocks < 1:
            raise DataValidationError(f"SparkImplicitALS: num_blocks must be >= 1, got {self.num_blocks}")
        if np.any(positive & (r <= 0)):
            raise DataValidationError(
                f"SparkImplicitALS: {int(np.sum(positive & (r <= 0)))} positive event(s) rated <= 0 (lowest rating "
                f"{float(r.min()):g}); Spark reads a value <= 0 as preference 0: set negative_below above it "
                "or train with --engine local"
            )
        spark = spark_session(self.master, self.spark_conf)
        t0 = time.perf_counter()
        indexed = self._indexed
        if indexed is None:
            u, i, rr = dataset.arrays()
            indexed = spark.createDataFrame(pa.table({"user_idx": u, "item_idx": i, "rating": rr}))
        value = spark_implicit_values(F.col("rating").cast("double"), high, cfg.negative_below, where=_when)
        data = indexed.select("user_idx", "item_idx", value.alias("value")).persist()
        blocks = self.num_blocks or max(2, spark.sparkContext.defaultParallelism)
        try:
            ckpt = ensure_checkpoint_dir(spark, self.checkpoint_dir)
            als = _SparkALS(
                rank=cfg.n_factors, maxIter=cfg.n_iter, regParam=cfg.reg, alpha=cfg.alpha, seed=cfg.random_state,
                userCol="user_idx", itemCol="item_idx", ratingCol="value", implicitPrefs=True, nonnegative=False,
                numUserBlocks=blocks, numItemBlocks=blocks, checkpointInterval=10,
            )  # fmt: skip
            fitted = als.fit(data)
            self.user_factors_ = _dense_factors(fitted.userFactors, dataset.n_users, cfg.n_factors)
            self.item_factors_ = _dense_factors(fitted.itemFactors, dataset.n_items, cfg.n_factors)
        finally:
            data.unpersist()
            self._indexed = None
        seconds = time.perf_counter() - t0
        self.fit_info_.update({
            "spark_seconds": seconds, "engine": "spark", "spark_version": spark_version(),
            "spark_master": spark.sparkContext.master, "checkpoint_dir": ckpt,
        })  # fmt: skip


def _when(condition: Column, if_true: Column, if_false: Column) -> Column:
    return F.when(condition, if_true).otherwise(if_false)


def _solve(e: DataFrame, key: str, name: str, shrink: float) -> DataFrame:
    """b = Σ e / (n (1 + bias_reg)) per key; lineage cut so sweeps never nest."""
    out = e.groupBy(key).agg((F.sum("e") / (F.count(F.lit(1)) * shrink)).alias(name))
    return out.localCheckpoint(eager=True)


def _with_biases(data: DataFrame, user_b: DataFrame | None, item_b: DataFrame | None) -> DataFrame:
    if user_b is not None:
        data = data.join(user_b, "user_idx", "left").fillna(0.0, ["bu"])
    if item_b is not None:
        data = data.join(item_b, "item_idx", "left").fillna(0.0, ["bi"])
    return data


def _dense_factors(frame: DataFrame, n: int, k: int) -> np.ndarray:
    table = frame.toArrow()
    out = np.zeros((n, k), dtype=np.float32)
    ids = table.column("id").to_numpy()
    vals = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    out[ids] = vals.reshape(len(ids), k)
    return out


def _dense_vector(frame: DataFrame, key: str, name: str, n: int) -> np.ndarray:
    table = frame.toArrow()
    out = np.zeros(n, dtype=np.float32)
    out[table.column(key).to_numpy()] = table.column(name).to_numpy()
    return out


def _id_frame(spark: SparkSession, ids: pa.Array, kind: str) -> DataFrame:
    """External id -> dense position, the IdMap's order (sorted ids), as a Spark table."""
    if pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.string())
    id_col = "user_id" if kind == "user" else "movie_id"
    return spark.createDataFrame(pa.table({id_col: ids, f"{kind}_idx": np.arange(len(ids), dtype=np.int32)}))


def spark_model(
    config: ALSConfig | ImplicitConfig | HybridConfig | TemporalConfig | None = None,
    master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    callback: IterationCallback | None = None,
    policy: RankingPolicy | None = None,
    **kwargs: Any,
) -> SparkALS | SparkImplicitALS | Hybrid:
    """The unfitted model a config trains on Spark: ``als``, ``als-implicit``, or ``hybrid`` with Spark-trained parts.

    Raises
    ------
    DataValidationError
        For a config Spark cannot train: ``als-time`` and ``bias-time`` alternate every factor sweep
        with closed-form updates of the time terms, but Spark's ALS runs all of its sweeps inside one
        job, so each of our sweeps would be a whole Spark ALS fit (n_iter times the work); train them
        with the local engine. Also a ``solver="cg"`` explicit config (Spark solves exactly).
    """
    if isinstance(config, TemporalConfig):
        raise DataValidationError(
            "train: --engine spark cannot train als-time or bias-time: they alternate every ALS sweep with exact "
            "updates of the time terms, and Spark's ALS runs all its sweeps in one job, so every sweep would be a "
            "whole Spark fit; "
            "train them with --engine local"
        )
    if isinstance(config, HybridConfig):
        explicit = SparkALS(config.explicit, callback, master=master, spark_conf=spark_conf, **kwargs)
        implicit = SparkImplicitALS(config.implicit, master=master, spark_conf=spark_conf,
                                    **{k: v for k, v in kwargs.items() if k != "bias_sweeps"})  # fmt: skip
        return Hybrid(config, policy, explicit=explicit, implicit=implicit)
    if isinstance(config, ImplicitConfig):
        return SparkImplicitALS(config, master=master, spark_conf=spark_conf, policy=policy, **kwargs)
    return SparkALS(config, callback, master=master, spark_conf=spark_conf, policy=policy, **kwargs)


def train_spark(
    uri: str,
    config: ALSConfig | ImplicitConfig | HybridConfig | None = None,
    master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    callback: IterationCallback | None = None,
    policy: RankingPolicy | None = None,
    **kwargs: Any,
) -> tuple[SparkALS | SparkImplicitALS | Hybrid, Dataset]:
    """Read, clean and index ratings on Spark, then fit the model of ``config`` on Spark (``spark_model``).

    Parameters
    ----------
    uri : str
        A CSV file (header ``userId,movieId,rating[,timestamp]`` or ``user_id,...``),
        a Parquet file or folder, or a dataset folder from ``movierec ingest``
        (``ratings.parquet`` + ``movies.parquet``); any URI Spark reads
        (local path, ``hdfs://``, ``s3a://``). MovieLens names and layouts
        that are not CSV (``ml-100k``, ``u1.base``, ``ratings.dat``) are read by
        the local loader on the driver and trained on Spark.
    config : ALSConfig, ImplicitConfig or HybridConfig, optional
        Which model: explicit ALS (default), ``als-implicit``, or the ``hybrid`` (both parts on Spark).
    master, spark_conf, callback, policy, **kwargs
        Passed to the model (``callback`` to the explicit ALS only: the implicit
        model reports no training RMSE).

    Returns
    -------
    (model, dataset)
        The fitted model, and the cleaned training ratings as collected on the
        driver (n_ratings × ~28 bytes; the model folder needs the rating matrix
        for exclusion of rated films anyway).

    Raises
    ------
    DataValidationError
        If the ratings are missing columns, hold null or non-numeric values,
        or ratings off the scale, or the config cannot be trained on Spark. Duplicated (user, movie)
        pairs are resolved, not refused: the latest timestamp wins, as in the core loaders.
    BackendUnavailableError
        If PySpark or Java is missing.
    """
    model = spark_model(config, master, spark_conf, callback, policy, **kwargs)  # fails before Spark starts
    spark = spark_session(master, spark_conf)
    frame, dataset, report = read_ratings(spark, uri)
    parts = [model.explicit, model.implicit] if isinstance(model, Hybrid) else [model]
    if frame is not None:
        users = _id_frame(spark, dataset.users.ids.to_arrow(), "user")
        items = _id_frame(spark, dataset.items.ids.to_arrow(), "item")
        indexed = frame.join(users, "user_id").join(items, "movie_id")
        for part in parts:
            part._indexed = indexed  # type: ignore[attr-defined]
    try:
        model.fit(dataset)
    finally:
        if frame is not None:
            frame.unpersist()
    model.fit_info_.update(report)
    model.fit_info_["engine"] = "spark"
    return model, dataset


__all__ = ["SparkALS", "SparkImplicitALS", "spark_model", "train_spark"]
