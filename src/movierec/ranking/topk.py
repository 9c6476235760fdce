"""The one top-k of movierec: candidates, exclusions and the tie rule, for a block of users at a time.

Every list — ``recommend`` for one user, ``recommend-all``, ``evaluate``'s ranking loop, the service
and Spark executors — is selected by ``rank_block``:

* candidates are the *eligible* films (the popularity guard, a genre, an exclusion list: one mask
  for the block) minus each user's rated films (a CSR row per user);
* order: higher score first; among equal scores, higher ``tie`` key first (the serving rule passes
  each film's training rating count), then smaller item position (= smaller external id); films a
  user's ``demote`` row lists lose every tie (the evaluation's pessimistic rule: a held-out film
  never profits from a tie); non-finite scores are never chosen;
* a user with fewer than k candidates gets a shorter list (padded with -1 / -inf in the arrays).

Two kernels implement the rule, chosen by the form of the scores, not by the model: a block given
as a ``LinearScores`` form is scored and selected in one pass (``_linear_top_k``: the eligible films'
vectors a chunk at a time through single-threaded ``sgemm``, each tile kept in L2, never a block ×
films matrix); a dense (n_block, n_items) block goes through ``_dense_top_k``. Both keep a k-slot
sorted list per user (``insert_best``). ``reference_top_k`` is the same rule in NumPy: the tests'
oracle, and the route for lists longer than ``KERNEL_MAX_K``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from movierec.kernels import sgemm_abt
from movierec.kernels.threads import kernel_threads
from movierec.models.base import LinearScores

KERNEL_MAX_K = 512
"""Longest list the kernels keep (O(n·k) insertions); longer ones use ``reference_top_k`` (O(n log n))."""
USER_TILE = 128
"""Most users per thread task of ``_linear_top_k`` (fewer when a block has too few for every thread)."""
ITEM_CHUNK = 1024
"""Films scored per ``sgemm`` call: a tile's scores (USER_TILE × ITEM_CHUNK float32, 512 KB) stay in L2."""
DEMOTED = np.int64(1) << np.int64(62)
"""Subtracted from the tie key of a demoted film: below any count."""


@dataclass(frozen=True)
class Eligible:
    """The films a block may be recommended, with what the kernels need of them.

    Attributes
    ----------
    positions : ndarray of shape (n_eligible,), int64, ascending item positions
    lookup : ndarray of shape (n_items,), int64: the index of a position in ``positions``, or -1
    tie : ndarray of shape (n_eligible,), int64: the tie key of each eligible film
    """

    positions: np.ndarray
    lookup: np.ndarray
    tie: np.ndarray

    @staticmethod
    def from_mask(mask: np.ndarray, tie: np.ndarray) -> Eligible:
        """From a boolean mask over items and every item's tie key (int64)."""
        positions = np.flatnonzero(mask).astype(np.int64)
        lookup = np.full(mask.shape[0], -1, dtype=np.int64)
        lookup[positions] = np.arange(positions.size)
        return Eligible(positions, lookup, np.ascontiguousarray(np.asarray(tie, dtype=np.int64)[positions]))


def rank_block(
    scores: LinearScores | np.ndarray,
    eligible: Eligible,
    rated: sp.csr_matrix,
    k: int,
    demote: sp.csr_matrix | None = None,
    item_vectors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of every user of a block under the rule of the module docstring.

    Parameters
    ----------
    scores : LinearScores, or ndarray of shape (n_block, n_items) float32
    eligible : Eligible
    rated : csr_matrix of shape (n_block, n_items)
        Each user's rated films (excluded), sorted indices.
    k : int, >= 0
    demote : csr_matrix of shape (n_block, n_items), optional
        Films that lose every tie for that user (evaluation only), sorted indices.
    item_vectors : ndarray of shape (n_eligible, d), float32, optional
        ``scores.item_vectors[eligible.positions]`` when the caller keeps it (``RankingIndex``).

    Returns
    -------
    item_idx : ndarray of shape (n_block, k), int64 (-1 pads a short list)
    score : ndarray of shape (n_block, k), float32 (-inf pads)
    """
    n_block = scores.user_vectors.shape[0] if isinstance(scores, LinearScores) else scores.shape[0]
    out_idx = np.full((n_block, max(k, 0)), -1, dtype=np.int64)
    out_score = np.full((n_block, max(k, 0)), -np.inf, dtype=np.float32)
    if k <= 0 or n_block == 0 or eligible.positions.size == 0:
        return out_idx, out_score
    if k > KERNEL_MAX_K:
        dense = scores.dense() if isinstance(scores, LinearScores) else scores
        return reference_top_k(dense, eligible, rated, k, demote)
    r_ptr, r_idx = _sorted_rows(rated)
    d_ptr, d_idx = _sorted_rows(demote) if demote is not None else (np.zeros(n_block + 1, np.int64), np.zeros(0, np.int32))
    with kernel_threads(n_block) as n_threads:
        if isinstance(scores, LinearScores):
            V = item_vectors if item_vectors is not None else np.ascontiguousarray(scores.item_vectors[eligible.positions])
            base = np.ascontiguousarray(scores.item_offset[eligible.positions])
            P, uo = scores.user_vectors, scores.user_offset
            _linear_top_k(P, V, base, uo, eligible.positions, eligible.tie, eligible.lookup,
                          r_ptr, r_idx, d_ptr, d_idx, k, out_idx, out_score, n_threads)  # fmt: skip
            _rescore(P, V, base, uo, eligible.tie, eligible.lookup, d_ptr, d_idx, out_idx, out_score)
        else:
            dense = np.ascontiguousarray(scores, dtype=np.float32)
            _dense_top_k(dense, eligible.positions, eligible.tie, eligible.lookup, r_ptr, r_idx, d_ptr, d_idx, k, out_idx, out_score)
    return out_idx, out_score


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int, n_ratings: np.ndarray) -> np.ndarray:
    """Positions of the k best candidates of one score row, best first (``rank_block`` on a block of one).

    Parameters
    ----------
    scores : ndarray of shape (n_items,), float
    candidates : ndarray of shape (n_items,), bool
    k : int
    n_ratings : ndarray of shape (n_items,), int — the tie key

    Returns
    -------
    ndarray of shape (m,), int64, m = min(k, number of finite candidates)
    """
    n = scores.shape[0]
    rated = sp.csr_matrix((1, n), dtype=np.float32)
    idx, _ = rank_block(np.asarray(scores, dtype=np.float32)[None, :], Eligible.from_mask(candidates, n_ratings), rated, k)
    return idx[0][idx[0] >= 0]


def reference_top_k(
    dense: np.ndarray, eligible: Eligible, rated: sp.csr_matrix, k: int, demote: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``rank_block``'s rule in NumPy (lexsort per user): the oracle of the kernels."""
    n_block, n_items = dense.shape
    out_idx = np.full((n_block, k), -1, dtype=np.int64)
    out_score = np.full((n_block, k), -np.inf, dtype=np.float32)
    tie_all = np.zeros(n_items, dtype=np.int64)
    tie_all[eligible.positions] = eligible.tie
    for row in range(n_block):
        allowed = np.zeros(n_items, dtype=bool)
        allowed[eligible.positions] = True
        allowed[rated.indices[rated.indptr[row] : rated.indptr[row + 1]]] = False
        s = dense[row].astype(np.float32)
        cand = np.flatnonzero(allowed & np.isfinite(s))
        tie = tie_all[cand].copy()
        if demote is not None:
            dem = np.zeros(n_items, dtype=bool)
            dem[demote.indices[demote.indptr[row] : demote.indptr[row + 1]]] = True
            tie[dem[cand]] -= DEMOTED
        order = np.lexsort((cand, -tie, -s[cand].astype(np.float64)))[:k]
        out_idx[row, : order.size] = cand[order]
        out_score[row, : order.size] = s[cand[order]]
    return out_idx, out_score


def _sorted_rows(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(indptr int64, indices int32) of a CSR matrix whose rows are ascending (sorted if they are not)."""
    indptr, indices = m.indptr.astype(np.int64), m.indices
    if not _rows_ascending(indptr, indices):
        m = m.copy()
        m.has_sorted_indices = False  # the flag is SciPy's memory, not a check
        m.sort_indices()
        indices = m.indices
    return indptr, indices.astype(np.int32, copy=False)


@njit(cache=True)
def _rows_ascending(indptr, indices):  # pragma: no cover - numba
    """Whether every CSR row's indices are in ascending order (repeats allowed)."""
    for r in range(indptr.size - 1):
        for p in range(indptr[r] + 1, indptr[r + 1]):
            if indices[p] < indices[p - 1]:
                return False
    return True


@njit(cache=True, inline="always")
def insert_best(hs, hc, hi, m, k, s, cnt, i):  # pragma: no cover - numba
    """Insert candidate (score s, tie key cnt, position i) into a best-first list of length m <= k.

    ``hs``, ``hc``, ``hi`` hold the list's scores, tie keys and positions; the order is score
    descending, then tie key descending, then position ascending. Returns the new length. One pass
    over n candidates costs O(n) comparisons plus O(k) per insertion.
    """
    if m == k:
        w = k - 1
        if s < hs[w] or (s == hs[w] and (cnt < hc[w] or (cnt == hc[w] and i > hi[w]))):
            return m
        pos = w
    else:
        pos = m
        m += 1
    while pos > 0:
        q = pos - 1
        if s > hs[q] or (s == hs[q] and (cnt > hc[q] or (cnt == hc[q] and i < hi[q]))):
            hs[pos] = hs[q]
            hc[pos] = hc[q]
            hi[pos] = hi[q]
            pos = q
        else:
            break
    hs[pos] = s
    hc[pos] = cnt
    hi[pos] = i
    return m


@njit(cache=True, inline="always")
def _skip_to(ptr, end, indices, lookup, c):  # pragma: no cover - numba
    """Advance a pointer over a user's ascending item positions to the first whose eligible index is >= c."""
    while ptr < end and lookup[indices[ptr]] < c:
        ptr += 1
    return ptr


@njit(cache=True, parallel=True)
def _dense_top_k(S, positions, tie, lookup, r_ptr, r_idx, d_ptr, d_idx, k, out_idx, out_score):  # pragma: no cover - numba
    """``rank_block`` for a dense (n_block, n_items) score block, parallel over users."""
    for u in prange(S.shape[0]):
        hc = np.empty(k, dtype=np.int64)
        hs, hi = out_score[u], out_idx[u]
        m = 0
        worst = -np.inf
        rp, re = r_ptr[u], r_ptr[u + 1]
        dp, de = d_ptr[u], d_ptr[u + 1]
        for c in range(positions.size):
            rp = _skip_to(rp, re, r_idx, lookup, c)
            if rp < re and lookup[r_idx[rp]] == c:
                continue
            s = S[u, positions[c]]
            if s < worst or not (s > -np.inf and s < np.inf):
                continue
            t = tie[c]
            dp = _skip_to(dp, de, d_idx, lookup, c)
            if dp < de and lookup[d_idx[dp]] == c:
                t -= DEMOTED
            m = insert_best(hs, hc, hi, m, k, s, t, positions[c])
            if m == k:
                worst = hs[k - 1]


@njit(cache=True, parallel=True)
def _linear_top_k(P, V, base, user_offset, positions, tie, lookup, r_ptr, r_idx, d_ptr, d_idx, k, out_idx, out_score, n_threads):  # pragma: no cover - numba  # fmt: skip
    """``rank_block`` for a linear form: score each tile of users against the eligible films and select, in one pass.

    Parallel over tiles of 1 to ``USER_TILE`` users (fewer than USER_TILE when the block has too few
    for ``n_threads`` tiles); per tile, ``ITEM_CHUNK`` eligible films at a time are scored by one
    single-threaded ``sgemm`` (``P[tile] @ V[chunk].T``) and swept into each user's list as
    s = dot + (base[c] + user_offset[u]), the order of ``LinearScores.dense``. BLAS sums a row in an
    order that depends on the tile's size and the row's place in it (OpenBLAS picks other kernels),
    so these scores choose the list and ``_rescore`` then gives its scores and order.
    """
    n_block = P.shape[0]
    n_cand = V.shape[0]
    rows = min(USER_TILE, max(1, -(-n_block // n_threads)))  # every thread gets a tile
    n_tiles = -(-n_block // rows)
    for tile in prange(n_tiles):
        u0 = tile * rows
        u1 = min(u0 + rows, n_block)
        S = np.empty((USER_TILE, ITEM_CHUNK), dtype=np.float32)
        hc = np.empty((USER_TILE, k), dtype=np.int64)
        m = np.zeros(USER_TILE, dtype=np.int64)
        rated = r_ptr[u0:u1].copy()  # each user's next rated film not yet passed
        demoted = d_ptr[u0:u1].copy()
        for c0 in range(0, n_cand, ITEM_CHUNK):
            w = min(ITEM_CHUNK, n_cand - c0)
            sgemm_abt(P[u0:u1], V[c0 : c0 + w], S)
            for u in range(u0, u1):
                row = S[u - u0]
                rp, re = rated[u - u0], r_ptr[u + 1]
                while rp < re:  # rated films of this chunk: never chosen
                    c = lookup[r_idx[rp]]
                    if c >= c0 + w:
                        break
                    if c >= c0:
                        row[c - c0] = -np.inf
                    rp += 1
                rated[u - u0] = rp
                dp, de = demoted[u - u0], d_ptr[u + 1]
                uo = user_offset[u]
                hs, hi, hcu = out_score[u], out_idx[u], hc[u - u0]
                n_best = m[u - u0]
                worst = hs[k - 1] if n_best == k else -np.inf  # a score below a full list's last cannot enter
                for j in range(w):
                    s = row[j] + (base[c0 + j] + uo)
                    if s < worst or not (s > -np.inf and s < np.inf):
                        continue
                    t = tie[c0 + j]
                    dp = _skip_to(dp, de, d_idx, lookup, c0 + j)
                    if dp < de and lookup[d_idx[dp]] == c0 + j:
                        t -= DEMOTED
                    n_best = insert_best(hs, hcu, hi, n_best, k, s, t, positions[c0 + j])
                    if n_best == k:
                        worst = hs[k - 1]
                m[u - u0] = n_best
                dp = _skip_to(dp, de, d_idx, lookup, c0 + w)
                demoted[u - u0] = dp


@njit(cache=True)
def _rescore(P, V, base, user_offset, tie, lookup, d_ptr, d_idx, out_idx, out_score):  # pragma: no cover - numba
    """Score each chosen film again by a sum in one fixed order (float64, rounded once) and re-sort the list.

    A user's list and scores then do not depend on the block or tile the user was ranked in (a block
    of one, a batch, an executor's partition), however BLAS summed the tile. A film can only change
    places with one within a rounding step of it.
    """
    n_block, k = out_idx.shape
    d = P.shape[1]
    hs = np.empty(k, dtype=np.float32)
    hc = np.empty(k, dtype=np.int64)
    hi = np.empty(k, dtype=np.int64)
    for u in range(n_block):
        m = 0
        for j in range(k):
            i = out_idx[u, j]
            if i < 0:
                break
            c = lookup[i]
            acc = 0.0
            for f in range(d):
                acc += np.float64(P[u, f]) * np.float64(V[c, f])
            s = np.float32(acc) + (base[c] + user_offset[u])
            t = tie[c]
            for q in range(d_ptr[u], d_ptr[u + 1]):
                if d_idx[q] == i:
                    t -= DEMOTED
                    break
            m = insert_best(hs, hc, hi, m, k, s, t, i)
        out_idx[u, :m] = hi[:m]
        out_score[u, :m] = hs[:m]


__all__ = ["Eligible", "KERNEL_MAX_K", "insert_best", "rank_block", "reference_top_k", "top_k"]
