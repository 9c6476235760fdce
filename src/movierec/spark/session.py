"""SparkSession with movierec's defaults, ``--spark-conf`` parsing, checkpoint directory."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from movierec.errors import BackendUnavailableError, DataValidationError

try:  # the optional extra: `pip install 'movierec[spark]'`
    import pyspark
    from pyspark.sql import SparkSession

    _IMPORT_ERROR: ImportError | None = None
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    _IMPORT_ERROR = exc

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("movierec.spark")

DEFAULT_CONF: dict[str, str] = {
    "spark.app.name": "movierec",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
}
"""Applied to a new session unless the caller (``--spark-conf``) sets the key."""

LOCAL_CONF: dict[str, str] = {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "8"}
"""Further defaults for ``local[...]`` masters only; clusters keep their own
(executor memory and cores come from spark-submit or ``--spark-conf``)."""


def require_pyspark() -> None:
    """Raise ``BackendUnavailableError`` unless PySpark can be imported.

    Raises
    ------
    BackendUnavailableError
        If PySpark is not installed (it is the optional extra ``movierec[spark]``).
    """
    if _IMPORT_ERROR is not None:
        raise BackendUnavailableError(
            f"the Spark engine needs PySpark, which cannot be imported ({_IMPORT_ERROR}); "
            "install it with `pip install 'movierec[spark]'` (needs Java 17) or use --engine local"
        )


def spark_version() -> str:
    """The installed PySpark version."""
    require_pyspark()
    return pyspark.__version__


def parse_conf(pairs: Sequence[str] | None) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings (the CLI's ``--spark-conf``) into a dict.

    Raises
    ------
    DataValidationError
        If an item has no ``=`` or an empty key.
    """
    conf: dict[str, str] = {}
    for item in pairs or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataValidationError(f"--spark-conf {item!r}: expected KEY=VALUE, e.g. spark.executor.memory=8g")
        conf[key.strip()] = value.strip()
    return conf


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> SparkSession:
    """The active SparkSession (e.g. under spark-submit), or a new one with movierec's defaults.

    Parameters
    ----------
    master : str, optional
        Spark master URL: ``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://https://host:443``.
        Default: the active session's, else spark-submit's, else ``local[*]``.
    conf : dict of str to str, optional
        Spark settings, overriding ``DEFAULT_CONF`` and ``LOCAL_CONF``. Settings
        fixed at JVM start (memory) only take effect for a new session.

    Raises
    ------
    BackendUnavailableError
        If PySpark is missing or Spark cannot start (no Java, unreachable master).
    """
    require_pyspark()
    conf = dict(conf or {})
    active = SparkSession.getActiveSession()
    if active is not None and master in (None, active.sparkContext.master):
        for key, value in conf.items():
            if not key.startswith("spark.") or key.startswith("spark.sql."):
                active.conf.set(key, value)
        return active
    builder = SparkSession.builder
    # Under spark-submit the JVM is already up with the submitted master: keep it unless told otherwise.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    master = master or conf.pop("spark.master", None) or ("" if submitted else "local[*]")
    if master:
        builder = builder.master(master)
    defaults = {**DEFAULT_CONF, **(LOCAL_CONF if master.startswith("local") else {})}
    if "PYSPARK_PYTHON" not in os.environ and "spark.pyspark.python" not in conf and _on_this_host(master):
        # Python workers on this machine run this interpreter (which has movierec), not
        # whatever `python3` is first on PATH. PySpark reads only the environment here.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    for key, value in {**defaults, **conf}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j and JVM start-up errors share no base class
        where = master or "from spark-submit"
        raise BackendUnavailableError(f"cannot start Spark with master {where!r}: {exc}") from exc
    session.sparkContext.setLogLevel("WARN")
    return session


def _on_this_host(master: str) -> bool:
    return master.startswith("local") or any(h in master for h in ("127.0.0.1", "localhost"))


def is_single_host(spark: SparkSession) -> bool:
    """True when every executor runs on this machine (local mode or a master on 127.0.0.1)."""
    return _on_this_host(spark.sparkContext.master or "")


def ensure_checkpoint_dir(spark: SparkSession, path: str | None = None) -> str:
    """Make sure ALS checkpoints really happen; return the directory URI.

    Spark's ALS ``checkpointInterval`` is silently ignored when the SparkContext
    has no checkpoint directory, and long runs then die of StackOverflowError
    on lineage. The directory used, in order of preference: the caller's
    ``path``; the one already set on the context (``spark.checkpoint.dir``);
    for a single-host master a fresh folder under ``spark.local.dir`` (or the
    system temp folder), removed when the Python process exits; otherwise
    ``movierec-checkpoints/<uuid>`` on the cluster's default filesystem (the
    HDFS home directory on YARN), announced with a log warning.
    """
    sc = spark.sparkContext
    if path is None:
        current = sc.getCheckpointDir()
        if current:
            return current
        if is_single_host(spark):
            root = sc.getConf().get("spark.local.dir", tempfile.gettempdir()).split(",")[0]
            Path(root).mkdir(parents=True, exist_ok=True)
            path = tempfile.mkdtemp(prefix="movierec-ckpt-", dir=root)
            atexit.register(shutil.rmtree, path, True)
        else:
            path = f"movierec-checkpoints/{uuid.uuid4().hex}"
            log.warning("checkpointing ALS to %s on the cluster's default filesystem; "
                        "set --spark-conf spark.checkpoint.dir=URI to choose", path)  # fmt: skip
    sc.setCheckpointDir(path)
    return sc.getCheckpointDir() or path
