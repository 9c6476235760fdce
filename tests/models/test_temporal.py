"""Time-aware ALS (Koren 2009): term updates against loop oracles, planted drift, serving rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from movierec import ALSConfig, load, recommend, save
from movierec.data import Dataset, RatingScale
from movierec.errors import DataValidationError
from movierec.models import ALS, TemporalALS, TemporalConfig, make_model
from movierec.models.temporal import bin_update, drift, drift_update, ladder_configs


def test_drift_formula_eq7() -> None:
    day = 86400
    t_mean = np.array([100.0 * day])
    np.testing.assert_allclose(drift(np.array([116.0 * day]), t_mean, 0.5), [4.0])
    np.testing.assert_allclose(drift(np.array([84.0 * day]), t_mean, 0.5), [-4.0])
    np.testing.assert_allclose(drift(np.array([100.0 * day]), t_mean, 0.4), [0.0])


def test_term_updates_match_loop_oracles(seed: int) -> None:
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 7, 200)
    e = rng.normal(size=200)
    dev = rng.normal(size=200) * 3
    alpha = drift_update(u, e, dev, 7, 2.5)
    for user in range(7):
        m = u == user
        assert alpha[user] == pytest.approx((e[m] * dev[m]).sum() / ((dev[m] ** 2).sum() + 2.5), rel=1e-5, abs=1e-7)
    key = rng.integers(0, 12, 200)
    b = bin_update(key, e, 12, 4.0)
    for k in range(12):
        m = key == k
        assert b[k] == pytest.approx(e[m].sum() / (m.sum() + 4.0), rel=1e-5, abs=1e-7)


def planted_drift(seed: int, n_users: int = 300, n_items: int = 120, n: int = 30_000) -> pl.DataFrame:
    """Items 0-59 gain +1.5 stars over the span, items 60-119 lose 1.5; users' scale shifts by ±1."""
    rng = np.random.default_rng(seed)
    span = 1000 * 86400
    u = rng.integers(0, n_users, n)
    i = rng.integers(0, n_items, n)
    t = rng.integers(0, span, n)
    frac = t / span
    item_trend = np.where(i < n_items // 2, 1.5, -1.5) * (frac - 0.5)
    user_sign = np.where(u % 2 == 0, 1.0, -1.0)
    user_t_mean = np.zeros(n)
    for user in range(n_users):  # the planted drift is linear in each user's own time
        m = u == user
        user_t_mean[m] = t[m].mean() if m.any() else 0
    user_trend = user_sign * (t - user_t_mean) / span * 2.0
    r = 3.0 + item_trend + user_trend + rng.normal(0, 0.3, n)
    df = pl.DataFrame({"user_id": u, "movie_id": i, "rating": np.clip(r, 0.5, 5.0).astype(np.float32), "timestamp": t + 1_000_000_000})
    return df.unique(["user_id", "movie_id"], keep="first", maintain_order=True)


def test_planted_drift_recovered_and_beats_static(seed: int) -> None:
    df = planted_drift(seed)
    cut = df["timestamp"].quantile(0.85)
    train = Dataset.from_frames(df.filter(pl.col("timestamp") <= cut), None, RatingScale(0.5, 5.0, 0.0), "planted")
    test = df.filter(pl.col("timestamp") > cut)
    explicit = ALSConfig(n_factors=4, n_iter=8)

    def rmse(model: ALS) -> float:
        p = model.predict(test["user_id"].to_list(), test["movie_id"].to_list(), test["timestamp"].to_numpy())
        return float(np.sqrt(np.mean((p.rating - test["rating"].to_numpy()) ** 2)))

    static = ALS(explicit).fit(train)
    temporal = TemporalALS(TemporalConfig(explicit=explicit, reg_bin=1.0, reg_drift=10.0, beta=1.0)).fit(train)
    assert rmse(temporal) < rmse(static) - 0.08
    # Recovered drift: late bins of rising items are above early bins; falling items the reverse.
    late, early = temporal.item_bin_bias_[:, -3:].mean(axis=1), temporal.item_bin_bias_[:, :3].mean(axis=1)
    rising = train.items.positions(range(60))
    falling = train.items.positions(range(60, 120))
    # Planted: +-1.5 stars over the span, so about +-1.15 between the first and last 3 of 30 bins.
    assert (late - early)[rising].mean() > 0.7 and (late - early)[falling].mean() < -0.7
    # Users with a planted positive drift get a positive α_u (beta = 1: dev in days, linear).
    even = train.users.positions(range(0, 300, 2))
    odd = train.users.positions(range(1, 300, 2))
    assert temporal.user_alpha_[even].mean() > 0 > temporal.user_alpha_[odd].mean()


def test_future_uses_last_bin_and_fold_in_fits_own_terms(seed: int, tmp_path: Path) -> None:
    df = planted_drift(seed, n=8000)
    ds = Dataset.from_frames(df, None, RatingScale(0.5, 5.0, 0.0), "planted")
    model = TemporalALS(TemporalConfig(explicit=ALSConfig(n_factors=3, n_iter=4, min_ratings=0))).fit(ds)
    far_future = int(model.time_range_[1]) + 10 * 365 * 86400
    item = model.items_.ids[0]
    user = model.users_.ids[0]
    p_now = model.predict([user], [item]).raw[0]
    p_end = model.predict([user], [item], [int(model.time_range_[1])]).raw[0]
    assert p_now == pytest.approx(p_end)
    p_future = model.predict([None], [item], [far_future]).raw[0]  # unknown user: μ + b_i + last bin
    i = model.items_.index(item)
    assert p_future == pytest.approx(model.global_mean_ + model.item_bias_[i] + model.item_bin_bias_[i, -1], abs=1e-5)
    history = df.filter(pl.col("user_id") == 0)
    state = model.fold_in(history["movie_id"].to_list(), history["rating"].to_list(), history["timestamp"].to_list())
    assert state.extra["alpha"] != 0.0 and np.isfinite(state.factors).all()
    save(model, tmp_path / "t")
    back = load(tmp_path / "t")
    assert recommend(back, user, k=5) == recommend(model, user, k=5)


def test_ladder_and_registry() -> None:
    rungs = ladder_configs()
    assert list(rungs) == ["static biases", "+ item time bins", "+ user drift", "+ factors (static)", "all together"]
    assert not rungs["static biases"].factors and rungs["all together"].item_time_bins == 30
    assert make_model("bias-time").temporal_config.factors is False
    assert make_model("als-time").temporal_config.user_drift is True
    with pytest.raises(DataValidationError, match="item_time_bins"):
        TemporalConfig(item_time_bins=-1)
