"""Seeded synthetic rating sets with MovieLens-like shape (power-law activity and popularity)."""

from __future__ import annotations

import numpy as np
import polars as pl

from movierec.data.dataset import Dataset, RatingScale

MAX_DEFAULT_DENSITY = 0.05
"""Largest share of the user × film matrix the default shape fills (ml-100k fills 6.3%, ml-latest-small 1.7%)."""
TOP_UP_ROUNDS = 64
"""Extra draws for the pairs lost to repeats; each round draws twice the missing count (at least 1,024)."""


def default_shape(n_ratings: int) -> tuple[int, int]:
    """(n_users, n_items) of ``synthetic_ratings`` when not given; see its ``n_users`` parameter."""
    n_users, n_items = max(2, n_ratings // 154), max(2, n_ratings // 423)
    widen = np.sqrt(n_ratings / (MAX_DEFAULT_DENSITY * n_users * n_items))
    if widen > 1:
        n_users, n_items = int(np.ceil(n_users * widen)), int(np.ceil(n_items * widen))
    return n_users, n_items


def _top_up(
    taken: np.ndarray, missing: int, n_items: int, pu: np.ndarray, pi: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``missing`` new distinct (user, item) positions drawn from the same laws, none in ``taken``.

    Keys are u · n_items + i; repeats within a round keep their first draw."""
    found: list[np.ndarray] = []
    seen = np.sort(taken)
    for _ in range(TOP_UP_ROUNDS):
        if missing <= 0:
            break
        m = max(2 * missing, 1024)
        key = rng.choice(pu.size, size=m, p=pu).astype(np.int64) * n_items + rng.choice(n_items, size=m, p=pi)
        _, idx = np.unique(key, return_index=True)
        key = key[np.sort(idx)]
        key = key[~np.isin(key, seen, assume_unique=True)][:missing]
        found.append(key)
        seen = np.union1d(seen, key)
        missing -= key.size
    keys = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return keys // n_items, keys % n_items


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
    part of the generated data, not of any model). Pairs are unique: a
    repeated (user, film) draw is replaced by further draws (from a second
    generator of the same seed, so the rows of the first draw do not depend
    on how many were missing) until ``n_ratings`` distinct pairs are found.

    Parameters
    ----------
    n_ratings : int
        Number of ratings. Exactly this many unless the users and films allow
        too few distinct pairs: at most n_users × n_items, and fewer when the
        power laws make the last pairs too rare to draw in ``TOP_UP_ROUNDS``
        (the ``movierec data synth`` command refuses such a shape and says so).
    n_users, n_items : int, optional
        Defaults scale like ML-25M, n_users ≈ n_ratings/154 and n_items ≈
        n_ratings/423, both widened by one factor (keeping their ratio) where
        that would fill more than ``MAX_DEFAULT_DENSITY`` of the matrix (below
        about 1.3M ratings; ML-25M itself fills 0.26%).
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
    n_users, n_items = n_users or default_shape(n_ratings)[0], n_items or default_shape(n_ratings)[1]
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
    n_first = u.size
    extra = np.random.default_rng([seed, 1])
    eu, ei = _top_up(key[first], n_ratings - n_first, n_items, user_w / user_w.sum(), item_w / item_w.sum(), extra)
    e = np.concatenate([rng.normal(0, noise, n_first), extra.normal(0, noise, eu.size)])
    span = span_days * 86400
    ts = np.concatenate([rng.integers(0, span, size=n_first), extra.integers(0, span, size=eu.size)])
    u, i = np.concatenate([u, eu]), np.concatenate([i, ei])
    r = 3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", P[u], Q[i]) + e
    r = np.clip(np.round(r * 2) / 2, 0.5, 5.0).astype(np.float32)
    ts = start + ts
    return pl.DataFrame(
        {
            "user_id": u.astype(np.int64) + 1,
            "movie_id": i.astype(np.int64) + 1,
            "rating": r,
            "timestamp": ts.astype(np.int64),
        }
    )


def synthetic_dataset(n_ratings: int, **kwargs: object) -> Dataset:
    """``synthetic_ratings`` wrapped as a ``Dataset`` (0.5-5 half-star scale)."""
    ratings = synthetic_ratings(n_ratings, **kwargs)  # type: ignore[arg-type]  # checked by synthetic_ratings
    return Dataset.from_frames(ratings, None, RatingScale(0.5, 5.0, 0.5), name="synthetic")
