"""EASE: an item-item model in closed form ("ease"; Steck 2019), the strongest simple ranking anchor.

With X the binary user × film matrix of training events, the item weights are

    P = (XᵀX + λ·I)⁻¹,    B = I − P · diag(1 / diag(P)),   i.e. B_ij = −P_ij / P_jj (j ≠ i), B_jj = 0

and a user with events x_u scores every film by x_u · B: what the films they watched say about each
other film, learned as a ridge regression of every item column on the others with a zero diagonal.
A new user is folded in by the same product (no solve at all). Ranking only: ``predict`` is μ.

Memory: n_items² float32 kept (1.6 GB for 20,000 films); the fit peaks at 12 bytes per pair of films
(one float64 n² array, inverted in place, then the float32 copy: 4.8 GB for 20,000). Films
are restricted to the ``max_items`` most rated (a ``DataValidationError`` naming the figure if even
those do not fit ``max_bytes``); films left out get no score, so they are never recommended.

References
----------
Steck. "Embarrassingly Shallow Autoencoders for Sparse Data". WWW 2019. doi:10.1145/3308558.3313710
Halko, Martinsson, Tropp. "Finding structure with randomness". SIAM Review 53(2), 2011. doi:10.1137/090771806
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from movierec.config import RankingPolicy, config_from_dict
from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError, FitError, ParameterError
from movierec.models.base import Recommender, UserState


@dataclass(frozen=True)
class EaseConfig:
    """Hyperparameters of EASE.

    Attributes
    ----------
    reg : float, default 500.0
        λ added to the diagonal of XᵀX (in events; larger for larger catalogues and denser data).
    max_items : int, default 20000
        Only the most rated films up to this many get item weights (the rest are never recommended).
    max_bytes : int, default 8_000_000_000
        Refuse to fit when the weight matrices would need more bytes than this, counted as 20 bytes
        per pair of films (the fit's peak is 12: the float64 Gram inverted in place and the float32
        B; the margin covers the Gram's per-thread counters, at most max(256 MB, 4 bytes per pair)).
    """

    reg: float = 500.0
    max_items: int = 20_000
    max_bytes: int = 8_000_000_000

    def __post_init__(self) -> None:
        if not self.reg > 0:
            raise ParameterError("reg", "> 0", self.reg)
        if isinstance(self.max_items, bool) or not isinstance(self.max_items, int) or self.max_items < 1:
            raise ParameterError("max_items", "an integer >= 1", self.max_items)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EaseConfig:
        return config_from_dict(cls, values)


class Ease(Recommender):
    """EASE ("ease"): scores x_u · B with B learned in closed form (module docstring).

    Attributes
    ----------
    item_weights_ : ndarray of shape (n_kept, n_kept), float32
        B over the kept films.
    kept_items_ : ndarray of shape (n_kept,), int64
        Item positions of the films B covers (the most rated).
    """

    name: ClassVar[str] = "ease"
    predicts_ratings: ClassVar[bool] = False
    array_names: ClassVar[tuple[str, ...]] = ("item_weights_", "kept_items_")

    def __init__(self, config: EaseConfig | None = None, policy: RankingPolicy | None = None) -> None:
        super().__init__(policy)
        self.config = config or EaseConfig()

    @classmethod
    def from_config(cls, config: dict[str, Any], policy: RankingPolicy | None = None) -> Ease:
        return cls(EaseConfig.from_dict(config), policy)

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        n_kept = min(self.n_items, cfg.max_items)
        need = 20 * n_kept * n_kept
        if need > cfg.max_bytes:
            raise DataValidationError(
                f"ease: {n_kept:,} films need about {need / 1e9:.1f} GB for the item weights, above max_bytes "
                f"{cfg.max_bytes / 1e9:.1f} GB; lower max_items (the most rated films are kept) or raise max_bytes"
            )
        order = np.lexsort((np.arange(self.n_items), -self.item_counts_))
        self.kept_items_ = np.sort(order[:n_kept]).astype(np.int64)
        gram = _gram(self.user_items_[:, self.kept_items_])  # a fresh slice: _gram only reads its pattern
        gram[np.diag_indices_from(gram)] += cfg.reg
        B = _spd_inverse(gram)  # P, in the Gram's memory: the fit holds one n² float64 array at a time
        B /= -np.diag(B)[None, :]  # B_ij = −P_ij / P_jj
        B[np.diag_indices_from(B)] = 0.0
        self.item_weights_ = B.astype(np.float32)

    @staticmethod
    def _binary(rated: sp.csr_matrix) -> sp.csr_matrix:
        x = rated.copy().astype(np.float32)
        x.data[:] = 1.0
        return x

    def _prepare(self) -> None:
        self._lookup = np.full(self.n_items, -1, dtype=np.int64)
        self._lookup[self.kept_items_] = np.arange(self.kept_items_.size)

    def score_block(self, states: UserState, target: str = "score") -> np.ndarray:
        """x_u · B for every film B covers; -inf (never recommended) for the films left out."""
        x = self._binary(states.rated)[:, self.kept_items_]
        out = np.full((states.n_block, self.n_items), -np.inf, dtype=np.float32)
        out[:, self.kept_items_] = np.asarray(x @ self.item_weights_, dtype=np.float32)
        empty = np.diff(states.rated.indptr) == 0  # nobody known: popularity, the prior of an item model
        out[empty] = np.log1p(self.item_counts_.astype(np.float32))[None, :]
        return out

    def low_rank(self, rank: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """B ≈ L · Rᵀ of rank ``rank``, by item position: x_u · B ≈ (x_u · L) · Rᵀ, a linear form.

        A randomized SVD (Halko, Martinsson, Tropp 2011, two power iterations) of B; rows of films
        B does not cover are 0. On ml-100k, rank 64 keeps the ranking quality of the full B
        (docs/decisions/0020-ease-in-the-default.md).

        Returns
        -------
        left, right : ndarray of shape (n_items, r), float32, r = min(rank, n_kept)
        """
        B = self.item_weights_.astype(np.float64)
        r = min(rank, B.shape[0])
        probe = np.random.default_rng(seed).standard_normal((B.shape[0], min(r + 10, B.shape[0])))
        q = np.linalg.qr(B @ probe)[0]
        for _ in range(2):
            q = np.linalg.qr(B @ np.linalg.qr(B.T @ q)[0])[0]
        u, s, vt = np.linalg.svd(q.T @ B, full_matrices=False)
        left = np.zeros((self.n_items, r), dtype=np.float32)
        right = np.zeros((self.n_items, r), dtype=np.float32)
        left[self.kept_items_] = (q @ u[:, :r]) * s[:r]
        right[self.kept_items_] = vt[:r].T
        return left, right


ACCUMULATOR_BYTES = 1 << 28
"""Budget of ``_gram``'s per-thread counters: fewer threads count when one n² int32 table is larger."""


def _gram(X: sp.csr_matrix) -> np.ndarray:
    """XᵀX of X's 0/1 pattern as float64 (its values are not read; ``kernels.cooccurrence``).

    Sorts X's indices in place.

    Σ_u n_u²/2 increments instead of n_users · n_cols² multiply-adds through single-threaded BLAS:
    at the 25M shape (a user rates 3.7% of the 2,000 kept films on average) 2.3 s against 15.8 s
    (decision 0025). Memory: the float64 result plus at most max(256 MB, one n² int32 table) of counters.
    """
    from movierec.kernels.cooccurrence import pair_counts
    from movierec.kernels.threads import kernel_threads

    X = X.tocsr()
    X.sum_duplicates()  # sorted, unique column indices per row
    n = X.shape[1]
    with kernel_threads() as n_threads:
        parts = max(1, min(n_threads, 8, ACCUMULATOR_BYTES // max(4 * n * n, 1)))
        return pair_counts(X.indptr.astype(np.int64), X.indices.astype(np.int32), n, parts)


def _spd_inverse(a: np.ndarray, block: int = 512) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix by Cholesky (LAPACK potrf + potri; half LU's work).

    Works in ``a``'s memory (overwritten): C-ordered and symmetric, ``a`` is handed to LAPACK as its
    Fortran-ordered transpose, and the upper triangle potri returns is mirrored by blocks of rows,
    so no second n² array is made. Returns a C-ordered view of ``a``.
    """
    factor, info = scipy.linalg.lapack.dpotrf(a.T, lower=False, overwrite_a=True)
    if info == 0:
        inverse, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:  # XᵀX + λI with λ > 0 is positive definite; a failure here is numerical
        raise FitError(f"ease: the Gram matrix plus λ is not positive definite (LAPACK info {info}); raise reg")
    out = inverse.T  # C-ordered; its lower triangle holds the result, the upper one potri's scratch
    n = out.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        out[start:stop, stop:] = out[stop:, start:stop].T  # right of the diagonal block, from below it
        d = out[start:stop, start:stop]
        d[...] = np.tril(d) + np.tril(d, -1).T
    return out


__all__ = ["Ease", "EaseConfig"]
