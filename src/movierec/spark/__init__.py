"""Spark engine: the same biased ALS model as the local engine, trained on a cluster.

This package is the only place that imports pyspark (the optional extra
``movierec[spark]``). Importing it without PySpark works; using any of its
names then raises ``BackendUnavailableError`` (an ``ImportError``) with the
install command. A Spark-trained model is an ``ALS`` (``name = "als"``) or,
from an ``ImplicitConfig``, an ``ImplicitALS`` (``"als-implicit"``, Spark's
``implicitPrefs``), saved in the same model folder format, so ``load``,
``recommend``, evaluation and the service use it unchanged.

Our names map to ``pyspark.ml.recommendation.ALS`` as follows:

=============================  ==========================================
movierec (``ALSConfig``)       Spark
=============================  ==========================================
``n_factors``                  ``rank``
``n_iter``                     ``maxIter``
``reg`` (times each row's      ``regParam`` (Spark also multiplies it by
rating count, ALS-WR)          the row's rating count: same λ)
``random_state``               ``seed``
``solver``                     none: Spark solves every row exactly;
                               ``SparkALS`` refuses ``"cg"``
``bias_reg``                   none: the biases are fitted with DataFrame
                               operations (see ``SparkALS``)
``alpha`` (implicit ALS)       ``alpha`` with ``implicitPrefs=True``, on
                               the values of ``spark_implicit_values``
                               (r / r_max; see ``SparkImplicitALS``)
``user_idx`` / ``item_idx``    ``userCol`` / ``itemCol`` (int32 positions;
                               external ids of any type are mapped here)
=============================  ==========================================

Modules: ``session`` (SparkSession defaults, ``--spark-conf``, checkpoint
directory), ``io`` (CSV/Parquet/dataset folders, duplicates),
``als`` (``SparkALS``, ``train_spark``), ``batch`` (``recommend_all_spark``).

References
----------
Zhou, Wilkinson, Schreiber, Pan. "Large-scale parallel collaborative filtering
for the Netflix Prize". AAIM 2008. doi:10.1007/978-3-540-68880-8_32
Koren. "Factor in the neighbors". ACM TKDD 4(1), 2010. doi:10.1145/1644873.1644874
"""

from __future__ import annotations

from typing import Any

from movierec.spark.session import (
    DEFAULT_CONF,
    LOCAL_CONF,
    ensure_checkpoint_dir,
    parse_conf,
    require_pyspark,
    spark_session,
)

_LAZY = {
    "SparkALS": "als",
    "SparkImplicitALS": "als",
    "spark_model": "als",
    "train_spark": "als",
    "recommend_all_spark": "batch",
    "read_ratings": "io",
}


def __getattr__(name: str) -> Any:
    """Load the pyspark-backed names on first use (raises BackendUnavailableError without PySpark)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_pyspark()
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "DEFAULT_CONF",
    "LOCAL_CONF",
    "SparkALS",
    "SparkImplicitALS",
    "ensure_checkpoint_dir",
    "parse_conf",
    "read_ratings",
    "recommend_all_spark",
    "require_pyspark",
    "spark_model",
    "spark_session",
    "train_spark",
]
