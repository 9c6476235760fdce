"""Cache-line aligned factor matrices (kernels.aligned)."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.kernels.aligned import CACHE_LINE, aligned_copy, aligned_empty, aligned_zeros


@pytest.mark.parametrize("shape", [(0, 64), (1, 1), (7, 64), (1000, 33), (5,)])
def test_arrays_start_on_a_cache_line_and_hold_their_values(shape: tuple[int, ...]) -> None:
    a = np.random.default_rng(0).standard_normal(shape)
    for out in (aligned_empty(shape), aligned_zeros(shape), aligned_copy(a, np.float32)):
        assert out.shape == shape and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"] and out.flags["WRITEABLE"]
        assert out.size == 0 or out.ctypes.data % CACHE_LINE == 0  # an empty array has no first element
    assert (aligned_zeros(shape) == 0).all()
    np.testing.assert_array_equal(aligned_copy(a, np.float32), a.astype(np.float32))
    assert aligned_copy(a).dtype == np.float64


def test_fitted_factor_matrices_are_aligned(seed: int) -> None:
    from movierec import ALS, ALSConfig
    from movierec.models.implicit import ImplicitALS
    from movierec.models.temporal import TemporalALS
    from tests.conftest import small_dataset

    rng = np.random.default_rng(seed)
    rows = [(int(u), int(i), float(rng.integers(1, 11)) / 2, 1_000_000 + 86400 * int(u * i % 50))
            for u in range(1, 31) for i in range(1, 41) if rng.random() < 0.4]  # fmt: skip
    data = small_dataset(rows)
    for model in (ALS(ALSConfig(n_factors=16, n_iter=1)), TemporalALS(), ImplicitALS()):
        model.fit(data)
        assert model.user_factors_.ctypes.data % CACHE_LINE == 0
        assert model.item_factors_.ctypes.data % CACHE_LINE == 0
