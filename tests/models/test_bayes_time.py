"""Bayesian timeSVD++ ("als-bayes-time"): the implicit-factor kernel against a brute-force conditional, the
sampler on planted data, fold-in, the test films in N(u), config checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from movierec import load, save
from movierec.errors import DataValidationError
from movierec.kernels import implicit_gibbs_step
from movierec.models import BayesianTimeSVDpp, BayesTimeConfig, make_model
from tests.models.test_bayes import planted

SMALL = {"temporal": {"explicit": {"n_factors": 3, "n_iter": 3}, "item_time_bins": 4}, "n_burn": 10, "n_samples": 40}


def _implicit_problem(rng: np.random.Generator, n_u: int = 40, n_i: int = 30, k: int = 4):
    """N(u) and the ratings on the same pairs; partner factors Q, targets t, current y and z = s Σ y."""
    dense = (rng.random((n_u, n_i)) < 0.3).astype(np.float64)
    dense[0] = 0  # a user with an empty N(u)
    dense[:, -1] = 0  # a film in nobody's N(u)
    N = sp.csr_matrix(dense)
    N.sort_indices()
    s = np.where(np.diff(N.indptr) > 0, 1 / np.sqrt(np.maximum(np.diff(N.indptr), 1)), 0.0)
    Q = rng.normal(0, 0.5, (n_i, k))
    t = rng.normal(0, 1.0, N.nnz)
    Y = rng.normal(0, 0.3, (n_i, k)).astype(np.float32)
    return N, s, Q, t, Y


@pytest.mark.parametrize("route", ["fast", "reference"])
def test_implicit_step_first_row_is_the_brute_force_conditional(seed: int, route: str, monkeypatch) -> None:
    # The conditional of y_0 from the rating-level least squares: each rating (u, i) with film 0 in N(u)
    # contributes x = s_u q_i and target t_ui − q_i · (z_u − s_u y_0); prior weight w, mean m.
    monkeypatch.setenv("MOVIEREC_KERNEL", route)
    rng = np.random.default_rng(seed)
    N, s, Q, t, Y = _implicit_problem(rng)
    k = Q.shape[1]
    z = (N @ Y.astype(np.float64)) * s[:, None]
    w, m = rng.uniform(0.5, 2.0, k), rng.normal(0, 0.1, k)
    rows = np.repeat(np.arange(N.shape[0]), np.diff(N.indptr))
    X, target = [], []
    for p, (u, i) in enumerate(zip(rows, N.indices, strict=True)):
        if N[u, 0]:
            X.append(s[u] * Q[i])
            target.append(t[p] - Q[i] @ (z[u] - s[u] * Y[0]))
    X, target = np.array(X), np.array(target)
    expected = np.linalg.solve(X.T @ X + np.diag(w), X.T @ target + w * m)
    outer = np.einsum("ia,ib->iab", Q, Q).reshape(-1, k * k)
    gram = np.ascontiguousarray((N @ outer).reshape(-1, k, k))
    cross = sp.csr_matrix((t, N.indices, N.indptr), shape=N.shape) @ Q
    Nt = N.T.tocsr()
    Nt.sort_indices()
    Y1, z1 = Y.copy(), z.copy()
    implicit_gibbs_step(Nt.indptr.astype(np.int64), Nt.indices.astype(np.int32), s, gram, cross, w, m,
                        np.zeros((0, k)), 0.7, Y1, z1)  # fmt: skip
    np.testing.assert_allclose(Y1[0], expected, rtol=1e-4, atol=1e-5)
    # The running sums stay z = s Σ y after every row was replaced.
    np.testing.assert_allclose(z1, (N @ Y1.astype(np.float64)) * s[:, None], atol=1e-5)
    assert not np.allclose(Y1[1:], Y[1:])


def test_implicit_step_fast_equals_reference_with_draws(seed: int, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    N, s, Q, t, Y = _implicit_problem(rng)
    k = Q.shape[1]
    outer = np.einsum("ia,ib->iab", Q, Q).reshape(-1, k * k)
    gram = np.ascontiguousarray((N @ outer).reshape(-1, k, k))
    cross = sp.csr_matrix((t, N.indices, N.indptr), shape=N.shape) @ Q
    Nt = N.T.tocsr()
    Nt.sort_indices()
    noise = rng.standard_normal(Y.shape)
    out = {}
    for route in ("fast", "reference"):
        monkeypatch.setenv("MOVIEREC_KERNEL", route)
        Y1, z1 = Y.copy(), (N @ Y.astype(np.float64)) * s[:, None]
        implicit_gibbs_step(Nt.indptr.astype(np.int64), Nt.indices.astype(np.int32), s, gram, cross, np.ones(k),
                            np.zeros(k), noise, 0.7, Y1, z1)  # fmt: skip
        out[route] = Y1
    np.testing.assert_allclose(out["fast"], out["reference"], rtol=1e-4, atol=1e-4)
    # A film in nobody's N(u) is a draw from the prior alone: m + σ ε / √w.
    np.testing.assert_allclose(out["fast"][-1], 0.7 * noise[-1], rtol=1e-5)


def test_planted_noise_level_and_error_to_truth(seed: int) -> None:
    train, test = planted(seed)
    model = make_model("als-bayes-time", SMALL).fit(train)
    # The planted σ; measured 0.494-0.502 (seeds 0-2).
    assert model.fit_info_["sigma_mean"] == pytest.approx(0.5, abs=0.02)
    pred = model.predict(test["user_id"].to_list(), test["movie_id"].to_list(), test["timestamp"].to_numpy()).raw
    err_truth = np.sqrt(np.mean((pred - test["truth"].to_numpy()) ** 2))
    # Measured 0.203-0.220 (seeds 0-2); als-bayes 0.196-0.208: no time or implicit structure was planted, so
    # the extra terms can only cost a little; default ALS (3 factors) 0.272.
    assert err_truth < 0.24
    assert model.user_factors_.shape == (300, 120) and model.implicit_factors_.shape == (200, 120)


def test_save_load_fold_in_and_determinism(tmp_path: Path, seed: int) -> None:
    train, test = planted(seed)
    cfg = BayesTimeConfig.from_dict({**SMALL, "n_burn": 3, "n_samples": 8, "flipped": True})
    a = BayesianTimeSVDpp(cfg).fit(train)
    b = BayesianTimeSVDpp(cfg).fit(train)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    loaded = load(save(a, tmp_path / "m"))
    users, movies = test["user_id"].to_list(), test["movie_id"].to_list()
    np.testing.assert_array_equal(loaded.predict(users, movies).raw, a.predict(users, movies).raw)
    assert loaded.config_dict() == a.config_dict() and loaded.name == "als-bayes-time"
    # Fold-in of a training user's own ratings and dates estimates the same posterior mean as the stored rows.
    ratings = train.ratings
    for user in users[:5]:
        own = ratings.filter(ratings["user_id"] == user)
        state = a.user_state(user)
        folded = loaded.fold_in(own["movie_id"].to_list(), own["rating"].to_numpy(), own["timestamp"].to_numpy())
        s_known, s_fold = a.score_block(state)[0], loaded.score_block(folded)[0]
        assert np.corrcoef(s_known, s_fold)[0, 1] > 0.9 and np.sqrt(np.mean((s_known - s_fold) ** 2)) < 0.35


def test_test_films_in_n_u_only_when_given(seed: int) -> None:
    train, test = planted(seed)
    from movierec.data import Dataset

    extra = Dataset.from_frames(test.drop("truth"), None, train.scale, name="test pairs")
    cfg = {**SMALL, "n_burn": 2, "n_samples": 4}
    plain = make_model("als-bayes-time", cfg).fit(train)
    wider = make_model("als-bayes-time", cfg).fit(train, implicit=extra)
    known = np.isin(test["user_id"].to_numpy(), train.users.ids.to_numpy()) & np.isin(
        test["movie_id"].to_numpy(), train.items.ids.to_numpy()
    )
    assert wider.fit_info_["extra_implicit_pairs"] == int(known.sum()) and "extra_implicit_pairs" not in plain.fit_info_
    users, movies = test["user_id"].to_list(), test["movie_id"].to_list()
    assert not np.allclose(plain.predict(users, movies).raw, wider.predict(users, movies).raw)
    again = make_model("als-bayes-time", cfg).fit(train)  # the extra pairs do not stick to a later fit
    np.testing.assert_array_equal(plain.user_factors_, again.user_factors_)


def test_unknown_user_and_film_are_the_average_of_their_side(seed: int) -> None:
    # With learned prior means the factor terms need not average 0: μ + b_i alone would miss q_i · mean(p_u + z_u)
    # (ml-100k chronological split, 86% new users: 1.0674 with μ + b_i, 1.0174 with the average user).
    train, test = planted(seed)
    model = make_model("als-bayes-time", {**SMALL, "n_burn": 2, "n_samples": 4})
    model.fit(train)
    movies = train.items.ids.to_list()[:6]
    cold = model.predict([10**9] * 6, movies).raw
    np.testing.assert_allclose(cold, model.score_block(model.cold_state(), "rating")[0, :6], atol=1e-4)
    mean_user = model.global_mean_ + model.user_bias_.mean() + model.item_bias_[:6]
    mean_user += model.item_factors_[:6] @ model.user_factors_.mean(0)
    np.testing.assert_allclose(cold, mean_user + model.item_bin_bias_[:6, -1], atol=1e-4)
    assert np.abs(model.user_factors_.mean(0)).max() > 1e-3  # the correction is not zero
    user = train.users.ids[0]
    unknown_film = model.predict([user], [10**9]).raw[0]
    expected = model.predict([user], [movies[0]]).raw[0] - model.item_bias_[0] - model.item_bin_bias_[0, -1]
    expected += model.item_bias_.mean()
    expected -= model.user_factors_[0] @ (model.item_factors_[0] - model.item_factors_.mean(0))
    assert unknown_film == pytest.approx(expected, abs=1e-4)


def test_train_options_reach_the_explicit_part_inside_temporal() -> None:
    from movierec.training import TrainSpec, build_model

    model = build_model(TrainSpec(data="unused", model="als-bayes-time", explicit={"n_factors": 3, "reg": 0.2}))
    assert model.config.n_factors == 3 and model.bayes_config.temporal.explicit.reg == 0.2
    assert model.bayes_config.n_samples == BayesTimeConfig().n_samples


def test_config_validation() -> None:
    cfg = BayesTimeConfig.from_dict({"temporal": {"explicit": {"n_factors": 4}}})
    assert cfg.temporal.explicit.n_factors == 4 and cfg.temporal.explicit.n_iter == 5
    assert cfg.temporal.item_time_bins == 30 and cfg.flipped
    with pytest.raises(DataValidationError, match="user_scale"):
        BayesTimeConfig.from_dict({"temporal": {"user_scale": True}})
    with pytest.raises(DataValidationError, match="n_samples"):
        BayesTimeConfig(n_samples=0)
    with pytest.raises(DataValidationError, match="unknown"):
        BayesTimeConfig.from_dict({"flip": True})


def _sessions(seed: int, spread: float = 0.6, n_days: int = 4) -> tuple:
    """``planted`` data spread over ``n_days`` days, each (user, day) with its own offset N(0, spread²): a session's mood."""
    import polars as pl

    from movierec.data import Dataset

    train, test = planted(seed)
    rng = np.random.default_rng(seed + 100)
    mood = rng.normal(0, spread, (300, n_days))
    frames = []
    for frame in (train.ratings.select("user_id", "movie_id", "rating"), test):
        day = rng.integers(0, n_days, frame.height)
        shift = mood[frame["user_id"].to_numpy(), day]
        cols = [pl.Series("timestamp", day * 86400 + 3600), (pl.col("rating") + pl.Series(shift)).cast(pl.Float32)]
        if "truth" in frame.columns:
            cols.append(pl.col("truth") + pl.Series(shift))
        frames.append(frame.with_columns(cols))
    return Dataset.from_frames(frames[0], None, train.scale, name="sessions"), frames[1]


def test_user_day_bias_learns_the_mood_of_a_session_and_only_for_days_seen(seed: int) -> None:
    train, test = _sessions(seed)
    users, movies, when = test["user_id"].to_list(), test["movie_id"].to_list(), test["timestamp"].to_numpy()
    err = {}
    for on in (True, False):
        model = make_model("als-bayes-time", {**SMALL, "user_day_bias": on}).fit(train)
        pred = model.predict(users, movies, when).raw
        err[on] = float(np.sqrt(np.mean((pred - test["truth"].to_numpy()) ** 2)))
    # Measured 0.24-0.26 with the term, 0.59-0.60 without (seeds 0-2): the per-day offsets are σ 0.6.
    assert err[True] < 0.6 * err[False]
    # A day the user never rated on gets no per-day term: the prediction is the one without the stored days.
    model = make_model("als-bayes-time", {**SMALL, "n_burn": 2, "n_samples": 4}).fit(train)
    later = when + 30 * 86400
    before = model.predict(users, movies, later).raw
    seen_days, model.user_day_keys_ = model.user_day_keys_, np.zeros(0, np.int64)
    np.testing.assert_array_equal(model.predict(users, movies, later).raw, before)
    model.user_day_keys_ = seen_days


def test_a_day_not_seen_keeps_the_users_level_when_each_user_rated_on_one_day(seed: int) -> None:
    # With one day per user (64% of ml-100k's users) b_u and b_{u,day} are told apart only by their priors;
    # the fit moves each user's mean day bias into b_u, so a later day predicts like a model without the term.
    # Measured (seeds 0-2): 1.01-1.05x that model's error; 1.10-1.14x before b_u took the mean day bias.
    train, test = _sessions(seed, n_days=1)
    users, movies = test["user_id"].to_list(), test["movie_id"].to_list()
    later = test["timestamp"].to_numpy() + 30 * 86400
    err = {}
    for on in (True, False):
        model = make_model("als-bayes-time", {**SMALL, "n_burn": 2, "n_samples": 4, "user_day_bias": on}).fit(train)
        err[on] = np.sqrt(np.mean((model.predict(users, movies, later).raw - test["truth"].to_numpy()) ** 2))
    assert err[True] < 1.08 * err[False]


def test_user_day_bias_saved_and_loaded_and_absent_from_older_folders(tmp_path: Path, seed: int) -> None:
    train, test = _sessions(seed)
    model = make_model("als-bayes-time", {**SMALL, "n_burn": 2, "n_samples": 4}).fit(train)
    import polars as pl

    days = train.ratings.select("user_id", (pl.col("timestamp") // 86400).alias("day")).unique()
    assert model.user_day_keys_.size == days.height
    users, movies, when = test["user_id"].to_list(), test["movie_id"].to_list(), test["timestamp"].to_numpy()
    folder = save(model, tmp_path / "m")
    np.testing.assert_array_equal(load(folder).predict(users, movies, when).raw, model.predict(users, movies, when).raw)
    # A folder saved before the term existed has no such arrays: it loads, and predicts without the term.
    import zipfile

    with np.load(folder / "arrays.npz") as z:
        kept = {k: z[k] for k in z.files if not k.startswith("user_day")}
    (folder / "arrays.npz").unlink()
    np.savez(folder / "arrays.npz", **kept)
    import json

    meta = json.loads((folder / "model.json").read_text())
    del meta["config"]["user_day_bias"]  # nor did its config name the term
    (folder / "model.json").write_text(json.dumps(meta))
    old = load(folder)
    assert old.user_day_keys_.size == 0 and zipfile.is_zipfile(folder / "arrays.npz")
    assert old.bayes_config.user_day_bias is False  # it says what it holds
    model.user_day_keys_ = np.zeros(0, np.int64)  # the fitted model without its day terms
    np.testing.assert_allclose(old.predict(users, movies, when).raw, model.predict(users, movies, when).raw, atol=1e-5)


def test_attribute_groups_learn_what_labels_share(seed: int) -> None:
    # Users labelled "a" like films of genre "X" by 1.5 stars more than users labelled "b" do; each user has
    # rated only ~3 films of that genre, so the labels carry what the few ratings cannot.
    import polars as pl

    from movierec.data import Dataset

    rng = np.random.default_rng(seed)
    n_u, n_i = 400, 150
    group = rng.integers(0, 2, n_u)
    genre = rng.integers(0, 2, n_i)
    truth = 3.0 + rng.normal(0, 0.3, (n_u, 1)) + rng.normal(0, 0.3, (1, n_i)) + 0.75 * np.outer(2 * group - 1, 2 * genre - 1)
    u, i = np.nonzero(rng.random((n_u, n_i)) < 0.04)
    r = truth[u, i] + rng.normal(0, 0.5, u.size)
    df = pl.DataFrame({"user_id": u, "movie_id": i, "rating": r.astype(np.float32), "timestamp": np.zeros(u.size, np.int64)})
    movies = pl.DataFrame({"movie_id": np.arange(n_i), "title": [f"f{j}" for j in range(n_i)],
                           "year": pl.Series([1990 + 10 * int(g) for g in genre], dtype=pl.Int32),
                           "genres": [["X" if g else "Y"] for g in genre]})  # fmt: skip
    test = rng.random(u.size) < 0.2
    train = Dataset.from_frames(df.filter(~pl.Series(test)), movies, None, name="labels")
    labels = pl.DataFrame({"user_id": np.arange(n_u), "attributes": [[f"g:{g}"] for g in group]})
    held = df.filter(pl.Series(test))
    users, films = held["user_id"].to_list(), held["movie_id"].to_list()
    want = truth[held["user_id"].to_numpy(), held["movie_id"].to_numpy()]
    cfg = {**SMALL, "implicit": False, "flipped": False}
    err = {}
    for name, extra, fit_args in (("plain", {}, {}), ("films", {"item_attributes": True}, {}),
                                  ("both", {"item_attributes": True}, {"user_attributes": labels})):  # fmt: skip
        model = make_model("als-bayes-time", {**cfg, **extra}).fit(train, **fit_args)
        err[name] = float(np.sqrt(np.mean((model.predict(users, films).raw - want) ** 2)))
        if name == "both":
            assert model.fit_info_["user_labels"] == 2 and model.fit_info_["item_labels"] == 4  # 2 genres, 2 decades
    # Measured (seeds 0-2): plain 0.41-0.45, films 0.39-0.44, both 0.29-0.34.
    assert err["both"] < 0.85 * err["plain"]


def test_attribute_inputs_are_checked() -> None:
    import polars as pl

    train, _ = planted(0)
    with pytest.raises(DataValidationError, match="user_id and attributes"):
        make_model("als-bayes-time", SMALL).fit(train, user_attributes=pl.DataFrame({"user_id": [1]}))
    with pytest.raises(DataValidationError, match="list of text labels"):  # a string is not read letter by letter
        make_model("als-bayes-time", SMALL).fit(train, user_attributes=pl.DataFrame({"user_id": [1], "attributes": ["g:M"]}))
    with pytest.raises(DataValidationError, match="no label for any training user"):
        strangers = pl.DataFrame({"user_id": [10**9], "attributes": [["g:a"]]})
        make_model("als-bayes-time", SMALL).fit(train, user_attributes=strangers)
    # A missing label is skipped, not a crash.
    gaps = pl.DataFrame({"user_id": [0, 1], "attributes": [["g:a", None], ["g:b"]]})
    model = make_model("als-bayes-time", {**SMALL, "n_burn": 1, "n_samples": 2}).fit(train, user_attributes=gaps)
    assert model.fit_info_["user_labels"] == 2
    with pytest.raises(DataValidationError, match="no genres or years"):
        make_model("als-bayes-time", {**SMALL, "item_attributes": True}).fit(train)
