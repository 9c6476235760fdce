"""Implicit ALS (Hu et al. 2008) against a NumPy oracle; the hybrid on planted preferences."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from movierec import load, recommend, save
from movierec.data import Dataset
from movierec.errors import DataValidationError
from movierec.config import RankingPolicy
from movierec.models import Hybrid, HybridConfig, ImplicitALS, ImplicitConfig
from movierec.models.implicit import confidence, fold_in_implicit, gram_matrix
from tests.conftest import small_dataset


def reference_implicit_row(Y: np.ndarray, idx: np.ndarray, conf: np.ndarray, pref: np.ndarray, reg: float) -> np.ndarray:
    """x = (YᵀY + Yᵀ(C − I)Y + reg·n·I)⁻¹ Yᵀ C p, written out with dense C over all items."""
    n_items, k = Y.shape
    c = np.ones(n_items)
    p = np.zeros(n_items)
    c[idx], p[idx] = conf, pref
    Yd = Y.astype(np.float64)
    A = Yd.T @ (c[:, None] * Yd) + reg * idx.size * np.eye(k)
    return np.linalg.solve(A, Yd.T @ (c * p))


def dataset(seed: int, n_users: int = 25, n_items: int = 18) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = [(u, i, float(rng.integers(1, 11)) / 2, 0) for u in range(n_users) for i in range(n_items) if rng.random() < 0.4]
    return small_dataset(rows)


@pytest.mark.parametrize("negative_below", [None, 3.0])
def test_implicit_fold_in_matches_dense_oracle(seed: int, negative_below: float | None) -> None:
    cfg = ImplicitConfig(n_factors=4, n_iter=4, reg=0.05, alpha=3.0, negative_below=negative_below, random_state=seed)
    model = ImplicitALS(cfg).fit(dataset(seed))
    rated, r = model.user_state(model.users_.ids[2]).rated_items(0)
    x = fold_in_implicit(model.item_factors_, rated, r, 5.0, cfg, gram_matrix(model.item_factors_))
    if negative_below is None:
        conf, pref = 1 + 3.0 * r / 5.0, np.ones_like(r)
    else:
        neg = r < negative_below
        conf = np.where(neg, 1 + 3.0 * (negative_below - r) / 5.0, 1 + 3.0 * r / 5.0)
        pref = (~neg).astype(float)
    expected = reference_implicit_row(model.item_factors_, rated, conf, pref, cfg.reg)
    np.testing.assert_allclose(x, expected, atol=1e-4)
    # The last training half-step solved users before the final item step, so a
    # re-solve differs from user_factors_; a further user step must equal fold-in.
    assert np.isfinite(model.user_factors_).all()


def test_confidence_and_preference_follow_the_documented_rule() -> None:
    import scipy.sparse as sp

    m = sp.csr_matrix(np.array([[5.0, 1.0, 0.0]], dtype=np.float32))
    conf, pref = confidence(m, 5.0, ImplicitConfig(alpha=10.0, negative_below=3.0))
    assert conf.data.tolist() == pytest.approx([1 + 10.0, 1 + 10.0 * 2 / 5]) and pref.data.tolist() == [1.0, 0.0]
    conf, pref = confidence(m, 5.0, ImplicitConfig(alpha=10.0))
    assert conf.data.tolist() == pytest.approx([11.0, 3.0]) and pref.data.tolist() == [1.0, 1.0]


def planted(seed: int) -> tuple[Dataset, dict[int, set[int]]]:
    """Two taste groups: users 0-39 watch and love films 0-29, users 40-79 films 30-59.

    Each user rates a random half of their group's films (4-5 stars) and a few
    of the other group's (1-2 stars). The right top-k for a user are the unseen
    films of their own group.
    """
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for u in range(80):
        own = np.arange(30) + (0 if u < 40 else 30)
        other = np.arange(30) + (30 if u < 40 else 0)
        seen = rng.choice(own, 15, replace=False)
        for i in seen:
            rows.append((u, int(i), float(rng.choice([4.0, 4.5, 5.0])), 0))
        for i in rng.choice(other, 3, replace=False):
            rows.append((u, int(i), float(rng.choice([1.0, 1.5, 2.0])), 0))
        truth[u] = set(own.tolist()) - set(seen.tolist())
    return small_dataset(rows), truth


@pytest.mark.parametrize("name", ["hybrid", "als-implicit"])
def test_planted_preferences_recovered(seed: int, name: str) -> None:
    ds, truth = planted(seed)
    model = (Hybrid(HybridConfig(), RankingPolicy(min_ratings=0)) if name == "hybrid" else ImplicitALS()).fit(ds)
    hits = [len({r.movie_id for r in recommend(model, u, k=10)} & truth[u]) for u in range(80)]
    assert np.mean(hits) >= 9.0


def test_hybrid_fold_in_excludes_and_follows_taste(seed: int) -> None:
    ds, _ = planted(seed)
    model = Hybrid(HybridConfig(), RankingPolicy(min_ratings=0)).fit(ds)
    recs = recommend(model, ratings=[(0, 5.0), (1, 5.0), (2, 4.5), (40, 1.0)], k=5)
    ids = {r.movie_id for r in recs}
    assert not ids & {0, 1, 2, 40} and ids <= set(range(30))
    assert all(0.5 <= r.score <= 5.0 for r in recs)


def test_hybrid_round_trip_and_rating_ranking(tmp_path: Path, seed: int) -> None:
    ds = dataset(seed)
    model = Hybrid(HybridConfig(), RankingPolicy(min_ratings=0)).fit(ds)
    save(model, tmp_path / "h")
    back = load(tmp_path / "h")
    assert isinstance(back, Hybrid) and back.config == model.config and back.policy == model.policy
    for user in (0, 3, None):
        assert recommend(back, user, k=5) == recommend(model, user, k=5)
        by_rating = recommend(model, user, k=5, rank_by="rating")
        assert [r.raw_score for r in by_rating] == sorted((r.raw_score for r in by_rating), reverse=True)


def test_popularity_debias_subtracts_the_average_users_preference(seed: int) -> None:
    ds, _ = planted(seed)
    model = Hybrid(HybridConfig(popularity_debias=0.0, standardize=False), RankingPolicy(min_ratings=0)).fit(ds)
    state = model.fold_in([0, 1, 2], [5.0, 5.0, 4.0])
    plain = model.score_block(state)[0]
    model.config = dataclasses.replace(model.config, popularity_debias=0.5)
    debiased = model.score_block(state)[0]
    np.testing.assert_allclose(plain - debiased, 0.5 * model.implicit.item_factors_ @ model.mean_implicit_, atol=1e-5)


def test_hybrid_blend_standardizes_each_signal_per_user(seed: int) -> None:
    """The blend adds z-scores: each signal divided by its spread over the catalogue for that user."""
    ds, _ = planted(seed)
    config = HybridConfig(rating_weight=0.7, popularity_weight=-0.2, popularity_debias=0.0)
    model = Hybrid(config, RankingPolicy(min_ratings=0)).fit(ds)
    state = model.fold_in([0, 1, 2, 40], [5.0, 5.0, 4.0, 1.0])
    x, p = state.terms["implicit"][0], state.terms["factors"][0]
    n = model.item_counts_.astype(np.float64)
    w = n / (n + config.shrinkage)
    choice = model.implicit.item_factors_ @ x
    liking = w * (model.explicit.item_bias_ + model.explicit.item_factors_ @ p)
    popularity = np.log1p(n)
    z_popularity = (popularity - popularity.mean()) / popularity.std()
    liked = np.zeros(model.n_items)
    liked[[0, 1, 2]] = 1.0  # film 40, rated 1 star (below negative_below), is not EASE input
    ease = (liked @ model.ease_left_) @ model.ease_right_.T
    expected = choice / choice.std() + 0.5 * ease / ease.std() + 0.7 * liking / liking.std() - 0.2 * z_popularity
    np.testing.assert_allclose(model.score_block(state)[0], expected, rtol=1e-4, atol=1e-4)
    unscaled = dataclasses.replace(config, standardize=False, ease_weight=0.0)
    model.config = unscaled
    model._finish_fit()
    raw = choice + 0.7 * liking / (model.scale_.high - model.scale_.low) - 0.2 * z_popularity  # older folders' recipe
    np.testing.assert_allclose(model.score_block(state)[0], raw, rtol=1e-4, atol=1e-4)


def test_hybrid_config_validation() -> None:
    with pytest.raises(DataValidationError, match="popularity_debias"):
        HybridConfig(popularity_debias=2.0)
    with pytest.raises(DataValidationError, match="unknown HybridConfig keys"):
        HybridConfig.from_dict({"nope": 1})
    cfg = HybridConfig.from_dict({"explicit": {"n_factors": 8}, "implicit": {"alpha": 2.0}})
    assert cfg.explicit.n_factors == 8 and cfg.implicit.alpha == 2.0


def test_implicit_scores_cold_user_by_popularity() -> None:
    ds = small_dataset([(1, 10, 4.0, 0), (2, 10, 3.0, 0), (3, 10, 5.0, 0), (1, 20, 2.0, 0), (2, 30, 4.0, 0)])
    model = ImplicitALS(ImplicitConfig(n_factors=2)).fit(ds)
    assert [r.movie_id for r in recommend(model, None, k=3)][0] == 10
    assert not model.predicts_ratings


def test_a_sub_config_given_in_part_keeps_the_hybrids_defaults_for_the_rest() -> None:
    config = HybridConfig.from_dict({"ease": {"reg": 100.0}, "implicit": {"n_factors": 8}})
    assert config.ease.reg == 100.0 and config.ease.max_items == HybridConfig().ease.max_items == 2000
    assert config.implicit.n_factors == 8 and config.implicit.negative_below == HybridConfig().implicit.negative_below
    assert config.implicit.reg == HybridConfig().implicit.reg and config.ease_weight == HybridConfig().ease_weight


def test_a_sub_config_or_weight_of_the_wrong_type_is_refused_naming_it() -> None:
    with pytest.raises(DataValidationError, match="ease must be an object of EaseConfig keys; got 5"):
        HybridConfig.from_dict({"ease": 5})
    with pytest.raises(DataValidationError, match="ease_weight must be a number; got 'x'"):
        HybridConfig.from_dict({"ease_weight": "x"})
    assert HybridConfig.from_dict({"ease_weight": np.float32(0.25)}).ease_weight == np.float32(0.25)


def test_a_hybrid_config_file_without_ease_weight_keeps_todays_defaults(tmp_path: Path) -> None:
    from movierec.evaluation.tuning import model_from_file, read_config_file

    path = tmp_path / "hybrid.json"
    path.write_text('{"models": {"hybrid": {"ease": {"reg": 100.0}, "rating_weight": 0.02}}}')
    model = model_from_file("hybrid", read_config_file(path))
    default = HybridConfig()
    assert model.config.ease_weight == default.ease_weight > 0 and model.config.ease.reg == 100.0
    assert model.config.standardize is True and model.config.popularity_weight == default.popularity_weight
    assert model.config.rating_weight == 0.02
