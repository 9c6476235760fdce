"""The demo: one profile, the unguarded and the guarded top-10 side by side."""

from __future__ import annotations

from typing import Any

from movierec.data.profile import demo_profile
from movierec.models.base import Recommender
from movierec.ranking.recommend import recommend


def demo_lists(model: Recommender, k: int = 10, min_ratings: int | None = None) -> dict[str, Any]:
    """Fold in ``DEMO_PROFILE`` (in the model's ids and scale: ``demo_profile``); research beside production.

    ``unguarded`` ranks every film by predicted rating alone with no guard —
    explicit matrix factorization as published. ``guarded`` is the model's own
    ranking (for ``hybrid``: choice, liking and evidence) with the popularity
    guard ``min_ratings``.

    Returns
    -------
    dict
        ``{"profile": [...], "unguarded": [Recommendation...], "guarded": [...], "min_ratings": int}``
    """
    profile = demo_profile(model.movies_, model.scale_)
    state = model.fold_in([m for m, _ in profile], [r for _, r in profile])
    guard = model.policy.min_ratings if min_ratings is None else min_ratings
    return {
        "profile": profile,
        "unguarded": recommend(model, state, k=k, min_ratings=0, rank_by="rating"),
        "guarded": recommend(model, state, k=k, min_ratings=guard),
        "min_ratings": guard,
    }
