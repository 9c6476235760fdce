"""Private compute kernels of the models: Numba loops over rows, behind one dispatcher.

Models call the functions below, never a kernel module directly. Two routes, chosen per call by
``MOVIEREC_KERNEL`` (read at call time; nothing is probed at import):

* ``fast`` (default): the Numba kernels of ``als``, ``implicit``, ``gibbs`` and ``temporal``, parallel
  over rows on the threads of ``threads`` (BLAS single-threaded inside), with the machine-specific
  parts in the removable ``_fast`` package; ``svdpp``'s implicit-factor step, sequential by nature;
* ``reference``: ``reference``, plain NumPy solves row by row; the oracle of the tests.

Both solve the same systems; results agree to float32 rounding (``tests/kernels``).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

from movierec.errors import DataValidationError

try:  # BLAS sgemm on the calling thread; plain loops when kernels/_fast is removed
    from movierec.kernels._fast import sgemm_abt
except ImportError:  # pragma: no cover - only without kernels/_fast
    from movierec.kernels.portable import sgemm_abt

ENV_VAR = "MOVIEREC_KERNEL"
ROUTES = ("fast", "reference")


def route() -> str:
    """The kernel route in force: ``$MOVIEREC_KERNEL``, default ``"fast"``.

    Raises
    ------
    DataValidationError
        If the variable names another route.
    """
    value = os.environ.get(ENV_VAR, "").strip() or "fast"
    if value not in ROUTES:
        raise DataValidationError(f"{ENV_VAR} must be one of {', '.join(ROUTES)}; got {value!r}")
    return value


def csr_arrays(rows: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr int64, indices int32, data float32) of a CSR matrix, copied only where the dtype differs."""
    return (
        rows.indptr.astype(np.int64, copy=False),
        rows.indices.astype(np.int32, copy=False),
        rows.data.astype(np.float32, copy=False),
    )


def ridge_half_step(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, other_factors: np.ndarray, other_bias: np.ndarray,
    offset: np.ndarray, global_mean: float, reg: float, bias_reg: float, factors: np.ndarray, bias: np.ndarray,
    cg_steps: int = 0,
) -> None:  # fmt: skip
    """One explicit ALS half-step (``als.solve_half_step``; arguments documented there)."""
    args = (indptr, indices, values, other_factors, other_bias, offset, global_mean, reg, bias_reg, factors, bias,
            cg_steps)  # fmt: skip
    if route() == "reference":
        from movierec.kernels.reference import ridge_half_step as reference

        reference(*args)
        return
    from movierec.kernels.als import solve_half_step
    from movierec.kernels.threads import kernel_threads

    with kernel_threads(factors.shape[0]):
        solve_half_step(*args)


def implicit_half_step(
    indptr: np.ndarray, indices: np.ndarray, confidence: np.ndarray, preference: np.ndarray,
    other_factors: np.ndarray, gram: np.ndarray, reg: float, factors: np.ndarray, cg_steps: int = 0,
) -> None:  # fmt: skip
    """One implicit-feedback ALS half-step (``implicit.solve_implicit_half_step``; arguments documented there)."""
    if route() == "reference":
        from movierec.kernels.reference import implicit_half_step as reference

        reference(indptr, indices, confidence, preference, other_factors, gram, reg, factors, cg_steps)
        return
    from movierec.kernels.implicit import solve_implicit_half_step
    from movierec.kernels.threads import kernel_threads

    with kernel_threads(factors.shape[0]):
        solve_implicit_half_step(indptr, indices, confidence, preference, other_factors, gram, reg, factors, cg_steps)


def gibbs_half_step(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, other_factors: np.ndarray, other_bias: np.ndarray,
    global_mean: float, prior_weight: np.ndarray, prior_mean: np.ndarray, noise: np.ndarray, sigma: float,
    factors: np.ndarray, bias: np.ndarray,
) -> None:  # fmt: skip
    """One Gibbs half-step of Bayesian MF (``gibbs.gibbs_half_step``; arguments documented there)."""
    args = (
        indptr,
        indices,
        values,
        other_factors,
        other_bias,
        global_mean,
        prior_weight,
        prior_mean,
        noise,
        sigma,
        factors,
        bias,
    )
    if route() == "reference":
        from movierec.kernels.reference import gibbs_half_step as reference

        reference(*args)
        return
    from movierec.kernels.gibbs import gibbs_half_step as fast
    from movierec.kernels.threads import kernel_threads

    with kernel_threads(factors.shape[0]):
        fast(*args)


def implicit_gibbs_step(
    indptr: np.ndarray, indices: np.ndarray, row_scale: np.ndarray, gram: np.ndarray, cross: np.ndarray,
    prior_weight: np.ndarray, prior_mean: np.ndarray, noise: np.ndarray, sigma: float, factors: np.ndarray,
    sums: np.ndarray,
) -> None:  # fmt: skip
    """The Gibbs step of SVD++'s implicit factors (``svdpp.implicit_gibbs_step``; arguments documented there)."""
    args = (indptr, indices, row_scale, gram, cross, prior_weight, prior_mean, noise, sigma, factors, sums)
    if route() == "reference":
        from movierec.kernels.reference import implicit_gibbs_step as reference

        reference(*args)
        return
    from movierec.kernels.svdpp import implicit_gibbs_step as fast

    fast(*args)  # sequential: each row's draw changes the sums the next row reads


def scaled_bias_half_step(
    indptr: np.ndarray, indices: np.ndarray, targets: np.ndarray, coef: np.ndarray, other_factors: np.ndarray,
    reg: float, bias_reg: float, factors: np.ndarray, bias: np.ndarray,
) -> None:  # fmt: skip
    """The item half-step with per-user bias scales (``temporal.scaled_bias_half_step``; documented there)."""
    args = (indptr, indices, targets, coef, other_factors, reg, bias_reg, factors, bias)
    if route() == "reference":
        from movierec.kernels.reference import scaled_bias_half_step as reference

        reference(*args)
        return
    from movierec.kernels.temporal import scaled_bias_half_step as fast
    from movierec.kernels.threads import kernel_threads

    with kernel_threads(factors.shape[0]):
        fast(*args)


__all__ = [
    "ENV_VAR",
    "ROUTES",
    "csr_arrays",
    "gibbs_half_step",
    "implicit_gibbs_step",
    "implicit_half_step",
    "ridge_half_step",
    "route",
    "scaled_bias_half_step",
    "sgemm_abt",
]
