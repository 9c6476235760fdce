"""The ratings database: movies, users and ratings through SQLAlchemy 2.

Any SQLAlchemy URL works; two are tested:

* SQLite (the default, ``sqlite:///movierec.db``): one embedded file in WAL
  mode (readers never block the writer), ``synchronous=FULL`` (a committed
  write survives a crash), ``foreign_keys=ON`` and a busy timeout (10 s by
  default), so concurrent writers queue for the one write lock instead of
  failing; a write still waiting after that raises ``database is locked``.
* PostgreSQL for production, e.g. ``postgresql+psycopg2://user@host:5432/db``.

Tables (schema version 2, recorded in ``movierec_meta``)::

    movies   movie_id BIGINT PK, title, year, genres ("|"-joined)
    users    user_id BIGINT PK, created_at (UTC epoch seconds),
             token_hash, token_key (NULL: no token; see ``store.tokens``)
    ratings  (user_id FK, movie_id FK) PK, rating REAL (stars),
             created_at, updated_at (UTC epoch seconds)

One rating per user and film: a write is an ``INSERT ... ON CONFLICT DO
UPDATE`` (an upsert), atomic on both engines, so concurrent writers can never
double a row. ``init_db`` creates missing tables and refuses a database of
another schema version; ``upgrade`` migrates an older one in place (``UPGRADES``:
version 1 -> 2 adds the token columns to ``users``).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from movierec.data.dataset import Dataset
from movierec.errors import (
    DatabaseError,
    DataValidationError,
    UnknownIdError,
)  # DatabaseError re-exported: store.db.DatabaseError

SCHEMA_VERSION = 2
DEFAULT_URL = "sqlite:///movierec.db"
MAX_ID = 2**53 - 1
"""Largest user or movie id the service takes: JavaScript's ``Number.MAX_SAFE_INTEGER``, so the web
page (and any JSON client that reads numbers as doubles) holds every id exactly, and ``POST
/v1/users`` can always allocate one above every stored id inside BIGINT (an id of 2**63 - 1 stored
through ``PUT`` once made every later allocation overflow: HTTP 500 for everyone)."""


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the database (``schema_version``)."""

    __tablename__ = "movierec_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Movie(Base):
    """A catalogue entry."""

    __tablename__ = "movies"
    movie_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(1000))
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    genres: Mapped[str] = mapped_column(String(1000), default="")


class User(Base):
    """A user known to the service: created by ``POST /v1/users`` (with a token), or a training user
    given ratings by the admin (no token)."""

    __tablename__ = "users"
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    token_hash: Mapped[str | None] = mapped_column(String(255), nullable=True, default=None)
    token_key: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None, index=True)


class Rating(Base):
    """One user's rating of one film, in stars; timestamps in UTC epoch seconds."""

    __tablename__ = "ratings"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.movie_id"), primary_key=True)
    rating: Mapped[float] = mapped_column(Float)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


# ---------------------------------------------------------------- exposures and outcomes
# Created by ``init_db``'s ``create_all`` in new and existing databases alike (no schema version change);
# written by ``movierec.service.exposures``, read by ``movierec.store.outcomes``.
class Exposure(Base):
    """One recommendation list as the service answered it.

    ``movie_ids`` holds the films in rank order, "|"-joined (rank 1 first): one row per list keeps the
    service's batched writes small. ``arm`` and ``experiment`` are null outside an A/B experiment.
    """

    __tablename__ = "exposures"
    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    experiment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    arm: Mapped[str | None] = mapped_column(String(16), nullable=True)
    shown_at: Mapped[float] = mapped_column(Float, index=True)
    movie_ids: Mapped[str] = mapped_column(String(4000))


class Event(Base):
    """A click or dismissal of a shown film (``POST /v1/events``); ``at`` in UTC epoch seconds.

    One row per (request_id, movie_id, type): a repeated event is the same event (the first is kept).
    """

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("request_id", "movie_id", "type", name="events_once"),)
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("exposures.request_id", ondelete="CASCADE"), index=True)
    movie_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[float] = mapped_column(Float)


BUSY_TIMEOUT_S = 10.0
"""Longest wait of a SQLite write for the database's write lock, in seconds."""


def make_engine(
    url: str = DEFAULT_URL, busy_timeout_s: float = BUSY_TIMEOUT_S, existing: bool = False, **kwargs: Any
) -> Engine:
    """An engine for ``url`` with the SQLite settings above applied on every connection.

    ``busy_timeout_s`` is SQLite's busy timeout (ignored by other databases). ``existing``: the
    database must already exist (commands that only read or upgrade one); SQLite would otherwise
    create an empty file at a mistyped path.

    Raises
    ------
    DataValidationError
        If the URL cannot be parsed or names an unknown driver.
    DatabaseError
        With ``existing``, if the URL names a SQLite file that does not exist.

    A plain ``postgresql://`` (or ``postgres://``) URL, as hosting platforms hand
    out, uses psycopg2, the driver movierec installs (SQLAlchemy 2.1 would pick
    psycopg 3, which is not installed).
    """
    try:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg2")
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise DataValidationError(
            f"database URL {url!r} is not usable ({exc}); e.g. sqlite:///movierec.db or postgresql+psycopg2://user@host:5432/db"
        ) from exc
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if existing and path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
            raise DatabaseError(
                f"database {url!r}: the file {path} does not exist; check the path, or create the database "
                f"with `movierec db init --db {url}`"
            )
        busy_ms = max(0, round(busy_timeout_s * 1000))

        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")  # first: switching to WAL may itself wait for the lock
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _unreachable(engine: Engine, exc: OperationalError) -> DatabaseError:
    """The error for a database that does not answer, the driver's message on one line (psycopg2's carry a newline)."""
    return DatabaseError(f"database {engine.url!r} is not reachable: {' '.join(str(exc.orig).split())}")


def ping(engine: Engine) -> None:
    """Check that the database answers and, if it already holds movierec's tables, their schema version.

    Raises
    ------
    DatabaseError
        If the database cannot be reached or holds another schema version.
    """
    try:
        with engine.connect() as c:
            _check_version(_stored_version(c))
    except OperationalError as exc:
        raise _unreachable(engine, exc) from exc


def require_tables(engine: Engine, why: str) -> None:
    """Refuse a database without movierec's tables (a new file, a wrong URL) or of another schema version.

    Raises
    ------
    DatabaseError
        If the database cannot be reached, holds another schema version, or holds no movierec tables
        (the message says ``why`` that matters and how to create them).
    """
    try:
        with engine.connect() as c:
            found = _stored_version(c)
    except OperationalError as exc:
        raise _unreachable(engine, exc) from exc
    _check_version(found)
    if found is None:
        raise DatabaseError(
            f"database {engine.url.render_as_string(hide_password=True)} holds no movierec tables ({why}); "
            "check the URL, or create them with `movierec db init --db URL`"
        )


def init_db(engine: Engine) -> None:
    """Create missing tables and record the schema version (idempotent).

    Raises
    ------
    DatabaseError
        If the database is unreachable or holds another schema version (an older one names
        ``movierec db upgrade``); nothing is created then.
    """
    try:
        with engine.connect() as c:
            _check_version(_stored_version(c))
        _create_tables(engine)
        with Session(engine) as s, s.begin():
            found = s.get(Meta, "schema_version")
            if found is None:
                _insert(engine, Meta, [{"key": "schema_version", "value": str(SCHEMA_VERSION)}], ["key"], s)
            else:
                _check_version(found.value)
    except OperationalError as exc:
        raise _unreachable(engine, exc) from exc


def _stored_version(conn: Any) -> str | None:
    """The recorded schema version, or None for a database without movierec's tables."""
    if not inspect(conn).has_table(Meta.__tablename__):
        return None
    return conn.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar()  # type: ignore[no-any-return]


def _check_version(found: str | None) -> None:
    if found is None or found == str(SCHEMA_VERSION):
        return
    if found.isdigit() and int(found) in UPGRADES:
        raise DatabaseError(
            f"database schema version {found}, this movierec uses {SCHEMA_VERSION}; upgrade it in place with "
            "`movierec db upgrade --db URL` (the service and `db init` refuse it until then)"
        )
    raise DatabaseError(
        f"database schema version {found}, this movierec uses {SCHEMA_VERSION}; use a movierec that knows "
        "that version, or a new database"
    )


def _v1_to_v2(conn: Any) -> None:
    """Version 1 -> 2: the token columns of ``users`` (existing users get none) and their index."""
    have = {c["name"] for c in inspect(conn).get_columns(User.__tablename__)}
    if "token_hash" not in have:
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN token_hash VARCHAR(255)")
    if "token_key" not in have:
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN token_key VARCHAR(32)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_users_token_key ON users (token_key)")


UPGRADES = {1: _v1_to_v2}
"""Schema version -> the step that upgrades it to the next version (idempotent)."""


def upgrade(engine: Engine) -> tuple[int | None, int]:
    """Upgrade the database in place to ``SCHEMA_VERSION`` (idempotent), then create missing tables.

    Each step runs in a transaction with its version bump and skips what is already done, so an
    interrupted upgrade finishes when run again. A database without movierec's tables is simply
    initialised.

    Returns
    -------
    (int or None, int)
        The version found (None: a new database) and the version now.

    Raises
    ------
    DatabaseError
        If the database is unreachable, or holds a version this movierec does not know.
    """
    try:
        with engine.connect() as c:
            found = _stored_version(c)
        if found is None:
            init_db(engine)
            return None, SCHEMA_VERSION
        if not found.isdigit() or not (int(found) in UPGRADES or int(found) == SCHEMA_VERSION):
            _check_version(found)
        version = int(found)
        while version < SCHEMA_VERSION:
            with engine.begin() as c:
                if engine.dialect.name == "postgresql":
                    c.exec_driver_sql("LOCK TABLE movierec_meta IN ACCESS EXCLUSIVE MODE")  # one upgrader at a time
                now_at = int(c.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar_one())
                if now_at == version:
                    UPGRADES[version](c)
                    c.execute(update(Meta).where(Meta.key == "schema_version").values(value=str(version + 1)))
            version += 1
        init_db(engine)  # new tables of this version (``create_all``)
        return int(found), SCHEMA_VERSION
    except OperationalError as exc:
        raise _unreachable(engine, exc) from exc


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    """``create_all``, retried: worker processes starting together may race to create the same table."""
    for attempt in range(attempts):
        try:
            Base.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if attempt == attempts - 1 or "exist" not in str(exc.orig).lower():
                raise
            time.sleep(0.2 * (attempt + 1))


def _insert(
    engine: Engine,
    table: type[Base],
    rows: list[dict[str, Any]],
    keys: list[str],
    session: Session,
    update: Sequence[str] = (),
) -> None:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING / DO UPDATE SET update``."""
    ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    if engine.dialect.name not in ("postgresql", "sqlite"):
        raise DatabaseError(f"upserts are implemented for SQLite and PostgreSQL, not {engine.dialect.name}")
    stmt = ins(table).values(rows)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    session.execute(stmt)


OTHER_CATALOGUE_SHARE = 0.2
"""Share of shared movie ids whose title differs above which a catalogue is another dataset's."""
OTHER_CATALOGUE_MIN = 10
"""...counted only from this many differing titles on (a few retitled films are an update)."""


def placeholder_title(movie_id: int) -> str:
    """The title stored for a film whose catalogue gives none."""
    return f"movie {movie_id}"


def check_same_catalogue(stored: dict[int, str], titles: Iterable[tuple[int, str]], what: str) -> None:
    """Refuse a catalogue whose movie ids name other films than the database's.

    More than ``OTHER_CATALOGUE_SHARE`` of the shared ids (and at least
    ``OTHER_CATALOGUE_MIN``) with another title means another dataset: ratings
    stored for one film would be read as ratings of another. Placeholder
    titles (``placeholder_title``: no catalogue was given) never count. ml-1m
    and ml-latest-small, which share ids and films, differ in 10.8% of their
    shared titles ("(a.k.a. Se7en)" against "(Se7en)"); ml-100k against
    ml-latest-small in most.

    Raises
    ------
    DataValidationError
        Naming one differing id with both titles.
    """
    shared, retitled = 0, []
    for m, title in titles:
        old = stored.get(m)
        if old is None:
            continue
        shared += 1
        if title != old and placeholder_title(m) not in (title, old):
            retitled.append((m, old, title))
    if len(retitled) >= OTHER_CATALOGUE_MIN and len(retitled) > OTHER_CATALOGUE_SHARE * shared:
        m, old, title = retitled[0]
        raise DataValidationError(
            f"{what} belongs to another dataset: {len(retitled)} of the {shared} movie ids it shares with the "
            f"ratings database name other films (e.g. {m}: {old!r} stored, {title!r} here), so stored ratings "
            "would count for the wrong films; use a database of its own (--db)"
        )


def sync_movies(engine: Engine, movies: pl.DataFrame) -> int:
    """Write catalogue films missing from the ``movies`` table, and update changed titles, years, genres.

    A catalogue of another dataset (``check_same_catalogue``) is refused and
    nothing is written.

    Parameters
    ----------
    movies : polars.DataFrame
        The catalogue (movie_id integer, title, year, genres list).

    Returns
    -------
    int
        Number of rows inserted or updated (0 when the table already matches).

    Raises
    ------
    DataValidationError
        If the catalogue's movie ids are not integers, or it is another dataset's.
    """
    if movies.height and not movies["movie_id"].dtype.is_integer():
        raise DataValidationError("the ratings database stores integer movie ids; this catalogue has string ids")
    rows: list[dict[str, Any]] = [
        {
            "movie_id": int(m),
            "title": unicodedata.normalize("NFC", t or placeholder_title(m)),
            "year": y,
            "genres": "|".join(g or []),
        }  # fmt: skip
        for m, t, y, g in movies.select("movie_id", "title", "year", "genres").iter_rows()
    ]
    with Session(engine) as s, s.begin():
        have = {r[0]: tuple(r[1:]) for r in s.execute(select(Movie.movie_id, Movie.title, Movie.year, Movie.genres))}
        new = [r for r in rows if r["movie_id"] not in have]
        changed = [
            r for r in rows if r["movie_id"] in have and have[r["movie_id"]] != (r["title"], r["year"], r["genres"])
        ]
        check_same_catalogue(
            {m: str(v[0]) for m, v in have.items()},
            ((r["movie_id"], r["title"]) for r in rows),
            "this model's catalogue",
        )
        if new:  # executemany; DO NOTHING keeps two starting workers from colliding
            ins = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
            s.execute(ins(Movie).on_conflict_do_nothing(index_elements=["movie_id"]), new)
        if changed:
            s.execute(update(Movie), changed)
    return len(new) + len(changed)


def now() -> int:
    """Current UTC time in epoch seconds."""
    return int(time.time())


def ensure_user(session: Session, engine: Engine, user_id: int) -> None:
    """Create the user row if missing (inside the caller's transaction)."""
    _insert(engine, User, [{"user_id": user_id, "created_at": now()}], ["user_id"], session)


def upsert_rating(engine: Engine, user_id: int, movie_id: int, rating: float) -> Rating:
    """Store one rating (insert or replace) and commit before returning.

    Returns
    -------
    Rating
        The stored row (detached).

    Raises
    ------
    UnknownIdError
        Never: the caller checks the film exists; a missing film raises IntegrityError.
    """
    t = now()
    with Session(engine, expire_on_commit=False) as s, s.begin():
        ensure_user(s, engine, user_id)
        row = {"user_id": user_id, "movie_id": movie_id, "rating": float(rating), "created_at": t, "updated_at": t}
        _insert(engine, Rating, [row], ["user_id", "movie_id"], s, update=("rating", "updated_at"))
        stored = s.get(Rating, (user_id, movie_id), populate_existing=True)
    assert stored is not None
    return stored


_USER_EXISTS = select(User.user_id).where(User.user_id == bindparam("user_id"))
_USER_PAIRS = select(Rating.movie_id, Rating.rating).where(Rating.user_id == bindparam("user_id"))
_USERS_PAIRS = select(Rating.user_id, Rating.movie_id, Rating.rating).where(
    Rating.user_id.in_(bindparam("user_ids", expanding=True))
)
"""Hot-path statements built once (building the expression per call cost more than running it)."""


def users_with_tokens(engine: Engine) -> list[int]:
    """Ids of the stored users who hold a token (created by ``POST /v1/users`` or given one by ``issue-token``)."""
    with engine.connect() as c:
        return [int(u) for u in c.execute(select(User.user_id).where(User.token_hash.is_not(None))).scalars()]


def user_exists(engine: Engine, user_id: int) -> bool:
    with engine.connect() as c:
        return c.execute(_USER_EXISTS, {"user_id": user_id}).first() is not None


def user_ratings(engine: Engine, user_id: int) -> list[Rating]:
    """The user's stored ratings, by movie id."""
    with Session(engine, expire_on_commit=False) as s:
        return list(s.scalars(select(Rating).where(Rating.user_id == user_id).order_by(Rating.movie_id)))


def user_rating_pairs(engine: Engine, user_id: int) -> list[tuple[int, float]]:
    """``(movie_id, rating)`` pairs of a user, cheaper than ``user_ratings`` (hot path)."""
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(_USER_PAIRS, {"user_id": user_id})]  # type: ignore[misc]


def rating_pairs_of_users(engine: Engine, user_ids: Iterable[int]) -> dict[int, list[tuple[int, float]]]:
    """``(movie_id, rating)`` pairs of many users in one query per 500 ids; users without ratings are absent."""
    ids = sorted({int(u) for u in user_ids})
    out: dict[int, list[tuple[int, float]]] = {}
    with engine.connect() as c:
        for start in range(0, len(ids), 500):
            for u, m, r in c.execute(_USERS_PAIRS, {"user_ids": ids[start : start + 500]}):
                out.setdefault(int(u), []).append((int(m), float(r)))
    return out


def get_rating(engine: Engine, user_id: int, movie_id: int) -> Rating | None:
    with Session(engine, expire_on_commit=False) as s:
        return s.get(Rating, (user_id, movie_id))


def delete_ratings(engine: Engine, user_id: int, movie_id: int | None = None) -> int:
    """Delete one rating, or all of a user's ratings when ``movie_id`` is None; returns rows deleted."""
    stmt = delete(Rating).where(Rating.user_id == user_id)
    if movie_id is not None:
        stmt = stmt.where(Rating.movie_id == movie_id)
    with Session(engine) as s, s.begin():
        return s.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


class IdsExhaustedError(DatabaseError):
    """No user id is left below the ceiling: a stored or training id already sits at it."""


def create_user(
    engine: Engine, floor: int = 0, ceiling: int | None = None, token: tuple[str, str] | None = None
) -> int:
    """A new user id, larger than every stored one and than ``floor``, at most ``ceiling``.

    ``token`` is ``(token_hash, token_key)`` (``store.tokens.issue``), stored with the new user.

    The id is ``max(stored ids, floor) + 1``, read and written under a lock that orders every writer
    of the ``users`` table (``_lock_users``), so concurrent creators queue for a few milliseconds
    instead of colliding and retrying: no allocation can fail because others ran at the same time.
    When that passes ``ceiling`` (a database from before schema version 2, where a ``PUT`` could
    store any id, may hold one at the top), the smallest free id above ``floor`` is taken instead,
    so one squatted id cannot stop sign-ups.

    Raises
    ------
    IdsExhaustedError
        If no id above ``floor`` and at most ``ceiling`` is free (nothing is written).
    DatabaseError
        If the database cannot be reached, or stays busy past its lock timeout.
    """
    with Session(engine) as s, s.begin():
        _lock_users(s)
        top = s.scalar(select(func.max(User.user_id))) or 0
        uid = max(int(top), int(floor)) + 1
        if ceiling is not None and uid > ceiling:
            uid = _first_free_id(s, int(floor))
        if ceiling is not None and uid > ceiling:
            raise IdsExhaustedError(
                f"no user id is left: every id from {int(floor) + 1} (above the served model's training users) "
                f"to {ceiling} is stored; remove users from the database's users table"
            )
        token_hash, key = token or (None, None)
        s.add(User(user_id=uid, created_at=now(), token_hash=token_hash, token_key=key))
    return uid


def _first_free_id(s: Session, floor: int) -> int:
    """The smallest user id above ``floor`` not in the users table (one indexed query for the first gap)."""
    if s.get(User, floor + 1) is None:
        return floor + 1
    after = aliased(User)
    gap = select(func.min(User.user_id + 1)).where(
        User.user_id > floor, ~select(after.user_id).where(after.user_id == User.user_id + 1).exists()
    )
    found = s.scalar(gap)  # never None: floor + 1 is stored, and the largest stored id has no successor
    return floor + 1 if found is None else int(found)


_USER_TOKEN = select(User.token_hash, User.token_key).where(User.user_id == bindparam("user_id"))
_KEY_OWNERS = select(User.user_id, User.token_hash).where(User.token_key == bindparam("key"))


def user_token(engine: Engine, user_id: int) -> tuple[bool, str | None, str | None]:
    """``(stored, token_hash, token_key)`` of a user: whether the users table has them, and their token's forms."""
    with engine.connect() as c:
        row = c.execute(_USER_TOKEN, {"user_id": user_id}).first()
    return (False, None, None) if row is None else (True, row[0], row[1])


def token_owners(engine: Engine, key: str) -> list[tuple[int, str]]:
    """``(user_id, token_hash)`` of the users whose token has the lookup key ``key`` (``store.tokens.token_key``)."""
    with engine.connect() as c:
        return [(int(u), str(h)) for u, h in c.execute(_KEY_OWNERS, {"key": key}) if h]


def set_token(engine: Engine, user_id: int, token: tuple[str, str]) -> None:
    """Replace a stored user's token with ``(token_hash, token_key)``; the old token stops working.

    Raises
    ------
    UnknownIdError
        If the user is not in the users table.
    DatabaseError
        If the database holds no movierec tables (a new or empty database).
    """
    require_tables(engine, "no user to issue a token to")
    with Session(engine) as s, s.begin():
        done = s.execute(
            update(User).where(User.user_id == user_id).values(token_hash=token[0], token_key=token[1])
        ).rowcount  # type: ignore[attr-defined]
    if not done:
        raise UnknownIdError(
            f"user {user_id} is not stored in this database; a token is issued to a user created by POST /v1/users "
            "or given ratings before (see `movierec db`)"
        )


def _lock_users(session: Session) -> None:
    """Take the write lock that makes "read max, insert max + 1" atomic, at the start of the transaction.

    PostgreSQL: ``LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`` (conflicts with itself and with every
    INSERT, so another creator or a ``PUT`` adding a user waits; readers do not). SQLite:
    ``BEGIN IMMEDIATE`` (the database's one write lock, waited for up to the busy timeout) before the
    read, so no other writer can slip in between.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def movies_exist(engine: Engine, movie_ids: Iterable[int]) -> set[int]:
    """The subset of ``movie_ids`` present in the ``movies`` table."""
    ids = list({int(m) for m in movie_ids})
    if not ids:
        return set()
    with engine.connect() as c:
        return {int(r[0]) for r in c.execute(select(Movie.movie_id).where(Movie.movie_id.in_(ids)))}


def count_ratings(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.scalar(select(func.count()).select_from(Rating)) or 0)


def ratings_after(engine: Engine, after: int) -> tuple[int, list[tuple[int, int, float]]]:
    """``(n_after, rows_at)``: how many ratings have ``updated_at`` above ``after`` (UTC epoch seconds), and the
    ``(user_id, movie_id, rating)`` rows with exactly ``after``.

    Raises
    ------
    DatabaseError
        If the database cannot be read (unreachable, or no ``ratings`` table).
    """
    with _reading(engine) as c:
        n_after = c.scalar(select(func.count()).select_from(Rating).where(Rating.updated_at > after))
        rows = c.execute(select(Rating.user_id, Rating.movie_id, Rating.rating).where(Rating.updated_at == after))
        at = [(int(u), int(m), float(r)) for u, m, r in rows]
    return int(n_after or 0), at


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads; an unreachable database or a missing table becomes one ``DatabaseError``."""
    try:
        with engine.connect() as c:
            yield c
    except OperationalError as exc:
        raise DatabaseError(f"database {engine.url!r} is not readable: {exc.orig}") from exc


def ratings_frame(engine: Engine) -> pl.DataFrame:
    """Every stored rating: ``user_id``, ``movie_id`` (Int64), ``rating`` (Float32), ``timestamp`` (Int64, updated_at).

    Raises
    ------
    DatabaseError
        If the database cannot be read (unreachable, or no ``ratings`` table).
    """
    with _reading(engine) as c:
        rows = c.execute(select(Rating.user_id, Rating.movie_id, Rating.rating, Rating.updated_at)).all()
    return pl.DataFrame(
        rows,
        schema={"user_id": pl.Int64, "movie_id": pl.Int64, "rating": pl.Float32, "timestamp": pl.Int64},
        orient="row",
    )


def with_db_ratings(dataset: Dataset, engine: Engine, extra: pl.DataFrame | None = None) -> Dataset:
    """The base dataset plus every rating in the database.

    Where the database and the dataset both rate a (user, movie) pair, the
    database's rating wins (it is the user's latest word). User ids are shared:
    a database user with a training user's id extends that user's history.

    Parameters
    ----------
    extra : polars.DataFrame, optional
        The database's ratings as ``ratings_frame`` read them, for a caller that must know exactly
        which rows it trained on (``movierec retrain`` records their high-water mark); default: read now.

    Raises
    ------
    DataValidationError
        If the dataset's ids are not integers (the database stores integers).
    """
    extra = ratings_frame(engine) if extra is None else extra
    if extra.is_empty():
        return dataset
    base = dataset.ratings.select("user_id", "movie_id", "rating", "timestamp")
    if not (base["user_id"].dtype.is_integer() and base["movie_id"].dtype.is_integer()):
        raise DataValidationError(
            f"{dataset.name}: string ids cannot be merged with the ratings database (integer ids)"
        )
    with engine.connect() as c:
        stored = dict(c.execute(select(Movie.movie_id, Movie.title)).all())
    titles = ((int(m), t or placeholder_title(m)) for m, t in dataset.movies.select("movie_id", "title").iter_rows())
    check_same_catalogue(stored, titles, f"the training data {dataset.name}")
    base = base.with_columns(pl.col("user_id").cast(pl.Int64), pl.col("movie_id").cast(pl.Int64))
    merged = pl.concat([base, extra]).unique(["user_id", "movie_id"], keep="last", maintain_order=True)
    return Dataset.from_frames(merged, dataset.movies, dataset.scale, name=f"{dataset.name}+db")
