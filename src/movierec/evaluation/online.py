"""Online evaluation: the service's logged exposures and their outcomes, per day and per A/B arm.

``online_report`` gathers what ``movierec outcomes`` prints: the daily metrics of
``movierec.store.outcomes`` (exposures, hit rate, mean rating of shown films that were rated,
coverage, clicks and dismissals per model version and UTC day) and, when the exposures include an
A/B experiment, ``compare_arms`` of the most recent one.

The arms are compared on hit rate (share of a user's exposures followed by an attributed rating),
canary minus control, with a 95% user-level bootstrap interval (``ratio_difference``: each arm's
users resampled with all their exposures). An interval that straddles 0 is "too small to call".
Anonymous exposures are never in an arm.

References
----------
Kohavi, Tang, Xu. "Trustworthy Online Controlled Experiments". Cambridge University Press, 2020.
doi:10.1017/9781108653985 (ch. 18: the unit of analysis is the unit of randomisation, here the user).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from movierec.evaluation.intervals import Interval, ratio_difference
from movierec.store import outcomes

TOO_SMALL = "too small to call"


@dataclass(frozen=True)
class ArmStats:
    """One arm's totals: ``hit_rate`` = hits / exposures; ``mean_rating`` of its attributed ratings (or None)."""

    name: str
    version: str
    users: int
    exposures: int
    hits: int
    hit_rate: float
    mean_rating: float | None


@dataclass(frozen=True)
class ArmComparison:
    """The arms of one experiment and the canary − control difference of hit rate.

    Attributes
    ----------
    experiment : str
        The experiment id (``Registry.experiment().id``).
    control, canary : ArmStats
    interval : Interval or None
        Hit rate of canary minus control, 95% user bootstrap; None when an arm has no user exposures.
    verdict : str
        ``"canary <version> wins"``, ``"control <version> wins"`` or ``TOO_SMALL``.
    """

    experiment: str
    control: ArmStats | None
    canary: ArmStats | None
    interval: Interval | None
    verdict: str

    @property
    def winner(self) -> str | None:
        """The winning version, or None when the interval straddles 0."""
        if self.interval is None or not self.interval.excludes_zero or self.control is None or self.canary is None:
            return None
        return self.canary.version if self.interval.difference > 0 else self.control.version

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "control": None if self.control is None else asdict(self.control),
            "canary": None if self.canary is None else asdict(self.canary),
            "hit_rate_difference": None if self.interval is None else self.interval.to_dict(),
            "verdict": self.verdict,
            "winner": self.winner,
        }


def compare_arms(
    exposures: pl.DataFrame,
    attributed: pl.DataFrame,
    experiment: str | None = None,
    n_draws: int = 2000,
    seed: int = 0,
) -> ArmComparison | None:
    """Compare the arms of ``experiment`` (default: the one with the latest exposure); None if there is none.

    Parameters
    ----------
    exposures, attributed : polars.DataFrame
        As ``outcomes.exposures_frame`` and ``outcomes.attributed_ratings`` return.
    """
    arms = exposures.filter(pl.col("experiment").is_not_null() & pl.col("user_id").is_not_null())
    if arms.is_empty():
        return None
    if experiment is None:
        experiment = str(arms.sort("shown_at")["experiment"][-1])
    arms = outcomes.with_hits(arms.filter(pl.col("experiment") == experiment), attributed)
    stats: dict[str, ArmStats] = {}
    per_user: dict[str, pl.DataFrame] = {}
    for name in ("control", "canary"):
        rows = arms.filter(pl.col("arm") == name)
        if rows.is_empty():
            continue
        per_user[name] = (  # sorted: the bootstrap draws the same users for the same seed
            rows.group_by("user_id").agg(pl.len().alias("n"), pl.col("hit").sum().alias("hits")).sort("user_id")
        )
        stars = attributed.join(rows.select("request_id"), on="request_id")["rating"]
        stats[name] = ArmStats(
            name=name,
            version=str(rows["model_version"].mode().sort()[0]),
            users=per_user[name].height,
            exposures=rows.height,
            hits=int(rows["hit"].sum()),
            hit_rate=float(rows["hit"].mean()),  # type: ignore[arg-type]
            mean_rating=float(stars.mean()) if len(stars) else None,  # type: ignore[arg-type]
        )
    interval = None
    if len(per_user) == 2:
        a, b = per_user["control"], per_user["canary"]
        interval = ratio_difference(
            a["hits"].to_numpy().astype(np.float64), a["n"].to_numpy().astype(np.float64),
            b["hits"].to_numpy().astype(np.float64), b["n"].to_numpy().astype(np.float64),
            n_draws=n_draws, seed=seed,
        )  # fmt: skip
    verdict = TOO_SMALL
    if interval is not None and interval.excludes_zero:
        name = "canary" if interval.difference > 0 else "control"
        verdict = f"{name} {stats[name].version} wins"
    return ArmComparison(experiment, stats.get("control"), stats.get("canary"), interval, verdict)


def online_report(
    engine: Engine,
    since: dt.date | None = None,
    window_s: float = outcomes.ATTRIBUTION_WINDOW_S,
    n_draws: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Daily metrics and the latest experiment's comparison, as one JSON-ready dict.

    Returns
    -------
    dict
        ``since`` (ISO date or None), ``window_s``, ``days`` (``outcomes.daily_metrics`` rows) and
        ``experiment`` (``ArmComparison.to_dict()``, or None when no exposure was in an experiment).

    Raises
    ------
    DatabaseError
        If the database cannot be read.
    """
    start = None if since is None else dt.datetime.combine(since, dt.time(), dt.UTC).timestamp()
    exposures = outcomes.exposures_frame(engine, start)
    attributed = outcomes.attributed_ratings(engine, exposures, window_s)
    comparison = compare_arms(exposures, attributed, n_draws=n_draws, seed=seed)
    return {
        "since": None if since is None else since.isoformat(),
        "window_s": window_s,
        "days": outcomes.daily_metrics(engine, since, window_s, frames=(exposures, attributed)),
        "experiment": None if comparison is None else comparison.to_dict(),
    }


__all__ = ["TOO_SMALL", "ArmComparison", "ArmStats", "compare_arms", "online_report"]
