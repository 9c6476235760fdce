"""One local SparkSession (``local[2]``) for every Spark test of a run.

CI installs PySpark (``.ci/run`` installs the ``spark`` extra and sets
``MOVIEREC_REQUIRE_SPARK=1``), so there a missing PySpark is a failure; on a
developer machine without the extra the Spark tests are skipped with the
install command as the reason.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest

SPARK_MARKS = [
    pytest.mark.spark,
    # PySpark leaves closing its driver<->JVM result sockets to garbage collection
    # (pyspark/util.py, _load_from_socket: "closed when garbage-collected"), which
    # raises ResourceWarning on every collect; only that warning is ignored here.
    pytest.mark.filterwarnings(r"ignore:unclosed <socket\.socket:ResourceWarning"),
]
"""``pytestmark`` of every module that runs Spark."""

HAVE_PYSPARK = importlib.util.find_spec("pyspark") is not None

TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "2g",
}


def require_spark() -> None:
    if HAVE_PYSPARK:
        return
    if os.environ.get("MOVIEREC_REQUIRE_SPARK"):
        pytest.fail("PySpark is required here (MOVIEREC_REQUIRE_SPARK is set): pip install -e '.[spark]'")
    pytest.skip("PySpark not installed: pip install -e '.[spark]' (CI installs it and runs these tests)")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The local[2] session; every engine call in the tests finds it as the active session."""
    require_spark()
    from movierec.spark import spark_session

    session = spark_session("local[2]", TEST_CONF)
    yield session
    session.stop()
