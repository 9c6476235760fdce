"""``movierec db``: create the ratings database's tables, upgrade an older schema, issue user tokens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import friendly, out, print_json
from movierec.errors import require_extra

app = typer.Typer(help="The ratings database (SQLite file or PostgreSQL).", no_args_is_help=True, rich_markup_mode=None)


@app.command("init")
@friendly
def init(
    db: Annotated[str, typer.Option("--db", help="Database URL, e.g. sqlite:///movierec.db")] = "sqlite:///movierec.db",
    registry: Annotated[
        Path | None, typer.Option(help="Also load the current model's catalogue into the movies table")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create missing tables (idempotent); refuses a database of another schema version."""
    require_extra("database", "movierec db init")
    from movierec.store import db as store_db
    from movierec.store.registry import Registry

    engine = store_db.make_engine(db)
    store_db.init_db(engine)
    n_movies = 0
    if registry is not None:
        _, model = Registry(registry).load()
        n_movies = store_db.sync_movies(engine, model.movies_)
    summary = {
        "db": engine.url.render_as_string(hide_password=True),
        "schema_version": store_db.SCHEMA_VERSION,
        "movies_synced": n_movies,
        "ratings": store_db.count_ratings(engine),
    }
    engine.dispose()
    if as_json:
        print_json(summary)
    else:
        out.print(
            f"database ready: {summary['db']} (schema {summary['schema_version']}, {summary['ratings']:,} ratings"
            + (f", {n_movies:,} films synced" if registry else "")
            + ")"
        )


@app.command("upgrade")
@friendly
def upgrade(
    db: Annotated[str, typer.Option("--db", help="Database URL, e.g. sqlite:///movierec.db")] = "sqlite:///movierec.db",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Upgrade the database's schema in place to this movierec's version (idempotent).

    Version 1 -> 2 adds user tokens: users stored before get none (only the admin token acts for
    them until `movierec db issue-token` gives one).
    """
    require_extra("database", "movierec db upgrade")
    from movierec.store import db as store_db

    engine = store_db.make_engine(db, existing=True)
    try:
        found, now = store_db.upgrade(engine)
    finally:
        engine.dispose()
    summary = {"db": engine.url.render_as_string(hide_password=True), "from_version": found, "schema_version": now}
    if as_json:
        print_json(summary)
    elif found == now:
        out.print(f"database already at schema {now}: {summary['db']}")
    else:
        was = "a new database" if found is None else f"schema {found}"
        out.print(f"database upgraded from {was} to schema {now}: {summary['db']}")


@app.command("issue-token")
@friendly
def issue_token(
    user: Annotated[int, typer.Option("--user", help="A user stored in the database", min=1, max=2**53 - 1)],
    db: Annotated[str, typer.Option("--db", help="Database URL, e.g. sqlite:///movierec.db")] = "sqlite:///movierec.db",
) -> None:
    """Print a fresh token for a stored user (shown once), replacing their old one, which stops working."""
    require_extra("database", "movierec db issue-token")
    from movierec.store import db as store_db
    from movierec.store import tokens

    engine = store_db.make_engine(db, existing=True)
    try:
        store_db.ping(engine)
        token, token_hash, key = tokens.issue()
        store_db.set_token(engine, user, (token_hash, key))
    finally:
        engine.dispose()
    sys.stdout.write(token + "\n")  # the token alone, for scripts
