"""``movierec recommend``: top-k for your own ratings from a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from movierec.cli.common import console, friendly, out, print_json, recommendations_table, say
from movierec.data.profile import read_user_ratings
from movierec.errors import DataValidationError, UnknownIdError
from movierec.ranking import recommend as recommend_films
from movierec.ranking.scoring import resolve_policy
from movierec.store import load, read_meta
from movierec.store.registry import model_folder


@friendly
def recommend(
    model_dir: Annotated[
        Path,
        typer.Option("--model", help="Model folder written by `movierec train`, or a registry (its current version)"),
    ],
    ratings: Annotated[Path | None, typer.Option(help="CSV with movieId,rating rows: your ratings, folded in")] = None,
    user: Annotated[str | None, typer.Option(help="A training user's id instead of --ratings")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of films")] = 10,
    min_ratings: Annotated[
        int | None,
        typer.Option(
            help="Popularity guard: only films with at least this many training ratings (default: the model's)"
        ),
    ] = None,
    genre: Annotated[str | None, typer.Option(help="Only films of this genre")] = None,
    rank_by: Annotated[
        str | None,
        typer.Option(
            help="score, rating (the predicted-rating list) or confidence (taste + η·ln(1 + n_i)); "
            "default: the model's (als: confidence)"
        ),
    ] = None,
    confidence_weight: Annotated[
        float | None,
        typer.Option(
            help="η of --rank-by confidence, stars per e-fold of training ratings "
            "(default: the model's; als: ALSConfig.confidence_weight)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Recommend films for your ratings (fold-in, no retraining) or for a training user.

    With neither --ratings nor --user, prints the model's non-personalised list (cold start).
    """
    if ratings is not None and user is not None:
        raise DataValidationError("recommend: give --ratings or --user, not both")
    if k < 1:  # as recommend-all and evaluate
        raise DataValidationError(f"recommend: --k must be >= 1, got {k}")
    if min_ratings is not None and min_ratings < 0:
        raise DataValidationError(f"recommend: --min-ratings must be >= 0, got {min_ratings}")
    model_dir = model_folder(model_dir)  # a registry means its current version
    model = load(model_dir)
    policy = resolve_policy(model, min_ratings, rank_by, confidence_weight)
    if confidence_weight is not None and policy.rank_by != "confidence":
        raise DataValidationError(
            f"recommend: --confidence-weight applies to the confidence ranking, not --rank-by {policy.rank_by}; "
            "add --rank-by confidence or drop --confidence-weight"
        )
    meta = read_meta(model_dir)
    pairs = read_user_ratings(ratings, model.scale_) if ratings is not None else None
    user_id: Any = user  # text; the model's id map matches "42" to user 42 when its ids are integers
    if user is not None and model.users_.get(user) < 0:
        raise UnknownIdError(
            f"recommend: user {user!r} is not in the model's training data; use --ratings for a new user"
        )
    if pairs:
        unknown = [m for m, _ in pairs if m not in model.items_]
        if len(unknown) == len(pairs):
            raise UnknownIdError(
                f"recommend: none of the {len(pairs)} films in {ratings} is known to the model (e.g. {unknown[0]!r})"
            )
        if unknown:
            say("note", f"ignored {len(unknown)} film(s) the model does not know: {unknown[:10]}")
    if pairs is None and user is None:
        console.print("note: no --ratings or --user: the non-personalised list (cold start)", highlight=False)
        user_id = None
    recs = recommend_films(model, user_id, ratings=pairs, k=k, min_ratings=policy.min_ratings, genre=genre,
                           rank_by=policy.rank_by, confidence_weight=policy.confidence_weight)  # fmt: skip
    if recs.note:
        console.print(f"note: {recs.note}", highlight=False, markup=False)
    info = {k_: meta.get(k_) for k_ in ("model", "created_at", "data_fingerprint", "config", "policy")}
    if as_json:
        print_json(
            {
                "recommendations": [r.to_dict() for r in recs],
                "rank_by": str(policy.rank_by),
                "note": recs.note,
                "model": info,
            }
        )
    else:
        out.print(recommendations_table(f"top {k} from the {meta['model']} model in {model_dir}", recs))
