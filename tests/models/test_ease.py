"""EASE (Steck 2019): the closed form, fold-in as the same product, the catalogue cap, the memory refusal."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from movierec import recommend
from movierec.config import RankingPolicy
from movierec.data import synthetic_dataset
from movierec.errors import DataValidationError
from movierec.models import Ease, EaseConfig


def test_weights_solve_the_constrained_ridge_problem(seed: int) -> None:
    ds = synthetic_dataset(1500, n_users=60, n_items=25, seed=seed)
    model = Ease(EaseConfig(reg=7.0)).fit(ds)
    X = (model.user_items_.toarray() > 0).astype(np.float64)
    B = model.item_weights_.astype(np.float64)
    assert np.allclose(np.diag(B), 0.0)
    # Column j of B minimises ‖X_j − X b‖² + λ‖b‖² with b_j = 0: the ridge solution over the other columns.
    for j in (0, 7, 24):
        others = [c for c in range(25) if c != j]
        A = X[:, others]
        b = np.linalg.solve(A.T @ A + 7.0 * np.eye(24), A.T @ X[:, j])
        np.testing.assert_allclose(B[others, j], b, atol=2e-5)


def test_fold_in_is_the_same_product_and_lists_exclude_rated(seed: int) -> None:
    ds = synthetic_dataset(1500, n_users=60, n_items=25, seed=seed)
    model = Ease(EaseConfig(reg=5.0), RankingPolicy(min_ratings=0)).fit(ds)
    user = ds.users.ids[3]
    rated, values = model.user_state(user).rated_items(0)
    folded = model.fold_in(model.items_.to_ids(rated), values)
    np.testing.assert_array_equal(model.score_block(folded), model.score_block(model.user_state(user)))
    recs = recommend(model, user, k=30)
    assert not set(model.items_.to_ids(rated)) & {r.movie_id for r in recs}
    cold = recommend(model, None, k=3)  # nobody known: the most rated films
    assert [r.n_ratings for r in cold] == sorted(model.item_counts_.tolist(), reverse=True)[:3]


def test_only_the_most_rated_films_get_weights_and_memory_is_refused_up_front(seed: int) -> None:
    ds = synthetic_dataset(1500, n_users=60, n_items=25, seed=seed)
    model = Ease(EaseConfig(reg=5.0, max_items=10), RankingPolicy(min_ratings=0)).fit(ds)
    assert model.item_weights_.shape == (10, 10)
    top = set(np.argsort(-model.item_counts_, kind="stable")[:10].tolist())
    assert set(model.kept_items_.tolist()) == top
    listed = {model.items_.index(r.movie_id) for r in recommend(model, ds.users.ids[0], k=25)}
    assert listed <= top  # the others have no score: never recommended
    with pytest.raises(DataValidationError, match=r"25 films need about 0\.0 GB.*lower max_items"):
        Ease(EaseConfig(max_bytes=100)).fit(ds)


def test_low_rank_factors_reproduce_the_weights_at_full_rank_and_approximate_them_below(seed: int) -> None:
    ds = synthetic_dataset(3000, n_users=80, n_items=40, seed=seed)
    model = Ease(EaseConfig(reg=5.0, max_items=30)).fit(ds)
    B = np.zeros((40, 40))
    B[np.ix_(model.kept_items_, model.kept_items_)] = model.item_weights_
    left, right = model.low_rank(30)
    np.testing.assert_allclose(left @ right.T, B, atol=1e-5)
    dropped = np.setdiff1d(np.arange(40), model.kept_items_)
    assert not left[dropped].any() and not right[dropped].any()  # films B does not cover stay unscored
    left, right = model.low_rank(5)
    best = np.linalg.svd(B, compute_uv=False)
    error = np.linalg.norm(left @ right.T - B, 2)
    assert left.shape == (40, 5) and error <= 1.05 * best[5]  # near the best rank-5 error (Eckart-Young)


def test_the_gram_by_pair_counts_and_the_cholesky_inverse_match_the_plain_forms(seed: int) -> None:
    from movierec.models.ease import _gram, _spd_inverse

    rng = np.random.default_rng(seed)
    X = sp.random(300, 40, density=0.2, random_state=seed, format="csr", dtype=np.float32)
    X.data[:] = 1.0
    np.testing.assert_array_equal(_gram(X), (X.T @ X).toarray())
    shuffled = X[:, rng.permutation(40)]  # columns taken in another order: unsorted indices within rows
    np.testing.assert_array_equal(_gram(shuffled), (shuffled.T @ shuffled).toarray())
    assert _gram(sp.csr_matrix((0, 40), dtype=np.float32)).shape == (40, 40) and not _gram(X[:0]).any()
    from movierec.kernels.cooccurrence import pair_counts

    X = sp.vstack([X[:5], sp.csr_matrix((1, 40), dtype=np.float32), X[5:]], format="csr")  # an empty row
    for parts in (1, 3, 400):  # one accumulator, rows dealt to three, more parts than rows
        counts = pair_counts(X.indptr.astype(np.int64), X.indices.astype(np.int32), 40, parts)
        np.testing.assert_array_equal(counts, (X.T @ X).toarray())
    a = rng.standard_normal((40, 40))
    spd = a @ a.T + 5 * np.eye(40)
    work = spd.copy()
    inverse = _spd_inverse(work, block=16)  # blocks of 16 rows: a ragged last block of 8
    np.testing.assert_allclose(inverse @ spd, np.eye(40), atol=1e-10)
    assert np.shares_memory(inverse, work) and np.array_equal(inverse, inverse.T)  # in place, symmetric
