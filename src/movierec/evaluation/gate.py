"""The retrain gate: a time holdout the current version has not seen, both versions scored on it, margins.

``movierec retrain`` (``movierec.retrain``) asks three questions of a candidate model before it
replaces the current version of a registry; this module answers them without any I/O:

* **Holdout** (``holdout_mask``): of the rows the current version did not train on (``seen_mask``:
  its training matrix lacks the pair or holds another value), the newest ``fraction`` by timestamp,
  kept only where the user also has a row before that cutoff (the candidate knows every held-out
  user). The candidate is fitted on every other row, so it learns from the older new ratings and is
  judged on the newest ones; the current version was fitted on none of them. Scoring the current
  version on its own training rows would measure its fit, not its forecast, and reject every fair
  candidate.
* **Scores** (``score``): RMSE over every held-out row (users or films a version does not know get
  its cold-start fallback, as ``evaluate`` predicts; ``None`` for ranking-only models), and NDCG@k
  (binary gain) of every held-out user's list ranked as the service serves a user with stored
  ratings: folded in from the ratings known of them, which are excluded. Both versions rank the same
  users from the same ratings; the metrics are ``evaluation.metrics``', as ``evaluate`` uses.
* **Verdict** (``decide``): the candidate passes unless its NDCG@k is below the current version's
  by more than ``Margins.ndcg``, or its RMSE above by more than ``Margins.rmse`` (absolute
  differences, in NDCG units and in stars), or a score is not finite. A metric that one side
  cannot give is not compared, and the verdict says so.

References
----------
Järvelin, Kekäläinen. "Cumulated gain-based evaluation of IR techniques". ACM TOIS 20(4), 2002.
doi:10.1145/582415.582418
Meng, McCreadie, Macdonald, Ounis. "Exploring data splitting strategies for the evaluation of
recommendation models". RecSys 2020. doi:10.1145/3383313.3418479
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from movierec.data.dataset import Dataset
from movierec.errors import FitError, ParameterError
from movierec.evaluation.metrics import ndcg_at_k, rating_metrics
from movierec.models import Recommender
from movierec.ranking.index import index_for
from movierec.ranking.lists import rank_states
from movierec.ranking.scoring import resolve_policy

HOLDOUT_FRACTION = 0.2
"""Newest share (by timestamp) of the ratings the current version did not train on that the gate holds out."""
MARGIN_NDCG = 0.01
"""Largest drop of NDCG@k (absolute) a candidate may show against the current version."""
MARGIN_RMSE = 0.01
"""Largest rise of RMSE (absolute, in stars) a candidate may show against the current version."""
K = 10
"""List length of the gate's NDCG."""
MIN_HOLDOUT_USERS = 10
"""Fewest distinct users in the holdout for the gate to judge at all: below it a run skips (a verdict
from a handful of users is chance: one published and one rejected the same candidate on one row)."""


@dataclass(frozen=True)
class Margins:
    """How much worse than the current version a candidate may be and still be published.

    Attributes
    ----------
    ndcg : float, default ``MARGIN_NDCG``
        Absolute NDCG@k drop allowed (0 = must be at least as good).
    rmse : float, default ``MARGIN_RMSE``
        Absolute RMSE rise allowed, in stars.

    Raises
    ------
    ParameterError
        From ``check``: a margin that is negative or not finite.
    """

    ndcg: float = MARGIN_NDCG
    rmse: float = MARGIN_RMSE

    def check(self) -> None:
        for name, value in (("margin_ndcg", self.ndcg), ("margin_rmse", self.rmse)):
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(name, "a finite number >= 0", value)


@dataclass
class Verdict:
    """The gate's answer.

    Attributes
    ----------
    passed : bool
    reasons : list of str
        One line per failed check (empty when ``passed``), naming the metric and both values.
    notes : list of str
        Checks that could not be made, and why.
    """

    passed: bool
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_fraction(fraction: float) -> None:
    """Refuse a holdout fraction outside (0, 1).

    Raises
    ------
    ParameterError
        Naming ``holdout``.
    """
    if not (isinstance(fraction, int | float) and 0.0 < float(fraction) < 1.0):
        raise ParameterError("holdout", "a fraction strictly between 0 and 1 (e.g. 0.1)", fraction)


def seen_mask(model: Recommender, ratings: pl.DataFrame) -> np.ndarray:
    """Which rows ``model`` trained on: the pair is in its training matrix with the same rating.

    Parameters
    ----------
    model : fitted Recommender
    ratings : polars.DataFrame of n_ratings rows with ``user_id``, ``movie_id``, ``rating``

    Returns
    -------
    ndarray of shape (n_ratings,), bool
    """
    u = model.users_.positions(ratings["user_id"].to_list())
    i = model.items_.positions(ratings["movie_id"].to_list())
    known = (u >= 0) & (i >= 0)
    seen = np.zeros(ratings.height, dtype=bool)
    if known.any():
        stored = np.asarray(model.user_items_[u[known], i[known]]).ravel()
        seen[known] = stored == ratings["rating"].to_numpy()[known]
    return seen


def holdout_mask(data: Dataset, fraction: float = HOLDOUT_FRACTION, seen_by: Recommender | None = None) -> np.ndarray:
    """The gate's held-out rows (module docstring): the newest unseen rows, of users with older rows.

    Parameters
    ----------
    data : Dataset
        Every row the candidate may train on (base dataset plus database).
    fraction : float in (0, 1)
        Share of the rows ``seen_by`` did not train on (all rows without it) that is held out, newest
        first: the cutoff is the timestamp at sorted position ``round((1 - fraction) * n_unseen)`` of
        the unseen rows (the last one when that is past the end, so one row at least is recent), and
        every unseen row at or after it is recent (ties go to the holdout).
    seen_by : fitted Recommender, optional
        The current version; its training rows (``seen_mask``) are never held out.

    Returns
    -------
    ndarray of shape (n_ratings,), bool
        True = held out: recent, unseen, and of a user with a row (seen or not) before the cutoff.
        All False when ``seen_by`` trained on every row or no recent row's user has an older one.

    Raises
    ------
    ParameterError
        If ``fraction`` is not in (0, 1).
    """
    check_fraction(fraction)
    ts = data.ratings["timestamp"].to_numpy()
    unseen = np.ones(ts.size, dtype=bool) if seen_by is None else ~seen_mask(seen_by, data.ratings)
    if not unseen.any():
        return unseen
    new = np.sort(ts[unseen], kind="stable")
    cut = new[min(int(round((1.0 - float(fraction)) * new.size)), new.size - 1)]
    users = data.ratings["user_idx"].to_numpy()
    has_older = np.zeros(data.n_users, dtype=bool)
    has_older[users[ts < cut]] = True
    return unseen & (ts >= cut) & has_older[users]


def score(model: Recommender, history: Dataset, holdout: Dataset, k: int = K) -> dict[str, Any]:
    """RMSE of ``model`` on every held-out row, and NDCG@k of every held-out user's list as served.

    Parameters
    ----------
    model : fitted Recommender
    history : Dataset
        The rows the candidate trained on; a held-out user's rows here are what the service knows of
        them (training ratings and stored ratings), folded in to rank their list.
    holdout : Dataset
        The held-out rows (ratings in stars, timestamps in UTC epoch seconds).
    k : int

    Returns
    -------
    dict
        ``rmse`` (stars; None for a ranking-only model), ``n_pairs``, ``n_cold_pairs`` (rows whose
        user or film the model does not know: its cold-start fallback, as ``evaluate`` predicts),
        ``ndcg`` (binary gain, mean over held-out users), ``n_users_ranked``.

    Notes
    -----
    Lists are ranked as the service ranks a user with stored ratings (``service.core``): their state
    is ``model.fold_in`` of their known ratings, those films are excluded, the model's policy applies
    (guard, rank_by), and held-out films lose every tie (the pessimistic rule of ``evaluate``). So both
    versions rank the same users from the same ratings, whether or not they trained on them;
    ``ranking_metrics`` ranks the learned state of training users instead, which would score the
    current version without the ratings the service folds in for it, and leave out its unknown users.
    """
    out: dict[str, Any] = {"rmse": None, "n_pairs": holdout.n_ratings, "n_cold_pairs": None}
    r = holdout.ratings
    if model.predicts_ratings:
        pred = model.predict(r["user_id"].to_list(), r["movie_id"].to_list(), r["timestamp"].to_numpy())
        rm = rating_metrics(r["rating"].to_numpy(), pred.rating, pred.cold_start)
        out.update(rmse=rm.rmse, n_cold_pairs=rm.n_cold)
    known = history.ratings.filter(pl.col("user_id").is_in(r["user_id"].unique().implode()))
    rated = {u: (m, v) for u, m, v in known.group_by("user_id").agg("movie_id", "rating").iter_rows()}
    policy, index = resolve_policy(model), index_for(model)
    ndcg = []
    for user, movies, stars in r.group_by("user_id").agg("movie_id", "rating").iter_rows():
        state = model.fold_in(*rated.get(user, ([], [])))
        pos = model.items_.positions(movies)
        grades = {(int(p) if p >= 0 else ("unknown", m)): float(g) for p, m, g in zip(pos, movies, stars, strict=True)}
        cols = np.unique(pos[pos >= 0])
        demote = sp.csr_matrix(
            (np.ones(cols.size, dtype=np.float32), cols, np.array([0, cols.size])), shape=(1, model.n_items)
        )
        ranked = rank_states(model, state, k, policy, index=index, demote=demote, ties="pessimistic")
        top = ranked.item_idx[0]
        ndcg.append(ndcg_at_k(top[top >= 0].tolist(), grades, k, gain="binary"))
    out.update(ndcg=float(np.mean(ndcg)) if ndcg else None, n_users_ranked=len(ndcg))
    return out


def finite_problem(model: Recommender) -> str | None:
    """Why a fitted model may not be published for being non-finite (``Recommender.check_finite``), or None."""
    try:
        model.check_finite()
    except FitError as exc:
        return str(exc)
    return None


def decide(candidate: dict[str, Any], current: dict[str, Any], margins: Margins, k: int = K) -> Verdict:
    """Compare the ``score`` of a candidate with the current version's under ``margins`` (module docstring)."""
    verdict = Verdict(True)
    for key, label, worse in (("ndcg", f"NDCG@{k}", -1.0), ("rmse", "RMSE", 1.0)):
        cand, cur = candidate.get(key), current.get(key)
        margin = margins.ndcg if key == "ndcg" else margins.rmse
        if cand is not None and not math.isfinite(cand):
            verdict.reasons.append(f"{label}: the candidate's is {cand} (not finite)")
        elif cand is None or cur is None:
            side = "the candidate" if cand is None else "the current version"
            verdict.notes.append(f"{label} not compared: {side} gives none")
        elif worse * (cand - cur) > margin + 1e-12:  # exactly at the margin passes, whatever the rounding
            how = "below" if key == "ndcg" else "above"
            verdict.reasons.append(
                f"{label} {cand:.4f} is {how} the current version's {cur:.4f} by {abs(cand - cur):.4f}, "
                f"more than the margin {margin:g}"
            )
    verdict.passed = not verdict.reasons
    return verdict


__all__ = [
    "HOLDOUT_FRACTION",
    "K",
    "MARGIN_NDCG",
    "MARGIN_RMSE",
    "Margins",
    "Verdict",
    "check_fraction",
    "decide",
    "finite_problem",
    "holdout_mask",
    "score",
    "seen_mask",
]
