"""What the service showed (exposures), what users did next (ratings, events), and online metrics.

Attribution rule (computed at query time, so it is exact and can be changed without rewriting rows):
a stored rating of film m by user u is *attributed* to the most recent exposure that showed m to u
at or before the rating's first write (``ratings.created_at``) and at most ``window_s`` seconds
(default ``ATTRIBUTION_WINDOW_S``, 7 days) before it. A rating first written before any exposure
of the film and only changed later is never attributed; each rating is attributed to at most one
exposure. Exposures of anonymous requests (``user_id`` null) can have events but no ratings.

Online metrics per model version and UTC day of the exposure:

* ``exposures``: lists answered; ``user_exposures``: those shown to a known user id;
* ``hit_rate``: share of ``user_exposures`` with at least one attributed rating (None when 0);
* ``mean_rating``: mean stars of the attributed ratings (None when none);
* ``coverage``: distinct films shown / films in the ``movies`` table;
* ``clicks``, ``dismissals``: events of the day's exposures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from movierec.errors import DatabaseError
from movierec.store.db import Event, Exposure, Movie, Rating

ATTRIBUTION_WINDOW_S = 7 * 86400
"""Longest time from an exposure to a rating attributed to it, in seconds (7 days)."""
EVENT_TYPES = ("clicked", "dismissed")
"""What ``POST /v1/events`` records."""

ExposureRow = tuple[str, int | None, str, str | None, str | None, float, Sequence[int]]
"""(request_id, user_id, model_version, experiment, arm, shown_at UTC epoch seconds, movie ids in rank order)."""


def encode_movies(movie_ids: Iterable[int]) -> str:
    """Films in rank order as stored in ``exposures.movie_ids`` ("|"-joined)."""
    return "|".join(str(int(m)) for m in movie_ids)


def decode_movies(text: str) -> list[int]:
    """The inverse of ``encode_movies``."""
    return [int(m) for m in text.split("|")] if text else []


def insert_exposures(engine: Engine, rows: Sequence[ExposureRow]) -> None:
    """Insert exposures in one transaction (one ``executemany``).

    Raises
    ------
    sqlalchemy.exc.SQLAlchemyError
        If the database refuses the write (the caller counts the rows as lost).
    """
    if not rows:
        return
    values = [
        {"request_id": r, "user_id": u, "model_version": v, "experiment": e, "arm": a, "shown_at": t,
         "movie_ids": encode_movies(m)}
        for r, u, v, e, a, t, m in rows
    ]  # fmt: skip
    with engine.begin() as c:
        c.execute(insert(Exposure), values)


def exposure_movies(engine: Engine, request_id: str) -> list[int] | None:
    """The films an exposure showed, in rank order, or None for an unknown ``request_id``."""
    with engine.connect() as c:
        found = c.execute(select(Exposure.movie_ids).where(Exposure.request_id == request_id)).scalar()
    return None if found is None else decode_movies(found)


def insert_event(engine: Engine, request_id: str, movie_id: int, type_: str, at: float) -> float:
    """Record a click or dismissal (``type_`` one of ``EVENT_TYPES``, checked by the caller), once.

    Returns
    -------
    float
        When the event was first recorded (``at``, or the earlier time of the same event).
    """
    ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    key = (Event.request_id == request_id) & (Event.movie_id == movie_id) & (Event.type == type_)
    with engine.begin() as c:
        c.execute(
            ins(Event)
            .values(request_id=request_id, movie_id=movie_id, type=type_, at=at)
            .on_conflict_do_nothing(index_elements=["request_id", "movie_id", "type"])
        )
        return float(c.execute(select(Event.at).where(key)).scalar_one())


_EXPOSURE_SCHEMA = {
    "request_id": pl.Utf8, "user_id": pl.Int64, "model_version": pl.Utf8, "experiment": pl.Utf8, "arm": pl.Utf8,
    "shown_at": pl.Float64, "movie_ids": pl.Utf8,
}  # fmt: skip


def exposures_frame(engine: Engine, since: float | None = None) -> pl.DataFrame:
    """Exposures shown at or after ``since`` (UTC epoch seconds; None = all), with a ``day`` column (UTC date).

    Raises
    ------
    DatabaseError
        If the database cannot be read (unreachable, or no ``exposures`` table: start the service once).
    """
    stmt = select(*(getattr(Exposure, c) for c in _EXPOSURE_SCHEMA))
    if since is not None:
        stmt = stmt.where(Exposure.shown_at >= since)
    rows = _read(engine, stmt)
    frame = pl.DataFrame(rows, schema=_EXPOSURE_SCHEMA, orient="row")
    return frame.with_columns(
        pl.from_epoch(pl.col("shown_at").floor().cast(pl.Int64), time_unit="s").dt.date().alias("day")
    )


def attributed_ratings(engine: Engine, exposures: pl.DataFrame, window_s: float = ATTRIBUTION_WINDOW_S) -> pl.DataFrame:
    """Ratings attributed to ``exposures`` by the rule in the module docstring.

    Parameters
    ----------
    exposures : polars.DataFrame
        As ``exposures_frame`` returns.
    window_s : float
        Attribution window in seconds.

    Returns
    -------
    polars.DataFrame
        One row per attributed rating: request_id, user_id, movie_id, rating (stars), rated_at.
    """
    empty = pl.DataFrame(
        schema={"request_id": pl.Utf8, "user_id": pl.Int64, "movie_id": pl.Int64, "rating": pl.Float64,
                "rated_at": pl.Int64}
    )  # fmt: skip
    shown = exposures.filter(pl.col("user_id").is_not_null())
    if shown.is_empty():
        return empty
    users = shown["user_id"].unique().to_list()
    start = int(shown["shown_at"].min())  # type: ignore[arg-type]
    rows: list[Any] = []
    for lo in range(0, len(users), 500):
        stmt = select(Rating.user_id, Rating.movie_id, Rating.rating, Rating.created_at).where(
            Rating.user_id.in_(users[lo : lo + 500]), Rating.created_at >= start
        )
        rows += _read(engine, stmt)
    if not rows:
        return empty
    ratings = pl.DataFrame(
        rows, schema={"user_id": pl.Int64, "movie_id": pl.Int64, "rating": pl.Float64, "rated_at": pl.Int64},
        orient="row",
    )  # fmt: skip
    items = (
        shown.filter(pl.col("movie_ids") != "")  # an empty list (nothing eligible) shows no film
        .select(
            "request_id",
            "user_id",
            "shown_at",
            pl.col("movie_ids").str.split("|").cast(pl.List(pl.Int64)).alias("movie_id"),
        )
        .explode("movie_id")
    )
    # A rating written in the same second as the exposure counts: created_at is whole seconds.
    return (
        items.join(ratings, on=["user_id", "movie_id"])
        .filter(
            (pl.col("shown_at").floor() <= pl.col("rated_at")) & (pl.col("rated_at") <= pl.col("shown_at") + window_s)
        )
        .sort(["shown_at", "request_id"], descending=True)
        .unique(["user_id", "movie_id"], keep="first", maintain_order=True)
        .select("request_id", "user_id", "movie_id", "rating", "rated_at")
    )


def events_frame(engine: Engine, since: float | None = None) -> pl.DataFrame:
    """Events of exposures shown at or after ``since``: request_id, movie_id, type, at."""
    stmt = select(Event.request_id, Event.movie_id, Event.type, Event.at).join(
        Exposure, Exposure.request_id == Event.request_id
    )
    if since is not None:
        stmt = stmt.where(Exposure.shown_at >= since)
    schema = {"request_id": pl.Utf8, "movie_id": pl.Int64, "type": pl.Utf8, "at": pl.Float64}
    return pl.DataFrame(_read(engine, stmt), schema=schema, orient="row")


def catalogue_size(engine: Engine) -> int:
    """Films in the ``movies`` table (the denominator of coverage)."""
    return int(_read(engine, select(func.count()).select_from(Movie))[0][0])


def with_hits(exposures: pl.DataFrame, attributed: pl.DataFrame) -> pl.DataFrame:
    """``exposures`` plus ``hit`` (bool: at least one attributed rating) and ``n_rated``."""
    per = attributed.group_by("request_id").agg(pl.len().alias("n_rated"))
    return exposures.join(per, on="request_id", how="left").with_columns(
        pl.col("n_rated").fill_null(0).cast(pl.Int64), (pl.col("n_rated").fill_null(0) > 0).alias("hit")
    )


def daily_metrics(
    engine: Engine,
    since: dt.date | None = None,
    window_s: float = ATTRIBUTION_WINDOW_S,
    frames: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> list[dict[str, Any]]:
    """The online metrics of the module docstring, one dict per (model_version, day), oldest day first.

    Parameters
    ----------
    since : datetime.date, optional
        First UTC day included (None = every exposure).
    window_s : float
        Attribution window in seconds.
    frames : (exposures, attributed), optional
        ``exposures_frame(engine, since)`` and its ``attributed_ratings``, when the caller has them.

    Raises
    ------
    DatabaseError
        If the database cannot be read.
    """
    start = None if since is None else dt.datetime.combine(since, dt.time(), dt.UTC).timestamp()
    if frames is None:
        exposures = exposures_frame(engine, start)
        attributed = attributed_ratings(engine, exposures, window_s)
    else:
        exposures, attributed = frames
    if exposures.is_empty():
        return []
    hits = with_hits(exposures, attributed)
    n_films = catalogue_size(engine)
    events = events_frame(engine, start).join(exposures.select("request_id", "model_version", "day"), on="request_id")
    shown = hits.with_columns(pl.col("movie_ids").str.split("|").alias("films"))
    rated = attributed.join(exposures.select("request_id", "model_version", "day"), on="request_id")
    out = []
    for (version, day), group in sorted(shown.group_by(["model_version", "day"]), key=lambda g: (g[0][1], g[0][0])):
        known = group.filter(pl.col("user_id").is_not_null())
        stars = rated.filter((pl.col("model_version") == version) & (pl.col("day") == day))["rating"]
        day_events = events.filter((pl.col("model_version") == version) & (pl.col("day") == day))["type"]
        films = group["films"].explode().filter(group["films"].explode() != "").n_unique()  # "" is an empty list
        out.append({
            "model_version": version, "day": day.isoformat(), "exposures": group.height,
            "user_exposures": known.height,
            "hit_rate": float(known["hit"].mean()) if known.height else None,  # type: ignore[arg-type]
            "mean_rating": float(stars.mean()) if len(stars) else None,  # type: ignore[arg-type]
            "coverage": films / n_films if n_films else None,
            "clicks": int((day_events == "clicked").sum()), "dismissals": int((day_events == "dismissed").sum()),
        })  # fmt: skip
    return out


def _read(engine: Engine, stmt: Any) -> list[Any]:
    try:
        with engine.connect() as c:
            return list(c.execute(stmt).all())
    except OperationalError as exc:
        raise DatabaseError(
            f"database {engine.url!r} cannot be read for outcomes ({' '.join(str(exc.orig).split())}); "
            "is it the service's database (--db), started at least once so its tables exist?"
        ) from exc


__all__ = [
    "ATTRIBUTION_WINDOW_S", "EVENT_TYPES", "ExposureRow", "attributed_ratings", "catalogue_size", "daily_metrics",
    "decode_movies", "encode_movies", "events_frame", "exposure_movies", "exposures_frame", "insert_event",
    "insert_exposures", "with_hits",
]  # fmt: skip
