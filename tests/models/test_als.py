"""Explicit ALS: the oracle, planted data, determinism, non-finite guard, fold-in."""

from __future__ import annotations

import numpy as np
import pytest

from movierec import ALS, ALSConfig, FitError
from movierec.data import Dataset, RatingScale, synthetic_dataset
from movierec.errors import DataValidationError
from tests.conftest import small_dataset
from tests.models.reference import reference_als


def tiny(seed: int, n_users: int = 12, n_items: int = 9, density: float = 0.6) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in range(n_items):
            if rng.random() < density or i == u % n_items:
                rows.append((u + 100, i * 7 + 1, float(rng.integers(1, 11)) / 2, 1000 + u * 10 + i))
    return small_dataset(rows)


def test_kernel_matches_numpy_reference(seed: int) -> None:
    ds = tiny(seed)
    cfg = ALSConfig(n_factors=4, n_iter=5, reg=0.1, bias_reg=0.05, random_state=seed)
    model = ALS(cfg).fit(ds)
    u, i, r = ds.arrays()
    R = np.zeros((ds.n_users, ds.n_items))
    mask = np.zeros_like(R, dtype=bool)
    R[u, i], mask[u, i] = r, True
    # The model's initial item factors come from the same seeded generator, drawn in float32.
    rng = np.random.default_rng(seed)
    q0 = rng.standard_normal((ds.n_items, 4), dtype=np.float32) * np.float32(cfg.init_scale / 2.0)
    uf, ub, itf, ib, mu = reference_als(R, mask, q0, cfg.n_iter, cfg.reg, cfg.bias_reg)
    np.testing.assert_allclose(model.global_mean_, mu, atol=1e-6)
    np.testing.assert_allclose(model.user_factors_, uf, atol=1e-4)
    np.testing.assert_allclose(model.user_bias_, ub, atol=1e-4)
    np.testing.assert_allclose(model.item_factors_, itf, atol=1e-4)
    np.testing.assert_allclose(model.item_bias_, ib, atol=1e-4)


def test_planted_low_rank_is_recovered(seed: int) -> None:
    ds = synthetic_dataset(60_000, n_users=600, n_items=400, n_factors=4, noise=0.25, seed=seed)
    test_mask = np.random.default_rng(seed).random(ds.n_ratings) < 0.1
    train, test = ds.subset(~test_mask), ds.subset(test_mask)
    model = ALS(ALSConfig(n_factors=8, n_iter=10, reg=0.05, random_state=seed)).fit(train)
    pred = model.predict(test.ratings["user_id"].to_list(), test.ratings["movie_id"].to_list())
    rmse = float(np.sqrt(np.mean((pred.rating - test.ratings["rating"].to_numpy()) ** 2)))
    baseline = float(np.std(test.ratings["rating"].to_numpy()))
    # Noise 0.25 plus half-star rounding (~0.14) gives ~0.29; the mean-only model is ~0.8.
    assert rmse < 0.45 < baseline


def test_deterministic_under_seed(seed: int) -> None:
    ds = tiny(seed, 30, 20)
    a = ALS(ALSConfig(n_factors=5, random_state=seed)).fit(ds)
    b = ALS(ALSConfig(n_factors=5, random_state=seed)).fit(ds)
    c = ALS(ALSConfig(n_factors=5, random_state=seed + 1)).fit(ds)
    assert np.array_equal(a.item_factors_, b.item_factors_)
    assert not np.array_equal(a.item_factors_, c.item_factors_)


def test_rank_above_data_size_stays_finite() -> None:
    rows = [(1, 1, 4.0), (1, 2, 3.0), (1, 3, 5.0), (2, 1, 2.0), (2, 4, 4.5), (3, 2, 1.0), (3, 3, 3.5), (3, 4, 2.0)]
    ds = small_dataset([(*r, 0) for r in rows])
    model = ALS(ALSConfig(n_factors=20, n_iter=10)).fit(ds)
    for name in model.array_names:
        assert np.isfinite(getattr(model, name)).all()


def test_non_finite_model_is_a_fit_error() -> None:
    ds = tiny(1)
    model = ALS(ALSConfig(n_factors=3, n_iter=1)).fit(ds)
    model.item_bias_[0] = np.nan
    with pytest.raises(FitError, match="non-finite"):
        model.check_finite()


def test_empty_and_single_user_refused() -> None:
    one = small_dataset([(1, 1, 4.0, 0), (1, 2, 3.0, 0)])
    with pytest.raises(DataValidationError, match="at least 2 users"):
        ALS().fit(one)
    empty = Dataset.from_frames(one.ratings.head(0).select("user_id", "movie_id", "rating", "timestamp"), None, RatingScale())
    with pytest.raises(DataValidationError, match="empty"):
        ALS().fit(empty)


def test_fold_in_equals_training_half_step(seed: int) -> None:
    ds = tiny(seed, 20, 15)
    model = ALS(ALSConfig(n_factors=4, n_iter=3, random_state=seed)).fit(ds)
    # Re-solving a training user against the final item side is exactly what fold-in does.
    user = model.users_.ids[3]
    rated, values = model.user_state(user).rated_items(0)
    folded = model.fold_in(model.items_.to_ids(rated), values)
    item_f = model.item_factors_.astype(np.float64)
    Z = np.hstack([np.ones((rated.size, 1)), item_f[rated]])
    n = rated.size
    t = values - model.global_mean_ - model.item_bias_[rated]
    w = np.linalg.solve(Z.T @ Z + np.diag([model.config.bias_reg * n] + [model.config.reg * n] * 4), Z.T @ t)
    assert folded.terms["bias"][0] == pytest.approx(w[0], abs=1e-4)
    np.testing.assert_allclose(folded.terms["factors"][0], w[1:], atol=1e-4)


def test_fold_in_rejects_bad_ratings() -> None:
    model = ALS(ALSConfig(n_factors=2, n_iter=1)).fit(tiny(2))
    with pytest.raises(DataValidationError, match="outside"):
        model.fold_in([1], [9.0])
    with pytest.raises(DataValidationError, match="more than once"):
        model.fold_in([1, 1], [4.0, 3.0])
    with pytest.raises(DataValidationError, match="outside"):
        model.fold_in([1], [float("nan")])


def test_predict_cold_start_fallback() -> None:
    ds = small_dataset([(1, 10, 4.0, 0), (1, 20, 3.0, 0), (2, 10, 5.0, 0), (2, 30, 2.0, 0)])
    model = ALS(ALSConfig(n_factors=2, n_iter=5)).fit(ds)
    p = model.predict([1, 3, 1], [30, 10, 40])
    assert np.isfinite(p.rating).all()
    assert p.cold_start.tolist() == [False, True, True]
    mu = model.global_mean_
    assert p.raw[1] == pytest.approx(mu + model.item_bias_[model.items_.index(10)], abs=1e-5)
    assert p.raw[2] == pytest.approx(mu + model.user_bias_[model.users_.index(1)], abs=1e-5)


def test_refit_starts_from_nothing_and_serves_only_the_new_fit(seed: int) -> None:
    """A refit resets ``fitted_`` (ranking mid-fit is refused, not served from half-trained arrays), gives a new
    ``fit_id_`` (the ranking index is rebuilt) and equals a fresh fit."""
    from movierec import recommend
    from movierec.errors import NotFittedError
    from movierec.ranking import index_for

    ds = tiny(seed, 20, 15)
    model = ALS(ALSConfig(n_factors=3, n_iter=4, random_state=seed)).fit(ds)
    user = model.users_.ids[0]
    first_id, first_index = model.fit_id_, index_for(model)
    seen: list[type] = []

    def rank_mid_fit(it: int, entry: dict) -> None:
        try:
            recommend(model, user, k=5)
        except NotFittedError as exc:
            seen.append(type(exc))

    model.callback = rank_mid_fit
    model.fit(tiny(seed + 1, 20, 15))
    model.fit(ds)
    model.callback = None
    assert seen and set(seen) == {NotFittedError} and model.fit_id_ != first_id and index_for(model) is not first_index
    fresh = ALS(ALSConfig(n_factors=3, n_iter=4, random_state=seed)).fit(ds)
    got, want = recommend(model, user, k=5), recommend(fresh, user, k=5)
    assert [(r.movie_id, r.raw_score, r.score) for r in got] == [(r.movie_id, r.raw_score, r.score) for r in want]


def test_item_table_rows_are_item_positions(seed: int) -> None:
    """``describe`` and the explanations index ``item_table`` columns by item position."""
    import polars as pl

    ds = tiny(seed, 20, 15)
    model = ALS(ALSConfig(n_factors=2, n_iter=1, random_state=seed)).fit(ds)
    ids = model.items_.ids.to_list()
    rev = ids[::-1]
    model.movies_ = pl.DataFrame(
        {"movie_id": rev, "title": [f"t{m}" for m in rev], "year": [None] * len(ids), "genres": [["Drama"]] * len(ids)},
        schema_overrides={"year": pl.Int32},
    )
    table = model.item_table()
    assert table["item_idx"].to_list() == list(range(model.n_items))
    assert table["movie_id"].to_list() == ids and table["title"].to_list() == [f"t{m}" for m in ids]


def test_cg_solver_reaches_the_exact_solvers_test_rmse(seed: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """solver="cg" (inexact rows of 64+ ratings) lands where the exact fit does, and is saved with the model."""
    from movierec import load, save

    ds = synthetic_dataset(60_000, n_users=300, n_items=400, n_factors=6, noise=0.5, seed=seed)  # rows of ~200
    test_mask = np.random.default_rng(seed).random(ds.n_ratings) < 0.1
    train, test = ds.subset(~test_mask), ds.subset(test_mask)
    users, items = test.ratings["user_id"].to_list(), test.ratings["movie_id"].to_list()
    truth = test.ratings["rating"].to_numpy()
    rmse, pred = {}, {}
    for solver, steps in (("cholesky", 3), ("cg", 1), ("cg", 3)):
        model = ALS(ALSConfig(n_factors=16, n_iter=10, solver=solver, cg_steps=steps, random_state=seed)).fit(train)
        pred[solver, steps] = model.predict(users, items).rating
        rmse[solver, steps] = float(np.sqrt(np.mean((pred[solver, steps] - truth) ** 2)))
    assert abs(rmse["cg", 3] - rmse["cholesky", 3]) < 2e-3, rmse
    # More steps, closer to the exact fit (1 step is a visibly different model).
    gap = {s: float(np.abs(pred["cg", s] - pred["cholesky", 3]).mean()) for s in (1, 3)}
    assert gap[3] < gap[1] / 2, gap
    save(model, tmp_path / "m")
    assert load(tmp_path / "m").config.solver == "cg"


@pytest.mark.parametrize("bad", [{"solver": "lu"}, {"cg_steps": 0}, {"cg_steps": True}, {"cg_steps": 2.5}])
def test_solver_settings_are_checked(bad: dict) -> None:
    with pytest.raises(DataValidationError, match="solver|cg_steps"):
        ALSConfig(**bad)
