"""``spark_implicit_values``: the values fed to Spark's ``implicitPrefs`` reproduce our confidence/preference.

No Spark here: Spark's reading of a value v is written out from ALS.scala
(``computeFactors`` with ``implicitPrefs``): confidence 1 + alpha · |v|,
preference 1 if v > 0 else 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from movierec.models.implicit import ImplicitConfig, confidence, spark_implicit_values


def _as_spark_reads(values: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    return 1.0 + alpha * np.abs(values), (values > 0).astype(np.float32)


@pytest.mark.parametrize("negative_below", [None, 3.0, 2.5])
def test_spark_reads_the_local_confidence_and_preference(negative_below: float | None) -> None:
    cfg = ImplicitConfig(alpha=3.0, negative_below=negative_below)
    stars = np.arange(0.5, 5.01, 0.5, dtype=np.float32)  # every MovieLens half star, on one row
    row = sp.csr_matrix(stars[None, :])
    conf, pref = confidence(row, 5.0, cfg)
    spark_conf, spark_pref = _as_spark_reads(spark_implicit_values(stars, 5.0, negative_below), cfg.alpha)
    np.testing.assert_allclose(spark_conf, conf.data, rtol=1e-6)
    np.testing.assert_array_equal(spark_pref, pref.data)


def test_known_values() -> None:
    stars = np.array([4.0, 3.0, 1.0])
    # No threshold: v = r / 5 -> 0.8, 0.6, 0.2; all preference 1.
    np.testing.assert_allclose(spark_implicit_values(stars, 5.0, None), [0.8, 0.6, 0.2])
    # t = 3: 4 and 3 stay r / 5 (r >= t is positive); 1 -> -(3 - 1) / 5 = -0.4, so Spark's
    # confidence is 1 + 3 · 0.4 = 2.2 with preference 0, as ``confidence`` gives 1 + 3 · (3 - 1) / 5.
    v = spark_implicit_values(stars, 5.0, 3.0)
    np.testing.assert_allclose(v, [0.8, 0.6, -0.4])
    c, p = _as_spark_reads(v, 3.0)
    np.testing.assert_allclose(c, [3.4, 2.8, 2.2])
    np.testing.assert_array_equal(p, [1, 1, 0])


def test_where_is_the_only_select_used() -> None:
    """The Spark engine passes its own ``where`` (F.when); the mapping must go through it."""
    calls: list[int] = []

    def where(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        calls.append(1)
        return np.where(cond, a, b)

    spark_implicit_values(np.array([1.0, 5.0]), 5.0, None, where=where)
    assert calls == []
    np.testing.assert_allclose(spark_implicit_values(np.array([1.0, 5.0]), 5.0, 2.0, where=where), [-0.2, 1.0])
    assert calls == [1]
