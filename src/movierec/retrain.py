"""``retrain(spec) -> result``: retrain on the service's ratings, and publish only a candidate that earns it.

One run (``movierec retrain``; ``run_every`` repeats it):

1. **Skip** when the database holds fewer than ``min_new_ratings`` ratings newer than the current
   version's high-water mark (``HIGH_WATER``, recorded in its ``model.json`` metrics by the run that
   published it: the largest ``updated_at`` of the database ratings it trained on, the ratings of that
   exact second, and how many there were). A current version without a mark (published by
   ``movierec train``) counts every database rating as new. An empty registry never skips.
2. **Data** as ``train --from-db`` takes it: the base dataset plus every database rating (the
   database wins a pair both rate; catalogues must match), refused before training when the registry
   could not serve its ids (``require_servable_ids``).
3. **Model**: the current version's model with its config and ranking policy (its ``model.json``),
   or ``spec.model`` with that model's defaults (its current config when it is the same model).
4. **Gate** (``evaluation.gate``): the held-out rows are the newest ``holdout`` share (by time) of
   the ratings the current version did not train on, of users with older ratings; a candidate fitted
   on every other row is scored against the current version on them, and must be finite and within
   the margins. With nothing held out (every rating is in the current version) the run skips: there
   is nothing to judge a candidate on. An empty registry has no gate: the first version only needs
   to be finite.
5. **Refit and publish**: a passing candidate is refitted on every row, held-out ones included (the
   numbers of the gate are the holdout fit's), checked finite again, and published as the next
   version with the gate's numbers and the new high-water mark. A rejected candidate leaves the
   current version in place; the result says which check failed.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import FitError, MovierecError, ParameterError
from movierec.evaluation.gate import HOLDOUT_FRACTION, K, Margins, check_fraction, decide, finite_problem
from movierec.models import Recommender
from movierec.training import TrainSpec, build_model

HIGH_WATER = "db_high_water"
"""Key of the high-water mark in a version's ``model.json`` metrics (``high_water``): ``updated_at`` (UTC epoch
seconds, None for an empty database), ``at`` (the ratings used with that exact ``updated_at``), ``n_ratings``."""
GATE = "retrain_gate"
"""Key of the gate's record in a published version's ``model.json`` metrics."""


class Outcome(enum.StrEnum):
    """What a run did."""

    PUBLISHED = "published"
    SKIPPED = "skipped"
    REJECTED = "rejected"


@dataclass
class RetrainSpec:
    """What to retrain, on what, and how strictly to gate it.

    Attributes
    ----------
    data : str or Path
        The base dataset, as ``TrainSpec.data`` (a name in the data home, a folder or ratings file).
    db : str
        SQLAlchemy URL of the service's ratings database.
    registry : Path
        The registry whose current version the candidate must beat; it is published there.
    model : str, optional
        Model name; default the current version's (with its config and policy).
    min_new_ratings : int, default 0
        Skip unless the database holds this many ratings newer than the current version's mark.
    holdout : float, default ``HOLDOUT_FRACTION``
        Newest share of the ratings the current version did not train on that the gate holds out.
    margins : Margins
        How much worse than the current version a candidate may be.
    canary : float, optional
        Publish a candidate that passes the gate as a canary served to this percentage of users
        (``Registry.start_experiment``) instead of making it current; the current version, and so the
        high-water mark the next run compares with, stays. An empty registry's first version is
        always made current (a canary needs a version to be compared with).
    """

    data: str | Path
    db: str
    registry: Path
    model: str | None = None
    min_new_ratings: int = 0
    holdout: float = HOLDOUT_FRACTION
    margins: Margins = field(default_factory=Margins)
    canary: float | None = None

    def check(self) -> None:
        """Refuse bad options before any work.

        Raises
        ------
        ParameterError
            A negative ``min_new_ratings``, a ``holdout`` outside (0, 1), a negative or non-finite margin.
        """
        if not isinstance(self.min_new_ratings, int) or self.min_new_ratings < 0:
            raise ParameterError("min_new_ratings", "an integer >= 0", self.min_new_ratings)
        check_fraction(self.holdout)
        self.margins.check()
        if self.canary is not None and not 0 < self.canary < 100:
            raise ParameterError("canary", "a percentage strictly between 0 and 100", self.canary)


@dataclass
class RetrainResult:
    """What a run did and why.

    Attributes
    ----------
    outcome : Outcome
    reasons : list of str
        Why it skipped or was rejected (empty when published).
    notes : list of str
        Checks not made and why; what was published without a gate.
    previous : str or None
        The current version when the run started.
    version : str or None
        The version published (None unless ``outcome`` is published).
    canary : float or None
        The share of users (%) ``version`` was published to as a canary; None when it became current.
    model : str or None
        The model trained.
    new_ratings : int or None
        Database ratings newer than ``previous``'s high-water mark (None when not counted).
    high_water : dict or None
        The mark of the database ratings this run trained on.
    holdout : dict
        ``fraction`` and ``n_rows`` held out.
    candidate, current : dict or None
        Their ``evaluation.gate.score`` on the holdout.
    margins : Margins
    seconds : float
        Wall time of the run.
    """

    outcome: Outcome
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    previous: str | None = None
    version: str | None = None
    canary: float | None = None
    model: str | None = None
    new_ratings: int | None = None
    high_water: dict[str, Any] | None = None
    holdout: dict[str, Any] = field(default_factory=dict)
    candidate: dict[str, Any] | None = None
    current: dict[str, Any] | None = None
    margins: Margins = field(default_factory=Margins)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``movierec retrain --json`` prints, one object per run)."""
        return {
            "outcome": str(self.outcome), "reasons": self.reasons, "notes": self.notes, "previous": self.previous,
            "version": self.version, "canary": self.canary, "model": self.model, "new_ratings": self.new_ratings,
            "high_water": self.high_water, "holdout": self.holdout, "candidate": self.candidate,
            "current": self.current, "margins": {"ndcg": self.margins.ndcg, "rmse": self.margins.rmse},
            "k": K, "seconds": self.seconds,
        }  # fmt: skip


def new_ratings_since(engine: Any, mark: dict[str, Any] | None) -> int:
    """Database ratings newer than a high-water mark (every rating when there is no mark).

    Those with a later ``updated_at``, and those in the mark's own second that the mark does not list
    (written or changed in that second after the read): timestamps are whole seconds.
    """
    from movierec.store import db as store_db

    if not mark or mark.get("updated_at") is None:
        return store_db.count_ratings(engine)
    n_after, rows_at = store_db.ratings_after(engine, int(mark["updated_at"]))
    known = {(int(u), int(m), float(r)) for u, m, r in mark.get("at", [])}
    return n_after + sum(row not in known for row in rows_at)


def retrain(spec: RetrainSpec) -> RetrainResult:
    """One run of the module docstring's steps.

    Raises
    ------
    ParameterError
        Bad options (``RetrainSpec.check``).
    DataValidationError
        An unknown model, bad data, another dataset's catalogue, ids a registry cannot serve.
    DatabaseError
        The database cannot be read, holds no movierec tables, or holds another schema version.
    ArtifactError
        The registry's ``CURRENT`` is broken or its version cannot be loaded.
    """
    from movierec.store import db as store_db
    from movierec.store.registry import Registry

    t0 = time.perf_counter()
    spec.check()
    registry = Registry(spec.registry)
    previous = registry.current()
    meta = registry.read_meta(previous) if previous else None
    result = RetrainResult(Outcome.SKIPPED, previous=previous, margins=spec.margins)
    build = _builder(spec, meta)  # refuses an unknown model before anything slow
    result.model = build().name
    engine = store_db.make_engine(spec.db, existing=True)
    try:
        store_db.require_tables(engine, "no ratings to retrain on")
        if meta is not None:
            result.new_ratings = new_ratings_since(engine, meta.get("metrics", {}).get(HIGH_WATER))
            if result.new_ratings < spec.min_new_ratings:
                result.reasons.append(
                    f"{result.new_ratings} database ratings are newer than {previous}'s training data; "
                    f"the threshold is {spec.min_new_ratings}: kept {previous}"
                )
                return _done(result, t0)
        dataset, result.high_water = _data(spec, engine)
    finally:
        engine.dispose()
    if previous is None:
        result.notes.append("empty registry: the first version is published without a gate (finite values only)")
        final = _fit(build, dataset, result, "the model")
    else:
        final = _gate(spec, registry, previous, build, dataset, result)
    if final is not None:
        metrics = {HIGH_WATER: result.high_water, GATE: _record(result)}
        canary = spec.canary if previous is not None else None
        result.version = _publish(registry, final, metrics, canary)
        result.canary = canary
        result.outcome = Outcome.PUBLISHED
        if canary is not None:
            result.notes.append(f"published as a canary for {canary:g}% of users; {previous} stays current")
    return _done(result, t0)


def _builder(spec: RetrainSpec, meta: dict[str, Any] | None) -> Callable[[], Recommender]:
    """A function making the unfitted model to train (by ``training.build_model``, as ``train`` does)."""
    from movierec.models import config_and_policy

    name = spec.model or (meta["model"] if meta else "hybrid")
    train_spec = TrainSpec(data=spec.data, model=name)
    if meta is not None and meta["model"] == name:  # the current version's settings
        config, policy = config_and_policy(meta)
        train_spec.config, train_spec.policy_base = config, policy.to_dict()
    build_model(train_spec)
    return lambda: build_model(train_spec)


def _data(spec: RetrainSpec, engine: Any) -> tuple[Any, dict[str, Any]]:
    """The base dataset plus the database (read once), servable ids checked, and the mark of what was read."""
    from movierec.data.load import load_movielens
    from movierec.store import db as store_db
    from movierec.store.registry import require_servable_ids

    extra = store_db.ratings_frame(engine)
    dataset = store_db.with_db_ratings(load_movielens(spec.data), engine, extra)
    require_servable_ids(dataset.users, dataset.items)
    return dataset, high_water(extra)


def high_water(ratings: Any) -> dict[str, Any]:
    """The high-water mark (``HIGH_WATER``) of database ratings as ``store.db.ratings_frame`` reads them.

    Parameters
    ----------
    ratings : polars.DataFrame
        With ``user_id``, ``movie_id``, ``rating`` and ``timestamp`` (the rows' ``updated_at``, UTC epoch seconds).

    Returns
    -------
    dict
        ``updated_at`` (the largest, or None for no rows), ``at`` (the ``[user_id, movie_id, rating]`` rows
        with exactly that value, sorted: a rating written in the same second after the read is told apart),
        ``n_ratings``.
    """
    import polars as pl

    if ratings.is_empty():
        return {"updated_at": None, "at": [], "n_ratings": 0}
    top = int(ratings["timestamp"].max())
    at = ratings.filter(pl.col("timestamp") == top).select("user_id", "movie_id", "rating").iter_rows()
    return {"updated_at": top, "at": sorted([int(u), int(m), float(r)] for u, m, r in at), "n_ratings": ratings.height}


def _fit(build: Callable[[], Recommender], data: Any, result: RetrainResult, what: str) -> Recommender | None:
    """``build().fit(data)``, or None with the reason in ``result`` when it is not finite."""
    try:
        model = build().fit(data)
    except FitError as exc:
        result.outcome = Outcome.REJECTED
        result.reasons.append(f"{what} is not finite: {exc}")
        return None
    problem = finite_problem(model)
    if problem:
        result.outcome = Outcome.REJECTED
        result.reasons.append(f"{what} is not finite: {problem}")
        return None
    return model


def _gate(
    spec: RetrainSpec, registry: Any, previous: str, build: Callable[[], Recommender], data: Any, result: RetrainResult
) -> Recommender | None:
    """Fit a candidate without the holdout, score both versions, decide; refit on every row when it passes."""
    from movierec.evaluation.gate import MIN_HOLDOUT_USERS, holdout_mask, score
    from movierec.evaluation.splits import Split

    _, current = registry.load(previous)
    mask = holdout_mask(data, spec.holdout, seen_by=current)
    n_users = int(np.unique(data.ratings["user_id"].to_numpy()[mask]).size)
    result.holdout = {"fraction": spec.holdout, "n_rows": int(mask.sum()), "n_users": n_users}
    if not mask.any():
        result.reasons.append(
            f"no rating that {previous} did not train on (of a user with older ratings) to hold out: "
            f"nothing to judge a candidate on; kept {previous}"
        )
        return None
    if n_users < MIN_HOLDOUT_USERS:
        result.reasons.append(
            f"the holdout has {n_users} users, fewer than the {MIN_HOLDOUT_USERS} the gate needs to judge; "
            f"kept {previous} (wait for more new ratings: --min-new-ratings)"
        )
        return None
    split = Split.from_mask(data, mask, "retrain holdout")
    candidate = _fit(build, split.train, result, "the candidate")
    if candidate is None:
        return None
    result.candidate = score(candidate, split.train, split.test)
    result.current = score(current, split.train, split.test)
    result.holdout["n_users_ranked"] = result.candidate["n_users_ranked"]
    verdict = decide(result.candidate, result.current, spec.margins)
    result.notes.extend(verdict.notes)
    if not verdict.passed:
        result.outcome = Outcome.REJECTED
        result.reasons.extend(verdict.reasons)
        result.reasons.append(f"kept {previous}")
        return None
    return _fit(build, data, result, "the refit on every row")


def _record(result: RetrainResult) -> dict[str, Any]:
    """What a published version's ``model.json`` keeps of the gate."""
    return {
        "previous": result.previous, "holdout": result.holdout, "candidate": result.candidate,
        "current": result.current, "margins": {"ndcg": result.margins.ndcg, "rmse": result.margins.rmse},
        "k": K, "notes": result.notes,
    }  # fmt: skip


def _publish(registry: Any, model: Recommender, metrics: dict[str, Any], canary: float | None) -> str:
    """Publish as the next current version, or as the canary of a new experiment when ``canary`` is a share."""
    if canary is None:
        return str(registry.publish(model, metrics))
    version = str(registry.publish(model, metrics, current=False))
    registry.start_experiment(version, canary)
    return version


def _done(result: RetrainResult, t0: float) -> RetrainResult:
    result.seconds = time.perf_counter() - t0
    return result


def run_every(
    spec: RetrainSpec,
    every_s: float,
    stop: threading.Event,
    on_result: Callable[[RetrainResult], None],
    on_error: Callable[[MovierecError], None],
) -> int:
    """Run ``retrain(spec)`` now and then every ``every_s`` seconds until ``stop`` is set.

    ``stop`` is only looked at between runs: a run in progress finishes (a publish is atomic either
    way). A run that raises a ``MovierecError`` (an unreachable database, say) is reported to
    ``on_error`` and the loop goes on; the next run tries again.

    Returns
    -------
    int
        Number of runs made.

    Raises
    ------
    ParameterError
        If ``every_s`` is not a positive finite number of seconds, or from ``RetrainSpec.check``.
    """
    if not (isinstance(every_s, int | float) and 0 < every_s < float("inf")):
        raise ParameterError("every", "a positive duration (e.g. 6h, 30m, 90s)", every_s)
    spec.check()
    runs = 0
    while not stop.is_set():
        runs += 1
        try:
            on_result(retrain(spec))
        except MovierecError as exc:
            on_error(exc)
        if stop.wait(every_s):
            break
    return runs


__all__ = [
    "GATE",
    "HIGH_WATER",
    "Outcome",
    "high_water",
    "RetrainResult",
    "RetrainSpec",
    "new_ratings_since",
    "retrain",
    "run_every",
]
