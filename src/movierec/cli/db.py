"""``movierec db``: create the ratings database's tables, and count what it holds."""

from __future__ import annotations

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
