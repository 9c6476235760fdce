"""Issue 4's RMSE target: the ALS variants tried besides "als-bayes" (kept to make their numbers reproducible).

Usage::

    MOVIEREC_DATA_HOME=../shared/data python -m benchmarks.als_variants

On ml-100k u1..u5 (raw GroupLens files, predictions clipped to 1-5, films absent
from u{k}.base scored μ + b_u, as in the harness):

* (a) MAP ALS with penalty λ·n^α on the factors (α = 1 is ALS-WR; the bias
  penalty keeps α = 1): α = 0.75, λ = 0.4 and α = 0.5, λ = 1.5, each λ the best
  of a small grid on an inner 80/20 split of u1.base (seed 0); default ALS for
  reference (64 factors, λ 0.12, λ_b 0.02, 10 sweeps).
* (b') Gibbs sampling with the fixed ALS-WR prior (no hyperpriors): after 10
  ALS-WR sweeps, 100 draws N(A⁻¹b, σ²A⁻¹) with σ the training residual RMS,
  predictions averaged after 10 (32 factors, λ 0.06 — the best of three on the
  inner split of u1.base).

The kernel below is a research copy of ``solve_half_step`` with a per-row penalty
and an optional draw; the product's sampler is ``movierec.kernels.gibbs``.
Raw JSON goes to ``benchmarks/results/als_variants.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from benchmarks.evaluation import machine, save, table
from movierec.data.load import resolve
from movierec.kernels.als import BLAS_MIN_ROW, PIECE, _blas_params, _cholesky_solve, _normal_blas, _normal_scalar


@njit(cache=True, parallel=True, fastmath=True)
def half(indptr, indices, values, of, ob, gm, reg_rows, breg_rows, noise, sigma, factors, bias):  # pragma: no cover
    """Rows' [b, x] = A⁻¹ b (+ σ L⁻ᵀ ε when ``noise`` has a row per row); A = ZᵀZ + diag(breg_r, reg_r, ...)."""
    n_rows = factors.shape[0]
    k = of.shape[1]
    d = k + 1
    draw = noise.shape[0] == n_rows
    for r in prange(n_rows):
        Z = np.empty((PIECE, d + 1), dtype=np.float32)
        t = np.empty(0, dtype=np.float32)
        A = np.zeros((d, d))
        b = np.zeros(d)
        L = np.zeros((d, d))
        G = np.empty((d + 1, d + 1), dtype=np.float32)
        par = _blas_params()
        s, e = indptr[r], indptr[r + 1]
        if k >= 8 and e - s >= BLAS_MIN_ROW:
            _normal_blas(indices, values, of, ob, s, e, gm, A, b, Z, t, G, par)
        elif e > s:
            _normal_scalar(indices, values, of, ob, s, e, gm, A, b)
        A[0, 0] += breg_rows[r]
        for a in range(1, d):
            A[a, a] += reg_rows[r]
        _cholesky_solve(A, b, L, d)
        if draw:
            w = noise[r].copy()
            for i in range(d - 1, -1, -1):
                acc = w[i]
                for p in range(i + 1, d):
                    acc -= L[p, i] * w[p]
                w[i] = acc / L[i, i]
            for a in range(d):
                b[a] += sigma * w[a]
        bias[r] = b[0]
        for a in range(k):
            factors[r, a] = b[a + 1]


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.loadtxt(path, dtype=np.int64, usecols=(0, 1, 2))
    return a[:, 0], a[:, 1], a[:, 2].astype(np.float32)


def run(train, test, k=64, reg=0.12, breg=0.02, alpha=1.0, n_iter=10, seed=42, samples=0, burn=0) -> float:
    """RMSE on ``test`` of MAP ALS with penalty reg·n^alpha, or of averaged Gibbs draws after it."""
    tu, ti, tr = train
    n_u, n_i = int(max(tu.max(), test[0].max())) + 1, int(max(ti.max(), test[1].max())) + 1
    ui = sp.csr_matrix((tr, (tu, ti)), shape=(n_u, n_i), dtype=np.float32)
    ui.sort_indices()
    iu = ui.T.tocsr()
    iu.sort_indices()
    gm = float(np.mean(tr, dtype=np.float64))
    nu, ni = np.diff(ui.indptr).astype(np.float64), np.diff(iu.indptr).astype(np.float64)
    rng = np.random.default_rng(seed)
    P, bu = np.zeros((n_u, k), np.float32), np.zeros(n_u, np.float32)
    Q, bi = (rng.standard_normal((n_i, k)) * 0.1 / np.sqrt(k)).astype(np.float32), np.zeros(n_i, np.float32)
    cu = (ui.indptr.astype(np.int64), ui.indices.astype(np.int32), ui.data)
    ci = (iu.indptr.astype(np.int64), iu.indices.astype(np.int32), iu.data)
    none = np.zeros((0, k + 1))
    su, si, sr = test
    known = ni[si] > 0

    def predict(u, i, kn):
        return gm + bu[u] + np.where(kn, bi[i] + np.einsum("ij,ij->i", P[u], Q[i]), 0.0)

    def sweep(noise_u, noise_i, sigma):
        half(*cu, Q, bi, gm, reg * nu**alpha, breg * nu, noise_u, sigma, P, bu)
        half(*ci, P, bu, gm, reg * ni**alpha, breg * ni, noise_i, sigma, Q, bi)

    for _ in range(n_iter):
        sweep(none, none, 0.0)
    if not samples:
        return float(np.sqrt(np.mean((np.clip(predict(su, si, known), 1, 5) - sr) ** 2)))
    acc, n = np.zeros(sr.size), 0
    for s in range(samples):
        sigma = float(np.sqrt(np.mean((tr - predict(tu, ti, np.ones(tr.size, bool))) ** 2)))
        sweep(rng.standard_normal((n_u, k + 1)), rng.standard_normal((n_i, k + 1)), sigma)
        if s >= burn:
            acc += predict(su, si, known)
            n += 1
    return float(np.sqrt(np.mean((np.clip(acc / n, 1, 5) - sr) ** 2)))


VARIANTS: dict[str, dict[str, Any]] = {
    "ALS-WR default (α = 1, λ 0.12)": {},
    "(a) λ·n^0.75, λ 0.4": {"alpha": 0.75, "reg": 0.4},
    "(a) λ·n^0.5, λ 1.5": {"alpha": 0.5, "reg": 1.5},
    "(b') Gibbs, fixed ALS-WR prior, 32 factors, λ 0.06": {"k": 32, "reg": 0.06, "samples": 100, "burn": 10},
}


def main() -> None:
    root = resolve("ml-100k")
    root = root if root.is_dir() else root.parent
    folds = [(load(root / f"u{f}.base"), load(root / f"u{f}.test")) for f in range(1, 6)]
    rows = []
    t0 = time.perf_counter()
    for name, kw in VARIANTS.items():
        r = [run(tr, te, **kw) for tr, te in folds]
        per_fold = {f"u{f + 1}": v for f, v in enumerate(r)}
        rows.append({"variant": name, **per_fold, "mean": float(np.mean(r)), "params": kw})
        print(f"{name}: {np.round(r, 4).tolist()} mean {np.mean(r):.4f}", flush=True)
    print("\n" + table(rows, ["variant", "u1", "u2", "u3", "u4", "u5", "mean"]))
    path = save("als_variants", {"machine": machine(), "rows": rows, "seconds": time.perf_counter() - t0})
    print(f"raw JSON: {path}")


if __name__ == "__main__":
    main()
