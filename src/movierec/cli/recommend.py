"""``movierec recommend``: top-k for your own ratings from a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from movierec.cli.common import friendly, out, print_json, recommendations_table
from movierec.data.profile import read_user_ratings
from movierec.ranking import recommend as recommend_films
from movierec.store import load, read_meta


@friendly
def recommend(
    model_dir: Annotated[Path, typer.Option("--model", help="Model folder written by `movierec train`")],
    ratings: Annotated[Path | None, typer.Option(help="CSV with movieId,rating rows: your ratings, folded in")] = None,
    user: Annotated[str | None, typer.Option(help="A training user's id instead of --ratings")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of films")] = 10,
    min_ratings: Annotated[int | None, typer.Option(help="Popularity guard: only films with at least this many training ratings (default: the model's)")] = None,
    genre: Annotated[str | None, typer.Option(help="Only films of this genre")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Recommend films for your ratings (fold-in, no retraining) or for a training user."""
    model = load(model_dir)
    meta = read_meta(model_dir)
    pairs = read_user_ratings(ratings) if ratings is not None else None
    user_id: Any = user
    if user is not None and model.users_.is_integer and user.lstrip("-").isdigit():
        user_id = int(user)
    recs = recommend_films(model, user_id, ratings=pairs, k=k, min_ratings=min_ratings, genre=genre)
    info = {k_: meta[k_] for k_ in ("model", "created_at", "data_fingerprint", "config")}
    if as_json:
        print_json({"recommendations": [r.to_dict() for r in recs], "model": info})
    else:
        out.print(recommendations_table(f"top {k} ({meta['model']}, {model_dir})", recs))
