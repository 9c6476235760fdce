"""SVD++'s implicit-feedback factors as a Gibbs block: |N(r)|^(-1/2) Σ_{j∈N(r)} y_j for each row r.

Used by ``movierec.models.bayes_time`` for the users' term (y_j over the films in N(u)) and the
"flipped" films' term (x_u over the users in M(i)).

References
----------
Koren. "Factorization meets the neighborhood". KDD 2008. doi:10.1145/1401890.1401944
Rendle, Zhang, Koren. "On the difficulty of evaluating baselines". arXiv:1905.01395, 2019
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from movierec.kernels import implicit_gibbs_step
from movierec.models.bayes import sample_prior

F32 = np.float32


class ImplicitBlock:
    """The implicit factors of one side and their Gibbs step: y_j for users (SVD++), x_u for films (flipped).

    ``owner`` rows sum ``factors`` of their implicit set: z_r = |N(r)|^(-1/2) Σ_{j∈N(r)} y_j; ``rated``
    is the 0/1 pattern of the ratings with the same rows, whose partner factors give each row's Gram
    matrix and cross term (``kernels.implicit_gibbs_step``).

    Parameters
    ----------
    owner : scipy.sparse.csr_matrix of shape (n_rows, n_implicit) — the implicit sets N(r), any values
    rated : scipy.sparse.csr_matrix of shape (n_rows, n_partners), float64 ones — the rating pattern
    k : int — n_factors, or 0 for no term
    init_scale : float — the start's standard deviation times √k (libFM-like small random start: from
        zero the first draw of the prior precision is ~n/2 and pins the factors near 0)
    rng : numpy.random.Generator
    """

    def __init__(
        self, owner: sp.csr_matrix, rated: sp.csr_matrix, k: int, init_scale: float, rng: np.random.Generator
    ) -> None:
        self.k = k
        self.owner = sp.csr_matrix((np.ones(owner.nnz), owner.indices, owner.indptr), shape=owner.shape)
        by_implicit = self.owner.T.tocsr()
        by_implicit.sort_indices()
        self.ptr, self.idx = by_implicit.indptr.astype(np.int64), by_implicit.indices.astype(np.int32)
        count = np.diff(self.owner.indptr)
        self.scale = np.where(count > 0, 1.0 / np.sqrt(np.maximum(count, 1)), 0.0)
        self.rated = rated
        self.factors = (rng.standard_normal((owner.shape[1], k)) * (init_scale / np.sqrt(max(k, 1)))).astype(F32)
        self.sums = self._sums()

    def _sums(self) -> np.ndarray:
        return (self.owner @ self.factors.astype(np.float64)) * self.scale[:, None]

    def effect(self, k: int) -> np.ndarray:
        """z of every row, shape (n_rows, k), float32 (zeros without the term)."""
        return self.sums.astype(F32) if self.k else np.zeros((self.owner.shape[0], k), F32)

    def draw(
        self,
        target: np.ndarray,
        partner: np.ndarray,
        tau: float,
        sigma: float,
        rng: np.random.Generator,
        args: dict[str, float],
    ) -> None:
        """Draw the prior, then every factor row in turn.

        ``target`` (in ``rated``'s order) is the rating minus every term of r̂ but z · partner.
        """
        k = self.k
        partner = partner.astype(np.float64)
        cross = sp.csr_matrix((target, self.rated.indices, self.rated.indptr), shape=self.rated.shape) @ partner
        outer = np.einsum("ia,ib->iab", partner, partner).reshape(partner.shape[0], k * k)
        gram = np.ascontiguousarray((self.rated @ outer).reshape(-1, k, k))
        lam, m = sample_prior(rng, self.factors, **args)
        self.sums = self._sums()  # recomputed each sweep: no drift of the running sums
        noise = rng.standard_normal(self.factors.shape)
        f, z = self.factors, self.sums
        implicit_gibbs_step(self.ptr, self.idx, self.scale, gram, cross, lam / tau, m, noise, sigma, f, z)
