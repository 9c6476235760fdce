"""``movierec data``: fetch official datasets, generate synthetic ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import friendly, out, progress
from movierec.data.home import data_home, fetch
from movierec.data.synth import default_shape, synthetic_ratings
from movierec.errors import DataValidationError

app = typer.Typer(
    help="Datasets: fetch the official GroupLens archives, generate synthetic sets.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("fetch")
@friendly
def fetch_cmd(
    name: Annotated[str, typer.Argument(help="ml-latest-small, ml-latest, ml-100k, ml-1m, ml-10m, ml-25m, ml-32m")],
    url: Annotated[str | None, typer.Option(help="Download from this URL instead of GroupLens")] = None,
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 of the zip")] = None,
    force: Annotated[bool, typer.Option(help="Download again even if present")] = False,
) -> None:
    """Download and extract an official MovieLens zip into the data home (atomically)."""
    if (data_home() / name).exists() and not force:
        out.print(f"{name} is already in {data_home() / name}")
        return
    with progress(f"downloading {name}", None) as advance:
        last = [0]

        def cb(done: int, total: int) -> None:
            advance(done - last[0], info=f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else ""))
            last[0] = done

        path = fetch(name, url=url, sha256=sha256, progress=cb, force=force)
    out.print(f"{name} is in {path}")


@app.command("home")
def home_cmd() -> None:
    """Print the data home folder ($MOVIEREC_DATA_HOME)."""
    out.print(str(data_home()))


@app.command("synth")
@friendly
def synth_cmd(
    n_ratings: Annotated[int, typer.Option(help="Number of ratings")],
    out_file: Annotated[Path, typer.Option("--out", help="ratings.csv to write (MovieLens layout)")],
    n_users: Annotated[int | None, typer.Option(help="Users (default: ML-25M shape)")] = None,
    n_items: Annotated[int | None, typer.Option(help="Films (default: ML-25M shape)")] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
) -> None:
    """Write a seeded synthetic ratings.csv with power-law activity and popularity; exactly --n-ratings ratings."""
    shape = default_shape(n_ratings)
    users, items = n_users or shape[0], n_items or shape[1]
    if users * items < n_ratings:
        raise DataValidationError(
            f"data synth: {users:,} users x {items:,} films allow at most {users * items:,} distinct ratings, "
            f"fewer than the {n_ratings:,} asked for; raise --n-users and --n-items (or leave them out)"
        )
    df = synthetic_ratings(n_ratings, n_users, n_items, seed=seed)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    df.rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(out_file)
    out.print(
        f"wrote {df.height:,} ratings ({df['user_id'].n_unique():,} users, "
        f"{df['movie_id'].n_unique():,} films) to {out_file}"
    )
    if df.height < n_ratings:  # the last distinct pairs were too rare to draw (a nearly full matrix)
        out.print(
            f"note: {n_ratings:,} were asked for, but these users and films allow too few distinct pairs at this "
            "activity and popularity; raise --n-users and --n-items",
            style="yellow",
        )
