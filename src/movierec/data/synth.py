"""Seeded synthetic rating sets with MovieLens-like shape (power-law activity and popularity)."""

from __future__ import annotations

import numpy as np
import polars as pl

from movierec.data.dataset import Dataset, RatingScale


def synthetic_ratings(
    n_ratings: int,
    n_users: int | None = None,
    n_items: int | None = None,
    *,
    n_factors: int = 8,
    noise: float = 0.5,
    seed: int = 0,
    start: int = 1_000_000_000,
    span_days: int = 3650,
) -> pl.DataFrame:
    """Generate ratings from a planted low-rank model with power-law marginals.

    User activity and item popularity follow Zipf-like laws (exponents ~1.0
    and ~1.2, as in MovieLens); each rating is μ + b_u + b_i + p_u·q_i + noise,
    rounded to half stars and clipped to [0.5, 5] (rounding and clipping are
    part of the generated data, not of any model). Pairs are unique.

    Parameters
    ----------
    n_ratings : int
        Target number of ratings (the result may be up to ~1% smaller after
        removing repeated pairs).
    n_users, n_items : int, optional
        Defaults scale like ML-25M: n_users ≈ n_ratings/154, n_items ≈ n_ratings/423.
    n_factors : int
        Rank of the planted model.
    noise : float
        Standard deviation of the Gaussian noise, in stars.
    seed : int
        Everything is determined by the seed.
    start : int
        First timestamp, UTC epoch seconds; timestamps spread over ``span_days``.

    Returns
    -------
    polars.DataFrame with columns user_id, movie_id (Int64, 1-based), rating
    (Float32), timestamp (Int64)
    """
    rng = np.random.default_rng(seed)
    n_users = n_users or max(2, n_ratings // 154)
    n_items = n_items or max(2, n_ratings // 423)
    user_w = 1.0 / np.arange(1, n_users + 1) ** 0.6
    item_w = 1.0 / np.arange(1, n_items + 1) ** 0.9
    rng.shuffle(user_w)
    rng.shuffle(item_w)
    oversample = int(n_ratings * 1.15) + 16
    u = rng.choice(n_users, size=oversample, p=user_w / user_w.sum())
    i = rng.choice(n_items, size=oversample, p=item_w / item_w.sum())
    key = u.astype(np.int64) * n_items + i
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)[:n_ratings]
    u, i = u[first], i[first]
    P = rng.standard_normal((n_users, n_factors)).astype(np.float32) * 0.35
    Q = rng.standard_normal((n_items, n_factors)).astype(np.float32) * 0.35
    bu = rng.normal(0, 0.3, n_users).astype(np.float32)
    bi = rng.normal(0, 0.4, n_items).astype(np.float32)
    r = 3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", P[u], Q[i]) + rng.normal(0, noise, u.size)
    r = np.clip(np.round(r * 2) / 2, 0.5, 5.0).astype(np.float32)
    ts = start + rng.integers(0, span_days * 86400, size=u.size)
    return pl.DataFrame(
        {"user_id": u.astype(np.int64) + 1, "movie_id": i.astype(np.int64) + 1, "rating": r, "timestamp": ts.astype(np.int64)}
    )


def synthetic_dataset(n_ratings: int, **kwargs: object) -> Dataset:
    """``synthetic_ratings`` wrapped as a ``Dataset`` (0.5-5 half-star scale)."""
    return Dataset.from_frames(synthetic_ratings(n_ratings, **kwargs), None, RatingScale(0.5, 5.0, 0.5), name="synthetic")  # type: ignore[arg-type]
